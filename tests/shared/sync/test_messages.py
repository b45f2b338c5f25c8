"""Every wire message's contract, as properties: what one side writes the other reads back
equal, in each schema version; an integer SQLite cannot hold is refused wherever it is."""

from __future__ import annotations

import inspect
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import MessageError
from shared.sync import messages
from shared.sync.messages import (
    COMMAND_KINDS,
    INT64_MAX,
    Ack,
    AgentStatus,
    BatchHeader,
    Command,
    CommandResult,
    FeedHealth,
    Message,
    TableBacklog,
)
from shared.sync.tables import TABLES

AGENTS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
EPOCHS = st.text("0123456789abcdef", min_size=32, max_size=32)
TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
NS = st.integers(0, INT64_MAX)
IDS = st.integers(1, INT64_MAX)
TABLE_NAMES = st.sampled_from(sorted(TABLES))


@st.composite
def headers(draw: st.DrawFn) -> BatchHeader:
    first = draw(IDS)
    last = draw(st.integers(first, INT64_MAX))
    table = draw(TABLE_NAMES)
    v2 = draw(st.booleans())
    return BatchHeader(
        schema_version=2 if v2 else 1, agent_id=draw(AGENTS), table=table,
        columns=TABLES[table].columns, first_id=first, last_id=last, rows=draw(IDS),
        created_ns=draw(NS), sent_ns=draw(NS), attempt=draw(IDS),
        epoch=draw(EPOCHS) if v2 else None,
        table_last_id=draw(st.integers(last, INT64_MAX)) if v2 else None,
    )


@st.composite
def acks(draw: st.DrawFn) -> Ack:
    v2 = draw(st.booleans())
    outcomes = ["committed", "rejected", "conflict"] if v2 else ["committed", "rejected"]
    return Ack(
        schema_version=2 if v2 else 1, agent_id=draw(AGENTS), table=draw(TABLE_NAMES),
        first_id=draw(NS), last_id=draw(NS), outcome=draw(st.sampled_from(outcomes)),
        reason=draw(TEXT), rows_new=draw(NS), ts_ns=draw(NS),
        epoch=draw(st.none() | EPOCHS) if v2 else None,
        rows_conflict=draw(NS) if v2 else 0,
    )


BACKLOGS = st.builds(TableBacklog, last_id=NS, acked_id=NS, rows=NS, oldest_ns=st.none() | NS)
FEEDS = st.builds(FeedHealth, exchange=TEXT, symbol=TEXT, synced=st.booleans(),
                  last_update_ns=NS)
STATUSES = st.builds(
    AgentStatus, schema_version=st.sampled_from([1, 2]), agent_id=AGENTS,
    state=st.sampled_from(["online", "offline"]), ts_ns=NS, epoch=st.none() | EPOCHS,
    agent_version=TEXT, model_version=st.none() | TEXT, feature_spec=st.none() | TEXT,
    trading_paused=st.booleans(), backlog=st.dictionaries(TABLE_NAMES, BACKLOGS, max_size=3),
    dropped_rows=NS, feeds=st.lists(FEEDS, max_size=3).map(tuple),
    connected_since_ns=st.none() | NS,
)
COMMANDS = st.builds(
    Command, agent_id=AGENTS,
    command_id=st.text(st.characters(codec="utf-8"), min_size=1, max_size=64),
    kind=st.sampled_from(COMMAND_KINDS), args=st.dictionaries(TEXT, TEXT, max_size=3),
    issued_ns=NS, expires_ns=st.none() | NS,
)
RESULTS = st.builds(
    CommandResult, agent_id=AGENTS,
    command_id=st.text(st.characters(codec="utf-8"), max_size=64),
    kind=st.text(st.characters(codec="utf-8"), max_size=64),
    outcome=st.sampled_from(["done", "refused", "failed", "expired"]), detail=TEXT,
    ts_ns=NS,
)
STRATEGIES: dict[type[Message], st.SearchStrategy[Any]] = {
    BatchHeader: headers(), Ack: acks(), AgentStatus: STATUSES, Command: COMMANDS,
    CommandResult: RESULTS,
}


def test_every_wire_message_has_a_round_trip_property() -> None:
    """Tried: every Message subclass in shared.sync.messages. Kept: each has a strategy
    here, so a new message cannot go on the wire untested."""
    found = {obj for _, obj in inspect.getmembers(messages, inspect.isclass)
             if issubclass(obj, Message) and obj is not Message}

    assert found == set(STRATEGIES)


@pytest.mark.parametrize("kind", list(STRATEGIES), ids=lambda k: k.__name__)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_message_round_trips_through_its_bytes(kind: type[Message], data: st.DataObject) -> None:
    """Tried: any valid message of each kind, schema versions 1 and 2, text of any
    script, 64-bit extremes. Kept: the bytes read back to an equal message."""
    message = data.draw(STRATEGIES[kind])

    assert kind.from_bytes(message.to_bytes()) == message


def int_paths(value: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """The path of every integer (not bool) in a JSON document."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in int_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in int_paths(v, (*path, i))]
    return [path] if type(value) is int and path[-1] != "schema_version" else []


def set_at(document: Any, path: tuple[str | int, ...], value: int) -> None:
    for part in path[:-1]:
        document = document[part]
    document[path[-1]] = value


@pytest.mark.parametrize("kind", list(STRATEGIES), ids=lambda k: k.__name__)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_an_integer_past_64_bits_anywhere_in_a_message_is_refused_naming_its_field(
    kind: type[Message], data: st.DataObject
) -> None:
    """Tried: a valid message of each kind with one of its integers (nested ones too)
    set to a value in 2^63..2^64-1, which JSON and pydantic take and SQLite cannot hold.
    Kept: MessageError naming that field and the range."""
    document = data.draw(STRATEGIES[kind]).model_dump(mode="json")
    path = data.draw(st.sampled_from(int_paths(document)))
    set_at(document, path, data.draw(st.integers(INT64_MAX + 1, 2**64 - 1)))

    with pytest.raises(MessageError) as refused:
        kind.from_bytes(orjson.dumps(document))

    assert f"{path[-1]} is " in str(refused.value)
    assert "outside SQLite's 64-bit integers" in str(refused.value)
