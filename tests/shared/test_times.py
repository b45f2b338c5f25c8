"""One time parser and one ``--from/--to`` type for every command."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from shared.cli_options import TIME, TIME_END, config_option
from shared.times import end_of_day_ns, parse_time_ns

DAY_NS = 86_400 * 1_000_000_000
MARCH_1 = 1_677_628_800_000_000_000  # 2023-03-01 00:00 UTC


@click.command()
@click.option("--from", "start", type=TIME, required=True)
@click.option("--to", "end", type=TIME_END, required=True)
def window(start: int, end: int) -> None:
    click.echo(f"{start} {end}")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2023-03-01", "2023-03-01", (MARCH_1, MARCH_1 + DAY_NS - 1)),
        ("2023-03-01T00:00Z", "2023-03-01T06:00", (MARCH_1, MARCH_1 + DAY_NS // 4)),
        ("1677628800000", "2023-03-01T01:00:00+01:00", (MARCH_1, MARCH_1)),
    ],
)
def test_from_and_to_read_dates_times_and_epochs_alike(
    start: str, end: str, expected: tuple[int, int]
) -> None:
    result = CliRunner().invoke(window, ["--from", start, "--to", end])

    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(n) for n in expected]


def test_a_bare_date_to_means_the_whole_day_and_a_time_means_itself() -> None:
    assert end_of_day_ns("2023-03-01") == MARCH_1 + DAY_NS - 1
    assert TIME_END.convert("2023-03-01T00:00", None, None) == MARCH_1
    assert TIME.convert("2023-03-01", None, None) == MARCH_1


def test_an_unreadable_time_is_a_usage_error_naming_the_option_and_the_forms() -> None:
    result = CliRunner().invoke(window, ["--from", "yesterday", "--to", "2023-03-01"])

    assert result.exit_code == 2
    assert "--from" in result.output
    assert "'yesterday' is not a date or time" in result.output
    assert "epoch ms" in result.output


def test_parse_time_ns_names_the_text_it_could_not_read() -> None:
    with pytest.raises(ValueError, match="not a time: '2023-13-45'"):
        parse_time_ns("2023-13-45")


def test_the_config_option_defaults_to_the_roles_file() -> None:
    @click.command()
    @config_option("hub")
    def show(config_file: object) -> None:
        click.echo(str(config_file))

    assert CliRunner().invoke(show, []).output.strip() == "hub.yaml"
    assert CliRunner().invoke(show, ["-c", "x.yaml"]).output.strip() == "x.yaml"
    assert "config/hub.example.yaml" in CliRunner().invoke(show, ["--help"]).output
