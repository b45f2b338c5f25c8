"""One agent's poison message costs only itself: the rest of its group is stored.

Integers past SQLite's signed 64 bits pass JSON and pydantic and made SQLite raise
``OverflowError`` (not a ``sqlite3.Error``) inside the group's transaction: the whole
group, other agents' batches too, rolled back and nothing was dead-lettered. A real
mosquitto and the real ingest; the poison is held in one group with an honest batch by
holding the store's write lock while both arrive.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from hub.ingest.service import IngestService
from hub.store.db import connect
from hub.store.store import HubStore
from shared.sync.codec import MAGIC
from shared.sync.messages import AgentStatus
from tests.hub.agent_client import TestAgent, header_for, trade_batch, trade_rows
from tests.waiting import wait_for

TOO_BIG = 2**64 - 1


def poison_batch(agent_id: str, first_id: int, count: int, *, header: dict[str, Any] | None = None,
                 column: tuple[int, Any] | None = None) -> bytes:
    """A trades batch with ``header`` fields and/or one row value (column index, value)
    overridden, encoded by hand: the models would refuse to build it."""
    rows: list[list[Any]] = trade_rows(first_id, count)
    head = header_for(agent_id, rows).model_dump(mode="json")
    head.update(header or {})
    if column is not None:
        rows[0][column[0]] = column[1]
    head_bytes = orjson.dumps(head)
    return (MAGIC + len(head_bytes).to_bytes(4, "big") + head_bytes
            + zlib.compress(orjson.dumps(rows)))


@contextmanager
def write_lock(store: HubStore) -> Iterator[None]:
    """Hold the store's write lock (another connection's transaction) while inside."""
    blocker = connect(store.path)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def send_poison_between_honest_batches(
    ingest: IngestService, store: HubStore, honest: TestAgent, poisoner: TestAgent,
    poison: bytes,
) -> None:
    """pi-1's rows 1-100; then, in one group, pi-2's ``poison`` and pi-1's rows 101-200."""
    with write_lock(store):
        honest.send(trade_batch("pi-1", 1, 100))
        wait_for(lambda: ingest.stats.messages == 1, 10, "the writer took pi-1's first batch")
        poisoner.send(poison)
        honest.send(trade_batch("pi-1", 101, 100))
        wait_for(lambda: ingest.queued == 2, 10, "the poison and the next batch queued")


POISONS = {
    "row column": ({"column": (7, TOO_BIG)}, "column ts_exchange_ns"),
    "header sent_ns": ({"header": {"sent_ns": TOO_BIG}}, "field sent_ns"),
    "header table_last_id": ({"header": {"table_last_id": 2**63}}, "field table_last_id"),
    "header attempt": ({"header": {"attempt": 2**63}}, "field attempt"),
}


@pytest.mark.parametrize(("poison", "named"), POISONS.values(), ids=POISONS.keys())
def test_a_poison_integer_is_dead_lettered_alone_and_the_honest_agent_keeps_every_row(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent],
    poison: dict[str, Any], named: str,
) -> None:
    """Tried: pi-1 sends rows 1-100; pi-2 a batch with an integer past 2^63 (in a row, or
    in a header field), in one group with pi-1's rows 101-200. Kept: pi-1's 200 rows,
    both batches acknowledged committed; pi-2's batch dead-lettered and rejected with a
    reason naming the column or field; none of its rows."""
    honest, poisoner = make_agent("pi-1"), make_agent("pi-2")

    send_poison_between_honest_batches(
        ingest, store, honest, poisoner, poison_batch("pi-2", 1, 10, **poison)
    )
    committed = honest.wait_acks(2)
    [rejected] = poisoner.wait_acks(1)

    assert [(a.outcome, a.rows_new) for a in committed] == [("committed", 100)] * 2
    assert store.count("trades", "pi-1") == 200
    assert rejected.outcome == "rejected" and named in rejected.reason
    [letter] = store.dead_letters()
    assert letter.agent_id == "pi-2" and named in letter.reason
    assert store.count("trades", "pi-2") == 0


def test_a_status_with_a_poison_integer_is_dead_lettered_and_ingest_goes_on(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: pi-2's retained status with ts_ns past 2^64 (it becomes last_seen_ns), then
    a batch of pi-1's in the same group. Kept: the status dead-lettered naming ts_ns,
    pi-2's record without a status, pi-1's batch committed."""
    honest, poisoner = make_agent("pi-1"), make_agent("pi-2", will=False)
    status = AgentStatus(agent_id="pi-2", state="online", ts_ns=1).model_dump(mode="json")
    status["ts_ns"] = TOO_BIG

    with write_lock(store):
        honest.send(trade_batch("pi-1", 1, 10))
        wait_for(lambda: ingest.stats.messages == 1, 10, "the writer took pi-1's batch")
        poisoner.publish_raw("tickerml/v1/agent/pi-2/status", orjson.dumps(status), retain=True)
        honest.send(trade_batch("pi-1", 11, 10))
        wait_for(lambda: ingest.queued == 2, 10, "the status and the next batch queued")
    acks = honest.wait_acks(2)

    assert [a.outcome for a in acks] == ["committed"] * 2
    [letter] = store.dead_letters()
    assert letter.agent_id == "pi-2" and "field ts_ns" in letter.reason
    record = store.agent("pi-2")
    assert record is not None and record.status is None


def test_a_batch_the_database_refuses_inside_the_group_is_retried_alone_and_dead_lettered(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: a trigger on the hub's trades table that aborts any pi-2 row (a failure no
    check foresaw), pi-2's batch in one group between pi-1's. Kept: the group retried one
    message at a time: pi-1's two batches committed, pi-2's dead-lettered with SQLite's
    reason and rejected."""
    with connect(store.path) as conn:
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON trades WHEN NEW.agent_id = 'pi-2' "
            "BEGIN SELECT RAISE(ABORT, 'pi-2 rows refused by a trigger'); END"
        )
    honest, poisoner = make_agent("pi-1"), make_agent("pi-2")

    send_poison_between_honest_batches(
        ingest, store, honest, poisoner, trade_batch("pi-2", 1, 10)
    )
    committed = honest.wait_acks(2)
    [rejected] = poisoner.wait_acks(1)

    assert [(a.outcome, a.rows_new) for a in committed] == [("committed", 100)] * 2
    assert rejected.outcome == "rejected"
    assert "pi-2 rows refused by a trigger" in rejected.reason
    [letter] = store.dead_letters()
    assert letter.agent_id == "pi-2" and "refused by a trigger" in letter.reason
    assert ingest.stats.commit_failures == 0
