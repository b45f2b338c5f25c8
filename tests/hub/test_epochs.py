"""Each agent database is a series of its own at the hub, and no row is silently lost.

The hub keys rows on (agent, epoch, local id), the epoch being the agent database's
(edge migration 0006). Before, it keyed on (agent, local id) with ``INSERT OR IGNORE``
and acknowledged every batch "committed": a database that started its ids again had
every new row dropped, and a batch with ids ahead of the agent's real ones hid them
when they came. These tests try both, through the real store and a real broker.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ConfigDict

from hub.fleet import fleet_status
from hub.ingest.service import IngestService
from hub.store.records import ValidBatch
from hub.store.schema import MIGRATIONS
from hub.store.store import HubStore
from shared.config.hub import IngestConfig
from shared.migrations import apply_migrations
from shared.sync.codec import encode_batch
from shared.sync.digest import rows_digest
from shared.sync.messages import TableBacklog
from shared.sync.tables import LEGACY_EPOCH, TABLES
from tests.hub.agent_client import EPOCH, TestAgent, header_for, trade_rows

OTHER = "fedcba9876543210" * 2
"""A second database's epoch (the SD card replaced)."""


def rows_of(first_id: int, count: int, venue: str = "kraken") -> list[list[Any]]:
    """Trades rows; ``venue`` tells two databases' rows with the same ids apart."""
    rows = trade_rows(first_id, count)
    for row in rows:
        row[1] = venue
    return rows


def batch(rows: list[list[Any]], epoch: str | None = EPOCH, **header: Any) -> ValidBatch:
    if epoch is None:
        header |= {"schema_version": 1, "epoch": None, "table_last_id": None}
    else:
        header.setdefault("epoch", epoch)
    return ValidBatch(header_for("pi-1", rows, **header), rows, 100, time.time_ns())


# --- the store ------------------------------------------------------------------------


def test_a_database_that_starts_its_ids_again_is_a_new_series_not_dropped(
    tmp_path: Path,
) -> None:
    """Tried: ids 1-10 from one database, then ids 1-10 with other content from a new one
    (another epoch). Kept: all ten new rows stored (they were dropped, unlogged), both
    series whole, each database's digest its own, both epochs recorded in order."""
    with HubStore(tmp_path / "hub.db") as store:
        first = store.commit_batches([batch(rows_of(1, 10))])
        second = store.commit_batches([batch(rows_of(1, 10, "kraken-2"), OTHER)])

        assert (first[0].rows_new, first[0].new_epoch) == (10, True)
        assert (second[0].rows_new, second[0].conflicts, second[0].new_epoch) == (10, (), True)
        assert store.count("trades", "pi-1") == 20
        assert store.table_digest("trades", "pi-1", EPOCH) == rows_digest(rows_of(1, 10))
        assert store.table_digest("trades", "pi-1", OTHER) == rows_digest(
            rows_of(1, 10, "kraken-2")
        )
        assert [e.epoch for e in store.epochs("pi-1")] == [EPOCH, OTHER]


def test_a_row_sent_again_with_other_content_is_a_conflict_kept_beside_the_first(
    tmp_path: Path,
) -> None:
    """Tried: ids 1-10, then a batch 6-15 of the same epoch whose 6-10 differ, sent twice.
    Kept: 11-15 stored; 6-10 reported as conflicts both times; the stored 6-10 unchanged;
    the second version of each kept once in row_conflicts with the batch it came in."""
    changed = rows_of(6, 10)
    for row in changed[:5]:
        row[4] = "1.00"
    with HubStore(tmp_path / "hub.db") as store:
        store.commit_batches([batch(rows_of(1, 10))])

        once = store.commit_batches([batch(changed, attempt=1)])[0]
        twice = store.commit_batches([batch(changed, attempt=2)])[0]

        assert (once.rows_new, once.conflicts) == (5, (6, 7, 8, 9, 10))
        assert (twice.rows_new, twice.conflicts) == (0, (6, 7, 8, 9, 10))
        assert store.table_digest("trades", "pi-1") == rows_digest(
            [*rows_of(1, 10), *changed[5:]]
        )
        kept = sorted(store.conflicts(agent_id="pi-1"), key=lambda c: c.local_id)
        assert [c.local_id for c in kept] == [6, 7, 8, 9, 10]
        assert kept[0].row == changed[0] and kept[0].epoch == EPOCH
        assert (kept[0].batch_first_id, kept[0].batch_last_id, kept[0].attempt) == (6, 15, 1)
        assert store.conflict_counts() == {"pi-1": 5}


