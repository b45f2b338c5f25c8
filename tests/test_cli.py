"""The ``tickerml`` command tree: every command answers ``--help``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shared.cli import UnavailableCommand, cli
from shared.cli_docs import CommandDoc, walk

TICKERML = Path(sys.executable).parent / "tickerml"
COMMANDS = list(walk())


def test_the_tree_has_the_roles_and_their_commands() -> None:
    paths = {doc.path for doc in COMMANDS}

    assert {"tickerml edge", "tickerml hub", "tickerml edge check-config"} <= paths


@pytest.mark.parametrize("doc", COMMANDS, ids=[doc.path for doc in COMMANDS])
def test_help_of_every_command_exits_0(doc: CommandDoc) -> None:
    args = [*doc.path.split()[1:], "--help"]

    result = CliRunner().invoke(cli, args, prog_name="tickerml")

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {doc.path}")


@pytest.mark.parametrize("doc", COMMANDS, ids=[doc.path for doc in COMMANDS])
def test_every_command_has_a_summary(doc: CommandDoc) -> None:
    assert doc.summary, f"{doc.path}: add a docstring; it is the command's --help text"


def test_no_installed_command_is_a_stand_in() -> None:
    unavailable = [doc.path for doc in COMMANDS if isinstance(doc.command, UnavailableCommand)]

    # A stand-in means an entry point in pyproject.toml names code that is not there,
    # or an extra is not installed (the test environment installs them all).
    assert unavailable == [], f"these commands cannot load: {unavailable}"


@pytest.mark.slow
def test_the_installed_script_runs() -> None:
    version = subprocess.run(
        [str(TICKERML), "--version"], capture_output=True, text=True, check=False
    )
    helped = subprocess.run([str(TICKERML), "-h"], capture_output=True, text=True, check=False)

    assert version.returncode == 0
    assert "tickerml, version" in version.stdout
    assert helped.returncode == 0
    assert "paper trading" in helped.stdout


def test_edge_collect_is_an_alias_of_edge_run_and_says_so(tmp_path: Path) -> None:
    """Tried: `edge collect` beside `edge run`, and run on a missing config. Kept: the
    same options; its help calls it an alias; it says so on stderr before it runs the
    agent, which fails on the config as `edge run` does."""
    by_path = {doc.path: doc.command for doc in COMMANDS}
    run, alias = by_path["tickerml edge run"], by_path["tickerml edge collect"]
    missing = ["-c", str(tmp_path / "missing.yaml")]

    ran = CliRunner().invoke(cli, ["edge", "run", *missing], prog_name="tickerml")
    aliased = CliRunner().invoke(cli, ["edge", "collect", *missing], prog_name="tickerml")

    assert [p.name for p in alias.params] == [p.name for p in run.params]
    assert "alias of `tickerml edge run`" in (alias.help or "")
    assert aliased.stderr.startswith(
        "note: `tickerml edge collect` is an alias of `tickerml edge run`"
    )
    assert "alias" not in ran.stderr
    assert type(aliased.exception) is type(ran.exception) and ran.exception is not None
    assert str(aliased.exception) == str(ran.exception)
