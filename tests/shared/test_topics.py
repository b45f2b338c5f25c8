"""shared/topics.py is the one place that builds topic strings (STYLE.md, Contracts)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shared import topics
from shared.errors import MessageError

REPO = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("edge", "hub", "shared", "models", "provisioning", "demo", "bench")
TOPICS_MODULE = REPO / "shared" / "topics.py"
_TOPIC_LITERAL = re.compile(re.escape(topics.NAMESPACE.split("/")[0]) + r"/v\d+\b")


def topic_builders(root: Path, packages: tuple[str, ...] = SOURCE_PACKAGES) -> list[str]:
    """``path:line: what`` for each topic string built outside shared/topics.py: a string
    literal (f-strings included) naming the namespace, or any use of ``NAMESPACE``.
    Docstrings may name topics: they build nothing."""
    found: list[tuple[str, int, str]] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if path.resolve() == TOPICS_MODULE or ".venv" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            docstrings = {id(node.value) for node in ast.walk(tree)
                          if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
            where = str(path.relative_to(root))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and id(node) not in docstrings and _TOPIC_LITERAL.search(node.value)):
                    found.append((where, node.lineno, f"literal {node.value!r}"))
                elif isinstance(node, ast.Name) and node.id == "NAMESPACE":
                    found.append((where, node.lineno, "uses NAMESPACE"))
                elif isinstance(node, ast.Attribute) and node.attr == "NAMESPACE":
                    found.append((where, node.lineno, f"uses {ast.unparse(node)}"))
                elif isinstance(node, ast.ImportFrom) and node.module == "shared.topics" and any(
                    alias.name == "NAMESPACE" for alias in node.names
                ):
                    found.append((where, node.lineno, "imports NAMESPACE"))
    return [f"{where}:{line}: {what}" for where, line, what in sorted(found)]


def test_no_topic_string_is_built_outside_shared_topics() -> None:
    """Every package's source, scanned: no namespace literal, no NAMESPACE outside topics.py."""
    assert topic_builders(REPO) == [], "build topics with shared/topics.py functions"


def test_the_scan_names_the_file_and_line_of_a_planted_topic(tmp_path: Path) -> None:
    """Tried: a module that builds two topics by hand, one literal and one f-string on
    the namespace, plus a docstring naming a topic. Kept: both builders, each with its
    file and line; the docstring is not one."""
    planted = tmp_path / "edge" / "sneaky.py"
    planted.parent.mkdir()
    planted.write_text(
        '"""Publishes on tickerml/v1/agent/<id>/status."""\n'
        "from shared.topics import NAMESPACE\n"
        "\n"
        "STATUS = 'tickerml/v1/agent/pi-1/status'\n"
        "def ack(agent: str) -> str:\n"
        "    return f'{NAMESPACE}/hub/{agent}/ack'\n"
    )

    found = topic_builders(tmp_path, ("edge",))

    assert found == [
        "edge/sneaky.py:2: imports NAMESPACE",
        "edge/sneaky.py:4: literal 'tickerml/v1/agent/pi-1/status'",
        "edge/sneaky.py:6: uses NAMESPACE",
    ]


def test_the_scan_also_catches_an_f_string_literal_of_the_namespace(tmp_path: Path) -> None:
    planted = tmp_path / "hub" / "bad.py"
    planted.parent.mkdir()
    planted.write_text("def data(a: str) -> str:\n    return f'tickerml/v1/agent/{a}/data'\n")

    assert topic_builders(tmp_path, ("hub",)) == ["hub/bad.py:2: literal 'tickerml/v1/agent/'"]


@pytest.mark.parametrize(("topic", "expected"), [
    (topics.agent_data("pi-1", "trades"), True),
    (topics.agent_status("data"), False),
    (topics.agent_command_result("pi-1"), False),
    (topics.hub_ack("pi-1"), False),
    (topics.agent_data("pi-1", "trades") + "/extra", False),
    ("other/v1/agent/pi-1/data/trades", False),
])
def test_is_agent_data_tells_data_topics_from_the_rest(topic: str, expected: bool) -> None:
    """An agent named ``data`` does not make its status a data topic."""
    assert topics.is_agent_data(topic) is expected


def test_every_data_topic_the_hub_may_drop_parses_as_data() -> None:
    topic = topics.agent_data("pi-1", "book_snapshots")

    assert topics.is_agent_data(topic)
    assert topics.parse_agent_topic(topic).kind == "data"
    with pytest.raises(MessageError):
        topics.parse_agent_topic("tickerml/v1/agent/pi-1/data")
