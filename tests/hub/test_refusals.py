"""Malformed input never stops ingest: each refusal is a dead letter with its reason."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable

import orjson
import pytest

from hub.ingest.service import IngestService
from hub.store.store import HubStore
from shared.sync.codec import MAGIC, encode_batch
from shared.sync.messages import AgentStatus
from shared.sync.tables import TABLES
from tests.hub.agent_client import TestAgent, header_for, trade_batch, trade_rows
from tests.hub.conftest import MAX_BATCH, MAX_PAYLOAD


def truncated() -> tuple[str, bytes]:
    return "trades", trade_batch("pi-1", 1, 100)[:-40]


def bad_magic() -> tuple[str, bytes]:
    return "trades", b"XXXX" + trade_batch("pi-1", 1, 100)[len(MAGIC):]


def oversized_payload() -> tuple[str, bytes]:
    return "trades", trade_batch("pi-1", 1, 100) + os.urandom(MAX_PAYLOAD)


def inflates_past_the_limit() -> tuple[str, bytes]:
    rows = trade_rows(1, 2)
    rows[1][9] = "x" * (MAX_BATCH + 1)  # compresses to a few KiB, inflates past the limit
    return "trades", encode_batch(header_for("pi-1", rows), rows, level=9)


def foreign_batch() -> tuple[str, bytes]:
    return "trades", trade_batch("pi-2", 1, 100)


def unknown_table() -> tuple[str, bytes]:
    rows = trade_rows(1, 10)
    return "nosuch", encode_batch(header_for("pi-1", rows, table="nosuch"), rows)


def table_differs_from_topic() -> tuple[str, bytes]:
    return "fills", trade_batch("pi-1", 1, 10)


def wrong_columns() -> tuple[str, bytes]:
    rows = trade_rows(1, 10)
    columns = ("id", "exchange", "symbol", "price")
    return "trades", encode_batch(header_for("pi-1", rows, columns=columns), rows)


def ids_out_of_the_header_range() -> tuple[str, bytes]:
    rows = trade_rows(5, 10)
    return "trades", encode_batch(header_for("pi-1", rows, first_id=1, last_id=10), rows)


def rows_not_json() -> tuple[str, bytes]:
    rows = trade_rows(1, 10)
    head = header_for("pi-1", rows).to_bytes()
    return "trades", MAGIC + len(head).to_bytes(4, "big") + head + zlib.compress(b"[[1, oops")


def wrong_row_count() -> tuple[str, bytes]:
    rows = trade_rows(1, 10)
    return "trades", encode_batch(header_for("pi-1", rows, rows=11), rows)


def nested_values() -> tuple[str, bytes]:
    rows: list[list[object]] = [list(r) for r in trade_rows(1, 3)]
    rows[2][4] = {"price": "1"}
    head = header_for("pi-1", trade_rows(1, 3)).to_bytes()
    body = zlib.compress(orjson.dumps(rows))
    return "trades", MAGIC + len(head).to_bytes(4, "big") + head + body


CASES = [
    (truncated, "truncated", (1, 100)),
    (bad_magic, "not a TickerML batch", (0, 0)),
    (oversized_payload, "exceeds ingest.max_payload_bytes", (1, 100)),
    (inflates_past_the_limit, "inflate past", (1, 2)),
    (foreign_batch, "foreign batch", (1, 100)),
    (unknown_table, "unknown table 'nosuch'", (1, 10)),
    (table_differs_from_topic, "the header names table 'trades', the topic 'fills'", (1, 10)),
    (wrong_columns, "differ from trades's", (1, 10)),
    (ids_out_of_the_header_range, "differ from the header's 1..10", (1, 10)),
    (rows_not_json, "not JSON", (1, 10)),
    (wrong_row_count, "the header says 11", (1, 10)),
    (nested_values, "holds a dict", (1, 3)),
]


@pytest.mark.parametrize(("make", "reason", "ids"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_malformed_batch_is_dead_lettered_rejected_and_ingest_goes_on(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent],
    make: Callable[[], tuple[str, bytes]], reason: str, ids: tuple[int, int],
) -> None:
    """Tried: one malformed batch on pi-1's data topic, then a good one. Kept: a dead
    letter naming pi-1, the topic and the reason (with the payload's size and at most its
    first 64 KiB); a rejected ack to pi-1 with that reason and the header's range when it
    was readable; none of its rows; and the good batch after it committed."""
    agent = make_agent("pi-1")
    table, payload = make()

    agent.send(payload, table=table)
    agent.send(trade_batch("pi-1", 1000, 5))
    rejected, committed = agent.wait_acks(2)

    [letter] = store.dead_letters()
    assert letter.agent_id == "pi-1"
    assert letter.topic == f"tickerml/v1/agent/pi-1/data/{table}"
    assert reason in letter.reason
    assert letter.payload_bytes == len(payload)
    assert letter.payload == payload[: 64 * 1024]
    assert rejected.outcome == "rejected"
    assert reason in rejected.reason
    assert (rejected.first_id, rejected.last_id) == ids
    assert (committed.outcome, committed.first_id, committed.rows_new) == ("committed", 1000, 5)
    assert store.count("trades", "pi-1") == 5
    assert store.dead_letter_counts() == {"pi-1": 1}


def test_a_topic_naming_no_valid_agent_is_dead_lettered_without_an_ack(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: a status on a topic whose agent id has a dot in it, then a good batch.
    Kept: a dead letter with no agent; no ack to anyone; the good batch committed."""
    agent = make_agent("pi-1")

    agent.publish_raw("tickerml/v1/agent/pi.1/status", b"{}")
    agent.send(trade_batch("pi-1", 1, 5))
    [ack] = agent.wait_acks(1)

    [letter] = store.dead_letters()
    assert letter.agent_id is None
    assert "bad agent id 'pi.1'" in letter.reason
    assert ack.outcome == "committed"


