"""The disk budget and retention never losing unsynced rows silently, on real SQLite files."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

from edge.store.db import connect
from edge.store.retention import prune
from edge.store.writer import StoreWriter
from edge.sync.budget import DiskBudget, used_bytes
from shared.clock import ManualClock
from shared.config.store import RetentionConfig
from shared.config.sync import SyncConfig
from tests.edge.contract import contract_problems
from tests.edge.sync.helpers import new_writer, put_trades

DAY_NS = 86_400 * 1_000_000_000
NOW_NS = 1_700_000_000 * 1_000_000_000
BLOB = "x" * 1_000


def fill(writer: StoreWriter) -> None:
    """2,000 raw messages and 500 snapshots of ~1 KB, 1,000 trades, 50 order events."""
    for i in range(2_000):
        writer.put("raw_messages", ("kraken", "recv", "ws://x", NOW_NS + i * 2, BLOB))
    for i in range(500):
        writer.put("book_snapshots", ("kraken", "BTC/USD", NOW_NS + i * 2 + 1, i, 1.0, 2.0,
                                      BLOB, "[]"))
    put_trades(writer, 0, 1_000)
    for i in range(50):
        writer.put("fills", (i, "mm", "kraken", "BTC/USD", "buy", "1", "1", "0", "taker", i))
    writer.flush()


def count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_drop_oldest_deletes_unsynced_droppable_rows_and_records_every_drop(
    tmp_path: Path,
) -> None:
    """Tried: ~2.6 MB of rows, a 0.5 MiB budget, the first 100 raw messages already sent.
    Kept: under budget afterwards; only raw_messages and book_snapshots rows went, oldest
    first and never the sent ones; each deleted range is a sync_drops row; trades and
    fills intact."""
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    fill(writer)
    config = SyncConfig(disk_budget_mb=0.5, budget_policy="drop_oldest")
    budget = DiskBudget(db, config, ManualClock(NOW_NS), writer, chunk_rows=200)
    conn = connect(db)
    assert used_bytes(conn, db) > 2_000_000

    dropped = budget.enforce({"raw_messages": 100})

    assert used_bytes(conn, db) <= 0.5 * 1024 * 1024
    assert set(dropped) <= {"raw_messages", "book_snapshots"} and sum(dropped.values()) > 0
    assert count(conn, "trades") == 1_000 and count(conn, "fills") == 50
    assert conn.execute("SELECT MIN(id) FROM raw_messages").fetchone()[0] == 1
    assert count(conn, "raw_messages") == 2_000 - dropped.get("raw_messages", 0)
    drops = conn.execute(
        "SELECT table_name, first_id, last_id, rows, reason FROM sync_drops ORDER BY id"
    ).fetchall()
    assert sum(d[3] for d in drops) == sum(dropped.values())
    raw = [d for d in drops if d[0] == "raw_messages"]
    assert raw[0][1] == 101
    assert all(b[1] == a[2] + 1 for a, b in itertools.pairwise(raw))
    assert all("disk budget" in d[4] for d in drops)
    assert contract_problems(db)[1] == []  # the sync_drops rows are what the hub accepts
    kept_snapshots = conn.execute("SELECT MIN(id) FROM book_snapshots").fetchone()[0]
    assert kept_snapshots is None or kept_snapshots == 1 + dropped.get("book_snapshots", 0)
    budget.close()
    writer.close()


def test_keep_deletes_nothing_and_records_each_crossing_once(tmp_path: Path) -> None:
    """Tried: policy keep, over budget three checks in a row, back under, over again.
    Kept: no row deleted; one sync_drops record (0 rows) per crossing, two in all."""
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    fill(writer)
    budget = DiskBudget(db, SyncConfig(disk_budget_mb=0.5, budget_policy="keep"),
                        ManualClock(NOW_NS), writer)

    for _ in range(3):
        assert budget.enforce({}) == {}
    budget.budget_bytes = 1 << 40
    budget.enforce({})
    budget.budget_bytes = 1
    budget.enforce({})
    writer.flush()

    conn = connect(db)
    assert count(conn, "raw_messages") == 2_000
    records = conn.execute("SELECT table_name, rows, reason FROM sync_drops").fetchall()
    assert [(r[0], r[1]) for r in records] == [("*", 0), ("*", 0)]
    assert "policy keep deletes nothing" in records[0][2]
    budget.close()
    writer.close()


def test_retention_never_prunes_rows_the_hub_has_not_acknowledged(tmp_path: Path) -> None:
    """Tried: 100 trades and 100 raw messages 40 days old, trades acknowledged up to id 60,
    raw_messages not synced at all. Kept: trades 61-100 (old but unsynced) stay; raw
    messages all stay; with no sync, age alone decides."""
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    old = NOW_NS - 40 * DAY_NS
    for i in range(100):
        writer.put("trades", ("kraken", "BTC/USD", str(i), "1", "1", "buy", old + i, old + i,
                              "live"))
        writer.put("raw_messages", ("kraken", "recv", "ws://x", old + i, "{}"))
    writer.close()
    conn = connect(db)
    retention = RetentionConfig(trades_days=30, raw_messages_hours=6)

    deleted = prune(conn, retention, NOW_NS, chunk_rows=7,
                    synced_up_to={"trades": 60, "raw_messages": 0})

    assert deleted["trades"] == 60 and deleted["raw_messages"] == 0
    assert conn.execute("SELECT MIN(id), MAX(id) FROM trades").fetchone() == (61, 100)
    assert prune(conn, retention, NOW_NS)["raw_messages"] == 100