def test_an_existing_store_keeps_every_row_under_the_legacy_epoch(tmp_path: Path) -> None:
    """Tried: a store as released before epochs (migrations up to synced_*_v1) with an
    agent's rows and batch log, opened by this version. Kept: every row, byte for byte
    (same digest), now under the 'legacy' epoch; the agent's legacy epoch first and last
    seen from its batch log; a schema 1 batch of the same rows adds nothing."""
    path = tmp_path / "hub.db"
    released = MIGRATIONS[: [name for name, _ in MIGRATIONS].index("hub_0002_epochs")]
    conn = sqlite3.connect(path, isolation_level=None)
    apply_migrations(conn, released)
    rows = rows_of(1, 20)
    columns = ", ".join(TABLES["trades"].data_columns)
    conn.executemany(
        f"INSERT INTO trades (agent_id, local_id, {columns}) VALUES ({', '.join('?' * 11)})",
        [("pi-1", *row) for row in rows],
    )
    conn.execute(
        "INSERT INTO ingest_batches (agent_id, table_name, first_id, last_id, rows, rows_new, "
        "attempt, payload_bytes, sent_ns, received_ns, committed_ns) "
        "VALUES ('pi-1', 'trades', 1, 20, 20, 20, 1, 0, 5, 7, 8)"
    )
    conn.close()

    with HubStore(path) as store:
        digest = store.table_digest("trades", "pi-1", LEGACY_EPOCH)
        again = store.commit_batches([batch(rows, epoch=None)])[0]
        [legacy] = store.epochs("pi-1")

    assert digest == rows_digest(rows)
    assert (legacy.epoch, legacy.first_seen_ns) == (LEGACY_EPOCH, 7)
    assert (again.rows_new, again.conflicts) == (0, ())


def test_rows_synced_before_the_database_had_an_epoch_are_not_stored_twice(
    tmp_path: Path,
) -> None:
    """Tried: rows 1-10 synced by the agent before its upgrade (legacy), then, after the
    upgrade gave its database an epoch, a re-send of 6-15 (6-10 were in flight). Kept:
    only 11-15 stored under the epoch: the agent's series holds each row once."""
    with HubStore(tmp_path / "hub.db") as store:
        store.commit_batches([batch(rows_of(1, 10), epoch=None)])

        done = store.commit_batches([batch(rows_of(6, 10))])[0]

        assert (done.rows_new, done.conflicts) == (5, ())
        assert store.table_digest("trades", "pi-1") == rows_digest(rows_of(1, 15))


# --- ingest, over a real broker -----------------------------------------------------------


