"""Candles of a longer timeframe read from a store: its own where it has them, else
resampled from the 1-minute candles (:mod:`shared.readers`)."""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterator
from decimal import Decimal

from shared.candles import DAY_MS, MINUTE_MS, resample, timeframe_ms, timeframe_name
from shared.marketdata import Candle
from shared.readers.events import candle_events
from shared.readers.sources import count_rows
from shared.trading.backtest import CANDLE, Event


def _stored_timeframe(
    conn: sqlite3.Connection, exchange: str, symbol: str, timeframe: str, first_ms: int,
    last_ms: int,
) -> Iterator[Candle]:
    """An agent database's own candles of ``timeframe`` (``candles_tf``, filled by
    ``tickerml data import``); none from a store without that table (the hub's)."""
    try:
        rows = conn.execute(
            "SELECT open_time_ms, open, high, low, close, volume, trades FROM candles_tf "
            "WHERE exchange = ? AND symbol = ? AND timeframe = ? "
            "AND open_time_ms BETWEEN ? AND ? ORDER BY open_time_ms",
            (exchange, symbol, timeframe, first_ms, last_ms),
        )
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return
        raise
    for open_ms, o, h, low, c, v, n in rows:
        yield Candle(
            exchange, symbol, open_ms, Decimal(o), Decimal(h), Decimal(low), Decimal(c),
            Decimal(v), int(n),
        )


def timeframe_candle_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None, *, timeframe: str = "1m",
) -> Iterator[Event]:
    """Candles of ``timeframe`` (``5m``, ``1h``...) that open within the window, at
    their close time (open + the interval): the last one closes after ``end_ns``
    (see :func:`replay_end_ns`).

    ``1m`` is :func:`candle_events`. A longer one is read from the store's own
    candles of that timeframe where it has them (``candles_tf``, imported from an
    exchange's files), and resampled exactly from the 1-minute candles for every
    other bucket (:func:`shared.candles.resample`: complete buckets only).
    ``ValueError`` for a timeframe that is not one.
    """
    interval_ms = timeframe_ms(timeframe)
    if interval_ms == MINUTE_MS:
        yield from candle_events(conn, exchange, symbol, start_ns, end_ns, agent)
        return
    name = timeframe_name(interval_ms)
    interval_ns = interval_ms * 1_000_000
    first_ms = -(-start_ns // 1_000_000)
    last_ms = end_ns // 1_000_000
    stored = ((c.open_time_ms, 0, c) for c in _stored_timeframe(
        conn, exchange, symbol, name, first_ms, last_ms))
    sources: list[Iterator[tuple[int, int, Candle]]] = [stored]
    if DAY_MS % interval_ms == 0:
        bucket_ms = first_ms + (-first_ms) % interval_ms  # the first bucket opening in it
        last_bucket_ms = last_ms - last_ms % interval_ms
        minutes = (
            candle for _, _, candle in candle_events(
                conn, exchange, symbol, bucket_ms * 1_000_000,
                (last_bucket_ms + interval_ms - MINUTE_MS) * 1_000_000, agent,
            ) if isinstance(candle, Candle)
        )
        sources.append((c.open_time_ms, 1, c) for c in resample(minutes, interval_ms))
    previous = None
    for open_ms, _, candle in heapq.merge(*sources):
        if open_ms == previous:
            continue  # the store's own candle of that bucket stands
        previous = open_ms
        if first_ms <= open_ms <= last_ms:
            yield open_ms * 1_000_000 + interval_ns, CANDLE, candle


def replay_end_ns(end_ns: int, timeframe: str = "1m") -> int:
    """How far a replay of a window ending at ``end_ns`` runs: far enough for every
    candle that opens by then, which is an event at its close, up to one interval
    later. Books and trades are read up to ``end_ns`` only, so nothing else comes in.
    """
    return end_ns + timeframe_ms(timeframe) * 1_000_000


def stored_timeframe_count(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    timeframe: str,
) -> int:
    """How many of the store's own ``timeframe`` candles open in the window."""
    name = timeframe_name(timeframe_ms(timeframe))
    return count_rows(
        conn,
        "SELECT COUNT(*) FROM candles_tf WHERE exchange = ? AND symbol = ? AND timeframe = ? "
        "AND open_time_ms BETWEEN ? AND ?",
        (exchange, symbol, name, start_ns // 1_000_000, end_ns // 1_000_000),
    )
