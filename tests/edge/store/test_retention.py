"""Retention against a real SQLite file: old rows go, ids never restart."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from edge.store.db import connect
from edge.store.retention import prune
from edge.store.stats import store_summary
from edge.store.writer import StoreWriter
from shared.config.store import RetentionConfig, StoreConfig
from shared.marketdata import Candle, FeedEvent, FeedEventKind, Trade

DAY_NS = 86_400 * 1_000_000_000
NOW_NS = 1_700_000_000 * 1_000_000_000


def fill(writer: StoreWriter, start: int, count: int, age_days: float) -> None:
    ts = NOW_NS - int(age_days * DAY_NS)
    for i in range(start, start + count):
        for symbol in ("BTC/USDT", "ETH/USDT"):
            writer.put_trade(
                Trade("kraken", symbol, str(i), Decimal(1), Decimal(1), "buy", ts + i, ts + i)
            )
        writer.put_event(FeedEvent("kraken", "", FeedEventKind.CONNECTED, "", ts + i))
        writer.put_raw("kraken", "recv", "ws://x", ts + i, "{}")
    minute_ms = (ts // 1_000_000) - (ts // 1_000_000) % 60_000
    writer.put_candle(
        Candle("kraken", "BTC/USDT", minute_ms, *(Decimal(1),) * 5, 1)
    )


def test_prune_deletes_only_rows_older_than_retention(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    writer = StoreWriter(db, StoreConfig())
    fill(writer, 0, 120, age_days=40)
    fill(writer, 1_000, 30, age_days=1)
    writer.close()
    retention = RetentionConfig(trades_days=30, feed_events_days=30, raw_messages_hours=6)
    conn = connect(db)

    deleted = prune(conn, retention, NOW_NS, chunk_rows=50)

    assert deleted == {
        "trades": 240,
        "candles_1m": 0,
        "book_snapshots": 0,
        "feed_events": 120,
        "raw_messages": 150,
    }
    assert conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 60
    assert conn.execute("SELECT MIN(CAST(trade_id AS INT)) FROM trades").fetchone()[0] == 1_000
    # candles_days = 0 keeps every candle, however old.
    assert conn.execute("SELECT COUNT(*) FROM candles_1m").fetchone()[0] == 2


def test_ids_keep_growing_after_a_prune_that_emptied_the_table(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    writer = StoreWriter(db, StoreConfig())
    fill(writer, 0, 10, age_days=40)
    writer.close()
    conn = connect(db)
    max_before = conn.execute("SELECT MAX(id) FROM trades").fetchone()[0]
    prune(conn, RetentionConfig(), NOW_NS)
    assert conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 0
    conn.close()

    writer = StoreWriter(db, StoreConfig())
    fill(writer, 500, 5, age_days=0)
    writer.close()

    conn = connect(db)
    assert conn.execute("SELECT MIN(id) FROM trades").fetchone()[0] == max_before + 1
    summary = {t["table"]: t for t in store_summary(conn)["tables"]}
    assert summary["trades"]["rows"] == 10
    assert summary["trades"]["max_id_ever"] == max_before + 10