def test_an_agent_with_a_new_database_has_its_rows_stored_and_shown_as_a_second_epoch(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tried: pi-1 syncs ids 1-50, then its SD card is replaced: the same agent id comes
    back with a new database (another epoch) and ids 1-30 again. Kept: the second batch
    acknowledged with its 30 rows new (it was acknowledged with 0 and dropped), every row
    of both stored, a warning naming both epochs, and `hub agents` showing the agent with
    two epochs, the current one from its status."""
    old = make_agent("pi-1")
    old.send(encode_batch(header_for("pi-1", rows_of(1, 50)), rows_of(1, 50)))
    old.wait_acks(1)
    old.close()
    new = make_agent("pi-1", epoch=OTHER)
    new.status("online", backlog={"trades": TableBacklog(last_id=30, acked_id=0, rows=30)})
    data = rows_of(1, 30, "kraken-new")

    with caplog.at_level(logging.INFO, logger="hub.ingest.writer"):
        new.send(encode_batch(header_for("pi-1", data, epoch=OTHER), data))
        [ack] = new.wait_acks(1)

    assert (ack.outcome, ack.rows_new) == ("committed", 30)
    assert ack.epoch == OTHER
    assert store.count("trades", "pi-1", EPOCH) == 50
    assert store.table_digest("trades", "pi-1", OTHER) == rows_digest(data)
    assert any(f"a new database (epoch {OTHER}; before: {EPOCH})" in r.getMessage()
               for r in caplog.records)
    [view] = fleet_status(store, IngestConfig(), now_ns=time.time_ns())
    assert view.epoch == OTHER and [e.epoch for e in view.epochs] == [EPOCH, OTHER]
    assert [(t.table, t.hub_last_id, t.lag_rows) for t in view.tables] == [("trades", 30, 0)]


def test_a_conflicting_batch_is_answered_conflict_kept_alerted_and_counted(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tried: ids 1-20, then a batch 11-30 whose 11-20 differ (a restored copy of the
    database, say). Kept: the answer 'conflict' (it was 'committed' with the rows
    dropped), with 10 rows new and 10 conflicting; the stored 11-20 unchanged, 21-30
    stored, the second versions in the hub's conflicts; an error logged; the fleet's
    count of conflicts 10."""
    agent = make_agent("pi-1")
    agent.send(encode_batch(header_for("pi-1", rows_of(1, 20)), rows_of(1, 20)))
    changed = rows_of(11, 20)
    for row in changed[:10]:
        row[5] = "9.99999"

    with caplog.at_level(logging.ERROR, logger="hub.ingest.writer"):
        agent.send(encode_batch(header_for("pi-1", changed), changed))
        _, ack = agent.wait_acks(2)

    assert (ack.outcome, ack.rows_new) == ("conflict", 10)
    assert ack.rows_conflict == 10
    assert "10 row(s) differ" in ack.reason and "ids 11, 12, 13, 14, 15 and 5 more" in ack.reason
    assert store.table_digest("trades", "pi-1") == rows_digest([*rows_of(1, 20), *changed[10:]])
    assert sorted(c.local_id for c in store.conflicts()) == list(range(11, 21))
    assert any(r.levelno == logging.ERROR and "conflict: pi-1/trades 11-30" in r.getMessage()
               for r in caplog.records)
    [view] = fleet_status(store, IngestConfig(), now_ns=time.time_ns())
    assert view.conflicts == 10


def test_a_batch_ahead_of_what_the_database_had_written_is_refused_and_the_real_rows_kept(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: the agent's status says its trades reach id 100; a well-formed batch of ids
    500-510 built before that status arrives (a copy of the database that ran ahead),
    then one whose ids run past the newest id its own header gives, then — once a status
    says 510 — the database's real rows 500-510. Kept: the first two rejected and
    dead-lettered with the reason (they were stored, and the real rows then silently
    dropped), nothing of them stored; the real rows committed with their own content."""
    agent = make_agent("pi-1")
    built = time.time_ns()
    agent.status("online", backlog={"trades": TableBacklog(last_id=100, acked_id=0, rows=100)})
    ahead = rows_of(500, 11, "elsewhere")
    agent.send(encode_batch(header_for("pi-1", ahead, created_ns=built), ahead))
    agent.send(encode_batch(header_for("pi-1", ahead, table_last_id=505), ahead))
    first, second = agent.wait_acks(2)

    agent.status("online", backlog={"trades": TableBacklog(last_id=510, acked_id=0, rows=510)})
    real = rows_of(500, 11)
    agent.send(encode_batch(header_for("pi-1", real), real))
    third = agent.wait_acks(3)[2]

    assert first.outcome == second.outcome == "rejected"
    assert "ids run ahead of the agent's database" in first.reason
    assert "the agent's status of" in first.reason and "says 100 is the newest" in first.reason
    assert "the header says the table's newest id was 505" in second.reason
    assert len(store.dead_letters()) == 2
    assert (third.outcome, third.rows_new) == ("committed", 11)
    assert store.table_digest("trades", "pi-1") == rows_digest(real)


class _AckV1(BaseModel):
    """The Ack of schema 1, as agents not upgraded yet parse it: closed, two outcomes."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: int
    agent_id: str
    table: str
    first_id: int
    last_id: int
    outcome: str
    reason: str
    rows_new: int
    ts_ns: int


def test_an_agent_not_upgraded_yet_is_stored_as_legacy_and_answered_in_schema_1(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: a schema 1 batch (no epoch) of ids 1-10, then a schema 1 batch whose 6-10
    differ. Kept: the rows stored under 'legacy'; both acks in schema 1's shape (no epoch
    nor conflict fields, which its closed model would refuse): 'committed', then
    'rejected' for the conflict (schema 1 has no 'conflict'; the agent keeps and
    retries it, loudly), the stored rows unchanged."""
    agent = make_agent("pi-1", epoch=None)
    v1 = {"schema_version": 1, "epoch": None, "table_last_id": None}
    changed = rows_of(6, 5, "other")
    agent.send(encode_batch(header_for("pi-1", rows_of(1, 10), **v1), rows_of(1, 10)))
    agent.send(encode_batch(header_for("pi-1", changed, **v1), changed))
    agent.wait_acks(2)

    committed, conflict = (_AckV1.model_validate(orjson.loads(raw)) for raw in agent.raw_acks)
    assert (committed.schema_version, committed.outcome, committed.rows_new) == (1, "committed", 10)
    assert (conflict.outcome, "5 row(s) differ" in conflict.reason) == ("rejected", True)
    assert store.table_digest("trades", "pi-1", LEGACY_EPOCH) == rows_digest(rows_of(1, 10))
