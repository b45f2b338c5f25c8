"""shared/topics.py is the one place that builds topic strings (STYLE.md, Contracts)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


AGENT_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
TABLE_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(AGENT_IDS, TABLE_NAMES)
def test_every_agent_topic_parses_back_to_what_built_it(agent_id: str, table: str) -> None:
    """Tried: any valid agent id (names like ``data`` or ``status`` too) and table name.
    Kept: parse_agent_topic gives back the agent, the kind and the table of each topic
    the agent publishes on; topic_agent (the hub's cheap look, for the rate limit) names
    the same agent; is_agent_data holds for the data topic only."""
    data = topics.agent_data(agent_id, table)
    status = topics.agent_status(agent_id)
    result = topics.agent_command_result(agent_id)

    assert topics.parse_agent_topic(data) == topics.AgentTopic(agent_id, "data", table)
    assert topics.parse_agent_topic(status) == topics.AgentTopic(agent_id, "status")
    assert topics.parse_agent_topic(result) == topics.AgentTopic(agent_id, "cmd-result")
    assert {topics.topic_agent(t) for t in (data, status, result)} == {agent_id}
    assert [topics.is_agent_data(t) for t in (data, status, result)] == [True, False, False]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
def test_a_bad_agent_id_builds_no_topic_and_names_no_agent(agent_id: str) -> None:
    """Tried: any text as an agent id. Kept: a valid one builds a topic that parses back;
    any other is refused (MessageError), and a topic holding it as one segment names no
    agent."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", agent_id):
        assert topics.parse_agent_topic(topics.agent_status(agent_id)).agent_id == agent_id
        return
    with pytest.raises(MessageError):
        topics.agent_status(agent_id)
    if "/" not in agent_id:
        forged = topics.agent_status("x").replace("/x/", f"/{agent_id}/")
        assert topics.topic_agent(forged) is None
        with pytest.raises(MessageError):
            topics.parse_agent_topic(forged)
