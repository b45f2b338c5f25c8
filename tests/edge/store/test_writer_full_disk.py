"""The store writer on a real file system that fills up: a tmpfs of a few MiB, a filler
file written until ``ENOSPC``, then deleted (tests/smallfs.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.store.errors import StoreFullError, StoreWriterError
from edge.store.writer import StoreWriter
from shared.config.feeds import BackoffConfig
from shared.config.store import StoreConfig
from shared.marketdata import FeedEventKind
from tests.edge.store.test_writer import make_trade
from tests.smallfs import fill, small_filesystem
from tests.waiting import wait_for

FAST_RETRY = BackoffConfig(initial_s=0.05, max_s=0.2)


@pytest.fixture()
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_filesystem(tmp_path / "small", size_mib=8) as folder:
        yield folder


def full_disk_writer(disk: Path, **store: int) -> StoreWriter:
    config = StoreConfig.model_validate(
        {"commit_interval_s": 0.05, "disk_full_backoff": FAST_RETRY, **store}
    )
    return StoreWriter(disk / "edge.db", config, full_close_grace_s=0.5)


def wait_until_full(writer: StoreWriter) -> None:
    wait_for(lambda: writer.stats().disk_full_since_ns is not None, 10,
             "the writer finds the disk full")


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_full_disk_keeps_the_rows_in_memory_retries_and_commits_them_when_space_returns(
    disk: Path,
) -> None:
    """Tried: 100 trades committed, the file system filled to the last byte, 3,000 more
    trades queued. Before the fix the first failed commit ("database or disk is full")
    stopped the writer for good: every later put raised. Kept: the writer reports the
    disk full (since when, why), raises nothing from put, keeps all 3,000 rows in
    memory and says so from flush (StoreFullError, a TemporaryError); once the filler
    is deleted it commits every row by itself, records the spell as a store_full and a
    store_recovered feed event (0 rows dropped), and closes cleanly."""
    writer = full_disk_writer(disk)
    for i in range(100):
        writer.put_trade(make_trade(i))
    writer.flush(10)
    filler = fill(disk)

    for i in range(100, 3_100):
        writer.put_trade(make_trade(i))
    wait_until_full(writer)
    stats = writer.stats()

    assert writer.failed is None and stats.failed is None
    assert "disk is full" in (stats.disk_full_reason or "")
    assert stats.pending_rows == 3_000 and stats.dropped_rows == 0
    with pytest.raises(StoreFullError, match=r"disk full since .*: 3000 rows wait in memory"):
        writer.flush(5)

    filler.unlink()
    wait_for(lambda: writer.stats().rows_written["trades"] == 3_100, 20, "every trade stored")
    writer.close()

    after = writer.stats()
    assert after.disk_full_since_ns is None and after.disk_full_spells == 1
    assert after.dropped_rows == 0 and after.failed is None
    db = disk / "edge.db"
    assert [r[0] for r in rows(db, "SELECT trade_id FROM trades ORDER BY id")] == [
        str(i) for i in range(3_100)
    ]
    events = rows(db, "SELECT exchange, kind, detail, ts_ns FROM feed_events ORDER BY id")
    kinds = [e[1] for e in events]
    assert kinds == [FeedEventKind.STORE_FULL, FeedEventKind.STORE_RECOVERED]
    full, recovered = events
    assert full[0] == recovered[0] == "*"
    assert "database or disk is full" in str(full[2])
    assert "0 rows dropped" in str(recovered[2])
    assert int(full[3]) == stats.disk_full_since_ns < int(recovered[3])  # type: ignore[call-overload]
    assert rows(db, "SELECT COUNT(*) FROM sync_drops") == [(0,)]


def test_beyond_its_bound_a_full_disk_drops_the_oldest_market_data_and_never_a_ledger_group(
    disk: Path,
) -> None:
    """Tried: a queue bound of 500 rows, the disk filled, a ledger group, 2,000 trades
    and a second ledger group queued while it stays full. Before the fix the writer
    failed on the first commit. Kept: no producer ever waits while the disk is full
    (put returns at once, no backpressure wait), the oldest trades go first and are
    counted per table, both ledger groups stay; once space returns the newest trades
    and both groups are stored, every dropped row is in a sync_drops row (synced, so
    the hub learns of the gap) and in the store_recovered event's detail."""
    writer = full_disk_writer(disk, queue_max_rows=500, commit_max_rows=200)
    writer.flush(10)
    filler = fill(disk)
    writer.put_many([("paper_portfolios", ("first", "USDT", "1000", 1))])
    for i in range(20):
        writer.put_trade(make_trade(i))
    wait_until_full(writer)

    started = time.monotonic()
    for i in range(20, 2_000):
        writer.put_trade(make_trade(i))
    writer.put_many([("paper_portfolios", ("second", "USDT", "2000", 2))])
    queued_in = time.monotonic() - started
    full = writer.stats()

    assert queued_in < 1.0, f"producers waited {queued_in:.1f} s on a full disk"
    assert full.backpressure_waits == 0
    assert full.pending_rows <= 500 + 2
    dropped = full.dropped_by_table["trades"]
    assert dropped >= 1_500 and full.dropped_rows == dropped == full.disk_full_dropped

    filler.unlink()
    wait_for(
        lambda: (s := writer.stats()).disk_full_since_ns is None and s.pending_rows == 0,
        20, "the queue drained after the space came back",
    )
    writer.close()

    db = disk / "edge.db"
    assert rows(db, "SELECT strategy FROM paper_portfolios ORDER BY id") == [
        ("first",), ("second",)
    ]
    stored = [int(str(r[0])) for r in rows(db, "SELECT trade_id FROM trades ORDER BY id")]
    assert len(stored) + dropped == 2_000
    assert stored == list(range(dropped, 2_000)), "not the oldest trades went"
    assert rows(db, "SELECT table_name, rows FROM sync_drops") == [("trades", dropped)]
    (detail,) = rows(db, "SELECT detail FROM feed_events WHERE kind = 'store_recovered'")
    assert f"{dropped} rows dropped (trades {dropped})" in str(detail[0])


def test_closing_on_a_disk_that_stays_full_gives_up_after_its_grace_naming_the_rows_lost(
    disk: Path,
) -> None:
    """Tried: the disk filled, 50 trades and a ledger group queued, then close() with
    the filler still there. Kept: close retries for its grace (0.5 s here), then
    raises a StoreWriterError saying the disk is still full and how many rows (and
    how many of them ledger or other non-market rows) were not stored; it returns,
    it does not hang."""
    writer = full_disk_writer(disk)
    writer.flush(10)
    fill(disk)
    for i in range(50):
        writer.put_trade(make_trade(i))
    writer.put_many([("paper_portfolios", ("kept", "USDT", "1000", 1))])
    wait_until_full(writer)

    started = time.monotonic()
    with pytest.raises(
        StoreWriterError, match=r"disk still full at shutdown: 51 rows were not stored \(1 "
    ):
        writer.close()

    assert time.monotonic() - started < 10
