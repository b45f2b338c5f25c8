"""The installed ``tickerml`` script exits with the status docs/cli.md promises, and
every error it prints starts ``error:``.

Each class of exit status is tried through the real script in a real process: 0 for
success, 1 for a command that ran and found problems, 2 for a usage error and 2 for
an operational error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.cli import EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS
from shared.cli_docs import HEADER

TICKERML = Path(sys.executable).parent / "tickerml"
MINUTE_MS = 60_000
T = 1_700_000_040_000  # a minute boundary


def tickerml(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TICKERML), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
        check=False,
    )


def import_args(tmp_path: Path, rows: str, *extra: str) -> list[str]:
    path = tmp_path / "candles.csv"
    path.write_text(rows)
    return ["data", "import", str(path), "--exchange", "binanceus", "--symbol", "BTC/USDT",
            "--db", str(tmp_path / "edge.db"), *extra]


def test_the_documented_classes_are_the_ones_the_code_uses() -> None:
    """Tried: the reference's exit-status paragraph against the constants shared/cli.py
    exits with. Kept: 0, 1 and 2 are each documented with what they mean."""
    assert (EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR) == (0, 1, 2)
    assert "- 0: success." in HEADER
    assert "- 1: the command ran and reports problems" in HEADER
    assert "- 2: it could not run: a usage error" in HEADER and "operational error" in HEADER
    assert "starting `error: `" in HEADER
    assert HEADER in (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()


@pytest.mark.slow
def test_a_clean_import_exits_0(tmp_path: Path) -> None:
    result = tickerml(*import_args(tmp_path, f"{T},1,2,0.5,1.5,10\n"))

    assert result.returncode == 0, result.stderr
    assert "1 candles added, 0 bad rows" in result.stdout


@pytest.mark.slow
def test_an_import_with_a_bad_row_exits_1_as_its_help_says(tmp_path: Path) -> None:
    """Tried: `data import` of one good and one bad row. Kept: exit 1, the good row
    stored and the bad one named (was: exit 0, because the console entry point dropped
    the status click returns with standalone_mode off)."""
    result = tickerml(*import_args(tmp_path, f"{T},1,2,0.5,1.5,10\n{T + MINUTE_MS},1,2,x,1,1\n"))

    assert result.returncode == 1, result.stderr
    assert "1 rows read, 1 candles added, 1 bad rows" in result.stdout
    assert "candles.csv:2: not a number: 'x'" in result.stderr


@pytest.mark.slow
def test_a_strict_import_stopped_by_a_bad_row_exits_1_with_one_error_line(
    tmp_path: Path,
) -> None:
    """Tried: the same file with --strict. Kept: exit 1 (the data had problems, as
    without --strict; was 2, the operational class) and one `error:` line naming the
    row."""
    result = tickerml(*import_args(
        tmp_path, f"{T},1,2,0.5,1.5,10\n{T + MINUTE_MS},1,2,x,1,1\n", "--strict"
    ))

    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "candles.csv:2: not a number: 'x'" in errors[0]
    assert "(stopped: --strict; rows before it are stored)" in errors[0]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message", "usage"), [
    (["edge", "stats", "--bogus"], "error: No such option '--bogus'.",
     "Usage: tickerml edge stats [OPTIONS]"),
    (["edge", "bogus"], "error: No such command 'bogus'.", "Usage: tickerml edge [OPTIONS]"),
    (["edge", "prune", "-c"], "error: Option '-c' requires an argument.",
     "Usage: tickerml edge prune [OPTIONS]"),
    (["backtest", "--strategy", "trend", "--symbol", "S/T", "--exchange", "x", "--from",
      "someday", "--to", "2024-01-02", "--db", "x.db"],
     "error: Invalid value for '--from': 'someday' is not a date or time",
     "Usage: tickerml backtest [OPTIONS]"),
], ids=["unknown-option", "unknown-command", "missing-value", "bad-value"])
def test_a_usage_error_exits_2_with_an_error_line_then_the_usage(
    args: list[str], message: str, usage: str
) -> None:
    """Tried: an unknown option, an unknown command, an option without its value and a
    bad value. Kept: exit 2; the first line starts `error:` like every other error
    (was click's "Usage: ... Error: ..." with the error last), then the usage and the
    help hint."""
    result = tickerml(*args)

    assert result.returncode == 2, result.stderr
    first, second, third, *rest = result.stderr.splitlines()
    assert first.startswith(message), result.stderr
    assert second.startswith(usage), result.stderr
    assert third.startswith("Try 'tickerml ") and third.endswith(" --help' for help.")
    assert rest == []


@pytest.mark.slow
def test_an_operational_error_exits_2_with_one_error_line(tmp_path: Path) -> None:
    """Tried: `edge stats` on a config whose database does not exist. Kept: exit 2, one
    `error:` line naming the file and what to do."""
    config = tmp_path / "edge.yaml"
    config.write_text(yaml.safe_dump({"agent_id": "a", "data_dir": str(tmp_path)}))

    result = tickerml("edge", "stats", "-c", str(config))

    assert result.returncode == 2
    assert result.stderr == (
        f"error: {tmp_path / 'edge.db'}: no database yet (run `tickerml edge run` first)\n"
    )


@pytest.mark.slow
def test_an_os_error_no_command_expected_is_still_one_error_line_naming_the_file(
    tmp_path: Path,
) -> None:
    """Tried: `edge simulate --capture` into a folder that is a regular file, an OSError
    no command turns into a message of its own. Kept: exit 2 and one `error:` line
    naming the path and the system's reason, not a traceback."""
    blocker = tmp_path / "afile"
    blocker.write_text("x")

    result = tickerml("edge", "simulate", "--capture", str(blocker / "x.jsonl"),
                      "--messages", "10")

    assert result.returncode == 2
    assert result.stderr == f"error: {blocker}: File exists\n"