def test_a_foreign_or_malformed_status_is_dead_lettered_and_not_recorded(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: on pi-1's status topic, a status naming pi-2, then plain garbage, then a good
    batch. Kept: two dead letters with their reasons, no agent pi-2, no status for pi-1."""
    agent = make_agent("pi-1", will=False)
    foreign = AgentStatus(agent_id="pi-2", state="online", ts_ns=1)

    agent.publish_raw("tickerml/v1/agent/pi-1/status", foreign.to_bytes())
    agent.publish_raw("tickerml/v1/agent/pi-1/cmd-result", b"not json")
    agent.send(trade_batch("pi-1", 1, 5))
    agent.wait_acks(1)

    reasons = [d.reason for d in reversed(store.dead_letters())]
    assert "foreign message: it names agent 'pi-2'" in reasons[0]
    assert "not a valid CommandResult" in reasons[1]
    [record] = store.agents()
    assert (record.agent_id, record.status) == ("pi-1", None)


# The four values the audit got stored: the row with id 3 of five holds each in turn.
WRONG_VALUES = [
    ("exchange", 7, "is 7 (int), not text"),
    ("symbol", None, "is NULL, the column is NOT NULL"),
    ("side", "long", "is 'long', not one of buy, sell"),
    ("ts_recv_ns", "2025-11-22T00:00:00Z", "(str), not an integer"),
]


@pytest.mark.parametrize(("column", "value", "says"), WRONG_VALUES,
                         ids=[c[0] for c in WRONG_VALUES])
def test_a_batch_with_one_wrongly_typed_value_is_refused_naming_table_row_and_column(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent],
    column: str, value: object, says: str,
) -> None:
    """Tried: a well-formed trades batch (ids 1-5) whose row 3 holds, in turn, an integer
    exchange, a NULL symbol, a side that is neither buy nor sell and text in the receive
    timestamp — each was stored before the columns had types — then a good batch. Kept:
    the batch dead-lettered and rejected with a reason naming the table, the row's id
    and the column; none of its five rows stored; the good batch after it committed."""
    agent = make_agent("pi-1")
    rows: list[list[object]] = [list(r) for r in trade_rows(1, 5)]
    rows[2][TABLES["trades"].columns.index(column)] = value

    agent.send(encode_batch(header_for("pi-1", trade_rows(1, 5)), rows))
    agent.send(trade_batch("pi-1", 1000, 5))
    rejected, committed = agent.wait_acks(2)

    expected = f"trades row id 3: column {column} "
    assert rejected.outcome == "rejected" and (rejected.first_id, rejected.last_id) == (1, 5)
    assert expected in rejected.reason and says in rejected.reason
    [letter] = store.dead_letters()
    assert expected in letter.reason
    assert (committed.outcome, committed.first_id) == ("committed", 1000)
    assert store.count("trades", "pi-1") == 5  # the good batch only
