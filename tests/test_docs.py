"""The docs cover every command and config field, and claim only what exists.

docs/cli.md and docs/configuration.md are generated: when one of these tests fails
after adding a command or a field, run ``make docs`` and commit the result.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from shared import cli_docs
from shared.cli import UnavailableCommand, cli
from shared.config.docs import ROLES, field_paths
from shared.topics import TOPICS

REPO = Path(__file__).resolve().parent.parent
CLI_MD = REPO / "docs" / "cli.md"
CONFIG_MD = REPO / "docs" / "configuration.md"
SYNC_MD = REPO / "docs" / "sync.md"
COMMANDS = [doc.path for doc in cli_docs.walk()]
FIELDS = sorted({path for _, model, _ in ROLES for path in field_paths(model)})
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# docs/cli.md lists what is installed, stand-ins included; the others must not claim one.
PROSE = [page for page in PAGES if page != CLI_MD]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_cli_reference(command: str) -> None:
    assert f"## `{command}`" in read(CLI_MD), f"{command} is not in docs/cli.md: run make docs"


@pytest.mark.parametrize("field", FIELDS)
def test_every_config_field_is_in_the_configuration_reference(field: str) -> None:
    assert f"`{field}`" in read(CONFIG_MD), (
        f"{field} is not in docs/configuration.md: run make docs"
    )


@pytest.mark.parametrize("module", ["shared.cli_docs", "shared.config.docs"])
def test_the_generated_references_are_up_to_date(module: str) -> None:
    # A fresh interpreter: click caches each command's help option on first use, so
    # a test that ran a group on its own would change how its help renders here.
    result = subprocess.run(
        [sys.executable, "-m", module, "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def _commands_named_in(text: str) -> set[str]:
    """``tickerml a b`` phrases in code spans and blocks (not ``tickerml[edge]``)."""
    code = " ".join(re.findall(r"```.*?```|`[^`\n]+`", text, flags=re.DOTALL))
    return {" ".join(m.split()) for m in re.findall(r"\btickerml(?: +[a-z][a-z0-9-]*)+", code)}


def _resolves(phrase: str) -> bool:
    """Whether ``tickerml a b c`` names a real command (trailing words may be arguments)."""
    command: click.Command = cli
    context = click.Context(cli, info_name="tickerml")
    for word in phrase.split()[1:]:
        if not isinstance(command, click.Group):
            break  # the rest are the command's arguments
        sub = command.get_command(context, word)
        if sub is None:
            return False
        command, context = sub, click.Context(sub, info_name=word, parent=context)
    return not isinstance(command, UnavailableCommand)


@pytest.mark.parametrize("page", PROSE, ids=[p.name for p in PROSE])
def test_the_docs_name_only_commands_that_exist(page: Path) -> None:
    missing = sorted(p for p in _commands_named_in(read(page)) if not _resolves(p))

    assert not missing, f"{page.name} names commands that do not exist (yet): {missing}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_point_at_files_that_exist(page: Path) -> None:
    targets = re.findall(r"\]\((?!https?://|#|mailto:)([^)#\s]+)", read(page))

    broken = [t for t in targets if not (page.parent / t).exists()]

    assert not broken, f"{page.name} links to missing files: {broken}"


def test_the_readme_starts_with_make_demo_then_make_test() -> None:
    commands = re.findall(r"^(make \S+)", read(REPO / "README.md"), flags=re.MULTILINE)

    assert commands[:2] == ["make demo", "make test"]


@pytest.mark.parametrize("topic", [topic for topic, _, _ in TOPICS])
def test_every_mqtt_topic_is_in_the_sync_guide(topic: str) -> None:
    assert f"`{topic}`" in read(SYNC_MD), f"{topic} is not documented in docs/sync.md"
