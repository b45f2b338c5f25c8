"""Batched, idempotent writes of historical rows into the agent's database.

1-minute candles go to ``candles_1m`` (synced to the hub); candles of a longer
timeframe from an imported file go to ``candles_tf`` (kept on the agent).

Each batch is one ``BEGIN IMMEDIATE`` transaction of ``INSERT OR IGNORE``: the
unique indexes on (exchange, symbol, trade_id) and (exchange, symbol,
open_time_ms) make a re-run add nothing, and a row already written by the live
collector is never overwritten by history (the live row keeps its id, which the
sync to the hub has already acknowledged).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Literal

from edge.history.numbers import decimal_text
from shared.marketdata import Candle, Trade

Source = Literal["live", "backfill", "import"]

CandleRow = tuple[str, str, int, str, str, str, str, str, int, str]
TradeRow = tuple[str, str, str, str, str, str, int, int, str]

_INSERT_CANDLES = (
    "INSERT OR IGNORE INTO candles_1m "
    "(exchange, symbol, open_time_ms, open, high, low, close, volume, trades, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_TF_CANDLES = (
    "INSERT OR IGNORE INTO candles_tf "
    "(timeframe, exchange, symbol, open_time_ms, open, high, low, close, volume, trades, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_TRADES = (
    "INSERT OR IGNORE INTO trades "
    "(exchange, symbol, trade_id, price, size, side, ts_exchange_ns, ts_recv_ns, source) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def candle_row(candle: Candle, source: Source) -> CandleRow:
    """A :class:`Candle` as a ``candles_1m`` row (decimals as exact strings)."""
    return (
        candle.exchange, candle.symbol, candle.open_time_ms,
        decimal_text(candle.open), decimal_text(candle.high), decimal_text(candle.low),
        decimal_text(candle.close), decimal_text(candle.volume), candle.trades, source,
    )


def trade_row(trade: Trade, source: Source) -> TradeRow:
    """A :class:`Trade` as a ``trades`` row (decimals as exact strings)."""
    return (
        trade.exchange, trade.symbol, trade.trade_id, decimal_text(trade.price),
        decimal_text(trade.size), trade.side, trade.ts_exchange_ns, trade.ts_recv_ns, source,
    )


def write_rows(
    conn: sqlite3.Connection,
    *,
    candles: Sequence[CandleRow] = (),
    trades: Sequence[TradeRow] = (),
    built_candles: Sequence[CandleRow] = (),
) -> tuple[int, int, int]:
    """Insert all three in one transaction, in that order.

    ``built_candles`` are candles built from trades, kept apart only so the
    counts returned, (candles, trades, built candles) added, tell them apart.
    """
    if not candles and not trades and not built_candles:
        return 0, 0, 0
    counts: list[int] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in (
            (_INSERT_CANDLES, candles), (_INSERT_TRADES, trades), (_INSERT_CANDLES, built_candles)
        ):
            before = conn.total_changes
            if rows:
                conn.executemany(sql, rows)
            counts.append(conn.total_changes - before)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return counts[0], counts[1], counts[2]


def write_timeframe_candles(
    conn: sqlite3.Connection, timeframe: str, candles: Sequence[CandleRow]
) -> int:
    """Insert candles of ``timeframe`` (``5m``, ``1h``...) into ``candles_tf`` in one
    transaction; returns how many were new."""
    if not candles:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        conn.executemany(_INSERT_TF_CANDLES, [(timeframe, *row) for row in candles])
        added = conn.total_changes - before
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return added
