"""Read-side summaries of the agent's database, for ``tickerml edge stats``.

Runs on its own read-only connection: WAL lets it read while the collector
writes, and it never takes the write lock.
"""

from __future__ import annotations

import sqlite3
from typing import Any

TABLE_TIME: dict[str, tuple[str, int]] = {
    "trades": ("ts_exchange_ns", 1),
    "candles_1m": ("open_time_ms", 1_000_000),
    "book_snapshots": ("ts_ns", 1),
    "feed_events": ("ts_ns", 1),
    "raw_messages": ("ts_recv_ns", 1),
}
"""Each table's time column and its nanoseconds per unit."""

PER_SYMBOL = ("trades", "candles_1m", "book_snapshots")


def _max_seq(conn: sqlite3.Connection) -> dict[str, int]:
    try:
        return dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    except sqlite3.OperationalError:
        return {}


def store_summary(conn: sqlite3.Connection) -> dict[str, Any]:
    """Row counts, id ranges and last times per table, and per (exchange, symbol).

    ``max_id_ever`` comes from ``sqlite_sequence``: it stays put when old rows
    are pruned, and is what the sync cursor is compared with.
    """
    seqs = _max_seq(conn)
    tables: list[dict[str, Any]] = []
    for table, (column, ns_per_unit) in TABLE_TIME.items():
        rows, min_id, max_id, last = conn.execute(
            f"SELECT COUNT(*), MIN(id), MAX(id), MAX({column}) FROM {table}"
        ).fetchone()
        tables.append(
            {
                "table": table,
                "rows": rows,
                "min_id": min_id,
                "max_id": max_id,
                "max_id_ever": seqs.get(table, 0),
                "last_ns": last * ns_per_unit if last is not None else None,
            }
        )
    symbols: list[dict[str, Any]] = []
    for table in PER_SYMBOL:
        column, ns_per_unit = TABLE_TIME[table]
        for exchange, symbol, rows, last in conn.execute(
            f"SELECT exchange, symbol, COUNT(*), MAX({column}) FROM {table} "
            "GROUP BY exchange, symbol ORDER BY exchange, symbol"
        ):
            symbols.append(
                {
                    "table": table,
                    "exchange": exchange,
                    "symbol": symbol,
                    "rows": rows,
                    "last_ns": last * ns_per_unit if last is not None else None,
                }
            )
    events = [
        {"exchange": exchange, "kind": kind, "count": count}
        for exchange, kind, count in conn.execute(
            "SELECT exchange, kind, COUNT(*) FROM feed_events GROUP BY exchange, kind "
            "ORDER BY exchange, kind"
        )
    ]
    return {"tables": tables, "symbols": symbols, "events": events}
