"""Named migrations of the agent's database, applied in order.

Every table has ``id INTEGER PRIMARY KEY AUTOINCREMENT``: a local id that only
ever grows, never reused even after rows are pruned. The sync to the hub sends
rows after an acknowledged id, so this is a contract, not a detail.
Prices and sizes are stored as exact decimal strings; ``REAL`` columns are
conveniences for queries and are never the source of truth.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_market_data",
        """
        CREATE TABLE trades (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            trade_id TEXT,
            price TEXT NOT NULL,
            size TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            ts_exchange_ns INTEGER NOT NULL,
            ts_recv_ns INTEGER NOT NULL,
            source TEXT NOT NULL DEFAULT 'live'
        );
        CREATE UNIQUE INDEX trades_unique ON trades (exchange, symbol, trade_id);
        CREATE INDEX trades_time ON trades (exchange, symbol, ts_exchange_ns);

        CREATE TABLE candles_1m (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            open_time_ms INTEGER NOT NULL,
            open TEXT NOT NULL,
            high TEXT NOT NULL,
            low TEXT NOT NULL,
            close TEXT NOT NULL,
            volume TEXT NOT NULL,
            trades INTEGER NOT NULL,
            source TEXT NOT NULL DEFAULT 'live'
        );
        CREATE UNIQUE INDEX candles_1m_unique ON candles_1m (exchange, symbol, open_time_ms);

        CREATE TABLE book_snapshots (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            ts_ns INTEGER NOT NULL,
            sequence INTEGER NOT NULL,
            best_bid REAL,
            best_ask REAL,
            bids TEXT NOT NULL,
            asks TEXT NOT NULL
        );
        CREATE INDEX book_snapshots_time ON book_snapshots (exchange, symbol, ts_ns);

        CREATE TABLE feed_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            ts_ns INTEGER NOT NULL
        );
        CREATE INDEX feed_events_time ON feed_events (ts_ns);

        CREATE TABLE raw_messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            kind TEXT NOT NULL,
            url TEXT NOT NULL,
            ts_recv_ns INTEGER NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX raw_messages_time ON raw_messages (ts_recv_ns);
        """,
    ),
]
