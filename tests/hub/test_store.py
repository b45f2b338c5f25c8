"""The hub store on a real SQLite file: migrations, exactly-once commits, the digest."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from hub.store.db import connect
from hub.store.dead_letters import KEEP_BYTES
from hub.store.records import ValidBatch
from hub.store.schema import MIGRATIONS
from hub.store.store import HubStore
from shared.errors import OperationalError
from shared.migrations import applied_migrations
from shared.sync.messages import AgentStatus, Command, CommandResult, TableBacklog
from shared.sync.tables import TABLES
from tests.hub.agent_client import header_for, trade_rows


def batch(agent_id: str, first_id: int, count: int) -> ValidBatch:
    rows = trade_rows(first_id, count)
    return ValidBatch(header_for(agent_id, rows), rows, 1234, time.time_ns())


def test_a_new_store_is_wal_full_sync_with_every_migration_recorded(tmp_path: Path) -> None:
    """Tried: opening a fresh store, then opening it again. Kept: WAL, synchronous=FULL on
    the writer, every named migration recorded once, a table per synced table."""
    with HubStore(tmp_path / "hub.db") as store:
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with HubStore(tmp_path / "hub.db") as again:
        names = applied_migrations(again._conn)

    assert names == [name for name, _ in MIGRATIONS]
    assert {f"synced_{t}_v1" for t in TABLES} <= set(names)


def test_a_synced_table_that_drifted_from_the_contract_is_refused(tmp_path: Path) -> None:
    """Tried: a store whose trades table lost a column. Kept: OperationalError naming the
    table and asking for a migration; the store is not opened."""
    HubStore(tmp_path / "hub.db").close()
    conn = connect(tmp_path / "hub.db")
    conn.execute("ALTER TABLE trades DROP COLUMN source")
    conn.close()

    with pytest.raises(OperationalError, match=r"table trades has columns .* add a migration"):
        HubStore(tmp_path / "hub.db")


def test_commit_batches_counts_new_rows_per_batch_in_one_transaction(tmp_path: Path) -> None:
    """Tried: three batches in one call (two overlapping, one from another agent). Kept:
    rows_new 10, 5, 10; one ingest_batches row per batch with both timestamps."""
    with HubStore(tmp_path / "hub.db") as store:
        done = store.commit_batches([batch("a", 1, 10), batch("a", 6, 10), batch("b", 1, 10)])
        conn = sqlite3.connect(store.path)
        logged = conn.execute(
            "SELECT agent_id, first_id, last_id, rows, rows_new, received_ns <= committed_ns "
            "FROM ingest_batches ORDER BY id"
        ).fetchall()

    assert [d.rows_new for d in done] == [10, 5, 10]
    assert [d.conflicts for d in done] == [(), (), ()]
    assert logged == [("a", 1, 10, 10, 10, 1), ("a", 6, 15, 10, 5, 1), ("b", 1, 10, 10, 10, 1)]


def test_a_failed_commit_stores_nothing_of_the_group(tmp_path: Path) -> None:
    """Tried: a group whose second batch goes to a table someone dropped behind the
    store's back. Kept: sqlite3.Error, nothing of the first batch either (one
    transaction), and the store still takes the next group."""
    drop = [[1, "raw_messages", 1, 9, 9, "disk budget", 5]]
    drops = ValidBatch(
        header_for("a", drop, table="sync_drops", columns=TABLES["sync_drops"].columns),
        drop, 99, 5,
    )
    with HubStore(tmp_path / "hub.db") as store:
        other = connect(store.path)
        other.execute("DROP TABLE sync_drops")
        other.close()

        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            store.commit_batches([batch("a", 1, 5), drops])

        assert store.count("trades", "a") == 0
        assert store.commit_batches([batch("a", 1, 5)])[0].rows_new == 5


def test_the_digest_is_sha256_over_orjson_lines_of_local_id_and_data_columns(
    tmp_path: Path,
) -> None:
    """Tried: rows 1-20 committed out of order (11-20 first). Kept: (20, sha256 of
    orjson([local_id, *data]) + newline per row in local-id order), the documented
    definition the edge side computes from `SELECT id, ... ORDER BY id`."""
    rows = trade_rows(1, 20)
    expected = hashlib.sha256(b"".join(orjson.dumps(r) + b"\n" for r in rows)).hexdigest()
    with HubStore(tmp_path / "hub.db") as store:
        store.commit_batches([batch("a", 11, 10)])
        store.commit_batches([batch("a", 1, 10)])

        assert store.table_digest("trades", "a") == (20, expected)
        assert store.table_digest("trades", "nobody") == (0, hashlib.sha256().hexdigest())


def test_a_dead_letter_keeps_the_first_64_kib_and_the_full_size(tmp_path: Path) -> None:
    """Tried: a 100 KiB refused payload. Kept: its first 64 KiB, its size and reason."""
    payload = bytes(range(256)) * 400
    with HubStore(tmp_path / "hub.db") as store:
        store.add_dead_letter(agent_id="a", topic="t", reason="why", payload=payload,
                              received_ns=5)
        [letter] = store.dead_letters()

    assert letter.payload == payload[:KEEP_BYTES]
    assert (letter.payload_bytes, letter.reason, letter.agent_id) == (len(payload), "why", "a")


def test_statuses_are_kept_in_arrival_order_and_a_retained_one_does_not_mean_now(
    tmp_path: Path,
) -> None:
    """Tried: an online status received live at t=100 s, then a last will whose ts_ns is
    older (set at connect). Kept: state offline (arrival order wins); last seen moved to
    the live receive time, not back to the will's own older time; the online status's
    details (backlog, books, versions), which the will does not carry, still shown."""
    backlog = {"trades": TableBacklog(last_id=9, acked_id=7, rows=2, oldest_ns=80)}
    with HubStore(tmp_path / "hub.db") as store:
        online = AgentStatus(agent_id="a", state="online", ts_ns=90, agent_version="0.1.0",
                             backlog=backlog)
        will = AgentStatus(agent_id="a", state="offline", ts_ns=10)
        store.record_status(online, received_ns=100, retained=False)
        store.record_status(will, received_ns=200, retained=True)
        [record] = store.agents()

    assert (record.state, record.last_seen_ns) == ("offline", 100)
    assert record.status == online.model_copy(update={"state": "offline"})
    assert record.status.backlog == backlog and record.status.agent_version == "0.1.0"


def test_commands_and_results_are_recorded_idempotently(tmp_path: Path) -> None:
    """Tried: a command, its result recorded twice (ingest and CLI), and a result from
    another agent claiming the same id. Kept: one row, the owner's outcome."""
    command = Command(agent_id="a", command_id="c1", kind="resync", args={"symbol": "X"},
                      issued_ns=1)
    done = CommandResult(agent_id="a", command_id="c1", kind="resync", outcome="done", ts_ns=2)
    impostor = done.model_copy(update={"agent_id": "b", "outcome": "failed"})
    with HubStore(tmp_path / "hub.db") as store:
        store.record_command(command)
        store.record_command_result(done, received_ns=3)
        store.record_command_result(done, received_ns=4)
        store.record_command_result(impostor, received_ns=5)
        record = store.command("c1")

    assert record is not None
    assert (record.agent_id, record.args, record.outcome, record.answered_ns) == (
        "a", {"symbol": "X"}, "done", 2)


def test_a_read_only_store_reads_one_agent_and_its_rows_and_refuses_writes(
    tmp_path: Path,
) -> None:
    """Tried: a read-only store beside the writer (as the demo watches a running hub):
    before the store exists, then after trades of agent a and a status of a. Kept: no
    store, OperationalError (nothing created); then a's record and its rows per synced
    table, None for an agent never heard from; a write refused, nothing stored."""
    path = tmp_path / "hub.db"
    with pytest.raises(OperationalError, match="no hub store here"):
        HubStore(path, readonly=True)
    assert not path.exists()
    with HubStore(path) as writer:
        writer.commit_batches([batch("a", 1, 7)])
        writer.record_status(AgentStatus(agent_id="a", state="online", ts_ns=5),
                             received_ns=6, retained=False)

        with HubStore(path, readonly=True) as reader:
            record = reader.agent("a")
            counts = reader.row_counts("a")
            nobody = reader.agent("nobody")
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                reader.commit_batches([batch("a", 8, 1)])

        assert writer.count("trades", "a") == 7

    assert record is not None and record.state == "online" and nobody is None
    assert counts == {name: 7 if name == "trades" else 0 for name in TABLES}
