"""The batched store writer against a real SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from edge.store.db import connect
from edge.store.errors import StoreWriterError
from edge.store.writer import StoreWriter
from shared.book import OrderBook
from shared.config.store import StoreConfig
from shared.marketdata import Candle, FeedEvent, FeedEventKind, Trade
from shared.sync.tables import TABLES


def make_trade(i: int, *, symbol: str = "BTC/USDT", trade_id: str | None = None) -> Trade:
    return Trade(
        "binanceus", symbol, trade_id or str(i), Decimal("30000.5") + i, Decimal("1E-8"),
        "buy" if i % 2 else "sell", 1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_001 + i,
    )


def test_many_rows_land_in_few_commits_with_monotonic_ids(tmp_path: Path) -> None:
    config = StoreConfig(commit_interval_s=0.5, commit_max_rows=2_000)
    writer = StoreWriter(tmp_path / "edge.db", config)

    for i in range(10_000):
        writer.put_trade(make_trade(i))
    writer.close()

    stats = writer.stats()
    assert stats.rows_written["trades"] == 10_000
    # 10k rows at 2k a batch: five size-triggered commits, maybe one more for the tail.
    assert 5 <= stats.commits <= 6
    conn = connect(tmp_path / "edge.db")
    rows = conn.execute("SELECT id, trade_id, size FROM trades ORDER BY id").fetchall()
    assert [int(r[1]) for r in rows] == list(range(10_000))
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert rows[0][2] == "0.00000001"


def test_a_trickle_of_rows_commits_at_most_once_per_interval(tmp_path: Path) -> None:
    config = StoreConfig(commit_interval_s=0.3, commit_max_rows=10_000)
    writer = StoreWriter(tmp_path / "edge.db", config)
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            writer.put_trade(make_trade(i))
            i += 1
            stop.wait(0.002)

    thread = threading.Thread(target=produce)
    thread.start()
    stop.wait(1.5)
    stop.set()
    thread.join()
    writer.close()

    stats = writer.stats()
    # 1.5 s at one commit per 0.3 s: about 5 (+1 at close), never one per row.
    assert 3 <= stats.commits <= 8
    assert stats.rows_written["trades"] > 100


def test_duplicate_trades_and_candles_are_ignored_not_errors(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "edge.db", StoreConfig())
    candle = Candle(
        "binanceus", "BTC/USDT", 60_000, Decimal(1), Decimal(2), Decimal("0.5"), Decimal(1),
        Decimal(3), 4,
    )

    for _ in range(3):
        writer.put_trade(make_trade(7))
        writer.put_candle(candle)
    writer.flush()
    writer.put_trade(make_trade(7))
    writer.close()

    stats = writer.stats()
    assert stats.rows_written["trades"] == 1
    assert stats.rows_ignored["trades"] == 3
    assert stats.rows_written["candles_1m"] == 1
    assert stats.rows_ignored["candles_1m"] == 2
    conn = connect(tmp_path / "edge.db")
    assert conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 1


def test_every_row_kind_is_written(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "edge.db", StoreConfig())
    book = OrderBook("binanceus", "BTC/USDT", price_decimals=2, size_decimals=3)
    book.load_snapshot([(100_00, 1_000), (99_50, 2_000)], [(101_00, 500)])
    book.sequence = 42

    writer.put_book_snapshot(book, 123, levels=1)
    writer.put_event(FeedEvent("binanceus", "BTC/USDT", FeedEventKind.GAP, "U 5 != 4", 9))
    writer.put_raw("binanceus", "recv", "ws://x", 10, b'{"a":1}')
    writer.close()

    conn = connect(tmp_path / "edge.db")
    snap = conn.execute(
        "SELECT sequence, best_bid, best_ask, bids, asks FROM book_snapshots"
    ).fetchone()
    assert snap == (42, 100.0, 101.0, '[["100.00","1.000"]]', '[["101.00","0.500"]]')
    assert conn.execute("SELECT kind, detail FROM feed_events").fetchone() == ("gap", "U 5 != 4")
    assert conn.execute("SELECT data FROM raw_messages").fetchone() == ('{"a":1}',)


def test_a_full_queue_applies_backpressure_and_then_counts_drops(tmp_path: Path) -> None:
    config = StoreConfig(commit_interval_s=60, commit_max_rows=1_000, queue_max_rows=10)
    db = tmp_path / "edge.db"
    writer = StoreWriter(db, config, put_timeout_s=0.05)
    # Hold the write lock from another connection so the writer cannot drain.
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        for i in range(10):
            writer.put_trade(make_trade(i))
        for i in range(10, 40):
            writer.put_trade(make_trade(i))
        stats = writer.stats()
        assert stats.backpressure_waits > 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    writer.close()
    final = writer.stats()
    assert final.rows_written["trades"] + final.dropped_rows == 40
    assert final.rows_written["trades"] >= 10


def test_a_failing_insert_is_raised_naming_the_table(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "edge.db", StoreConfig())
    # A NULL detail breaks a NOT NULL constraint: a real SQLite error in the thread.
    writer.put("feed_events", ("x", "A/B", "gap", None, 1))

    with pytest.raises(StoreWriterError, match="feed_events"):
        writer.flush()
    with pytest.raises(StoreWriterError):
        writer.put_trade(make_trade(1))
    with pytest.raises(StoreWriterError):
        writer.close()
    assert "feed_events" in (writer.stats().failed or "")


# -- each put_* row against the contract's column order -----------------------------------


def _book() -> OrderBook:
    book = OrderBook("kraken", "ETH/USD", price_decimals=2, size_decimals=3)
    book.load_snapshot([(100_00, 1_000), (99_50, 2_000)], [(101_00, 500)])
    book.sequence = 42
    return book


PUTS: dict[str, tuple[str, Callable[[StoreWriter], None], dict[str, object]]] = {
    "put_trade": (
        "trades",
        lambda w: w.put_trade(
            Trade("kraken", "ETH/USD", "t7", Decimal("2000.5"), Decimal("0.25"), "sell", 11, 12),
            source="replay",
        ),
        {"exchange": "kraken", "symbol": "ETH/USD", "trade_id": "t7", "price": "2000.5",
         "size": "0.25", "side": "sell", "ts_exchange_ns": 11, "ts_recv_ns": 12,
         "source": "replay"},
    ),
    "put_candle": (
        "candles_1m",
        lambda w: w.put_candle(
            Candle("kraken", "ETH/USD", 60_000, Decimal("1"), Decimal("4"), Decimal("0.5"),
                   Decimal("2"), Decimal("9.75"), 3),
            source="backfill",
        ),
        {"exchange": "kraken", "symbol": "ETH/USD", "open_time_ms": 60_000, "open": "1",
         "high": "4", "low": "0.5", "close": "2", "volume": "9.75", "trades": 3,
         "source": "backfill"},
    ),
    "put_book_snapshot": (
        "book_snapshots",
        lambda w: w.put_book_snapshot(_book(), 123, levels=1),
        {"exchange": "kraken", "symbol": "ETH/USD", "ts_ns": 123, "sequence": 42,
         "best_bid": 100.0, "best_ask": 101.0, "bids": '[["100.00","1.000"]]',
         "asks": '[["101.00","0.500"]]'},
    ),
    "put_event": (
        "feed_events",
        lambda w: w.put_event(FeedEvent("kraken", "ETH/USD", FeedEventKind.GAP, "5 -> 7", 9)),
        {"exchange": "kraken", "symbol": "ETH/USD", "kind": "gap", "detail": "5 -> 7",
         "ts_ns": 9},
    ),
    "put_raw": (
        "raw_messages",
        lambda w: w.put_raw("kraken", "recv", "wss://ws.kraken.com", 10, b'{"a":1}'),
        {"exchange": "kraken", "kind": "recv", "url": "wss://ws.kraken.com", "ts_recv_ns": 10,
         "data": '{"a":1}'},
    ),
}
"""Each ``put_*`` method: its table, a call with a distinct value per column, and the
row it must leave, by column name."""


def test_every_put_method_has_a_row_shape_case() -> None:
    """A new ``put_*`` must say here which column each of its values belongs in."""
    methods = {name for name in vars(StoreWriter) if name.startswith("put_")} - {"put_many"}

    assert methods == set(PUTS)


@pytest.mark.parametrize("method", list(PUTS))
def test_each_put_method_fills_the_contract_columns_in_their_order(
    tmp_path: Path, method: str
) -> None:
    """Tried: one row through ``method``. Kept: every value in the column of its name,
    the contract's data columns (shared/sync/tables.py) and nothing else."""
    table, put, expected = PUTS[method]
    writer = StoreWriter(tmp_path / "edge.db", StoreConfig())

    put(writer)
    writer.close()

    columns = TABLES[table].data_columns
    conn = connect(tmp_path / "edge.db")
    stored = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
    assert tuple(expected) == columns
    assert stored == [tuple(expected.values())]
