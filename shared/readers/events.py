"""Events read from a store: raw messages, trades, book snapshots and 1-minute candles
(:mod:`shared.readers`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import orjson

from shared.book import OrderBook, levels_to_ticks
from shared.marketdata import Candle, Trade
from shared.readers.sources import book_agent
from shared.readers.stores import agent_scope
from shared.trading.backtest import BOOK, CANDLE, TRADE, Event, candle_close_ns

RawRecord = tuple[str, int, str, Any]
"""A stored raw message: (kind, ts_recv_ns, url, data), as capture records carry them."""


def _row_key(order: str) -> str:
    """A text unique to one stored row, from its key columns (``order``)."""
    return " || '/' || ".join(order.split(", "))


def raw_records(
    conn: sqlite3.Connection, exchange: str, end_ns: int, agent: str | None = None
) -> Iterator[RawRecord]:
    """Stored raw messages of ``exchange`` up to ``end_ns`` in receive order (one agent's)."""
    agent = book_agent(conn, "raw", exchange, "", 0, end_ns, agent)
    scope, args, order = agent_scope(conn, agent)
    rows = conn.execute(
        "SELECT kind, ts_recv_ns, url, data FROM raw_messages "
        f"WHERE exchange = ? AND ts_recv_ns <= ?{scope} ORDER BY ts_recv_ns, {order}",
        (exchange, end_ns, *args),
    )
    yield from rows


def trade_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None,
) -> Iterator[Event]:
    """Stored trades, timed by the exchange's clock (the indexed column)."""
    scope, args, order = agent_scope(conn, agent)
    columns = "trade_id, price, size, side, ts_exchange_ns, ts_recv_ns"
    window = (
        f"FROM trades WHERE exchange = ? AND symbol = ? AND ts_exchange_ns BETWEEN ? AND ?{scope}"
    )
    if order != "id":
        # Every agent's (and every database's) copy of a trade has its trade id and
        # exchange time: keep one. A trade without an id is only ever its own copy.
        sql = (
            f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY "
            f"coalesce(trade_id, 'row:' || {_row_key(order)}) ORDER BY {order}) AS copy "
            f"{window}) WHERE copy = 1 ORDER BY ts_exchange_ns, {order}"
        )
    else:
        sql = f"SELECT {columns} {window} ORDER BY ts_exchange_ns, {order}"
    for trade_id, price, size, side, ts_exchange, ts_recv in conn.execute(
        sql, (exchange, symbol, start_ns, end_ns, *args)
    ):
        trade = Trade(
            exchange, symbol, str(trade_id), Decimal(price), Decimal(size), side,
            ts_exchange, ts_recv,
        )
        yield ts_exchange, TRADE, trade


def snapshot_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None,
) -> Iterator[Event]:
    """Stored top-N book snapshots (one agent's), each loaded into one book then yielded."""
    agent = book_agent(conn, "snapshots", exchange, symbol, start_ns, end_ns, agent)
    scope, args, order = agent_scope(conn, agent)
    rows = conn.execute(
        "SELECT ts_ns, sequence, bids, asks FROM book_snapshots "
        f"WHERE exchange = ? AND symbol = ? AND ts_ns BETWEEN ? AND ?{scope} "
        f"ORDER BY ts_ns, {order}",
        (exchange, symbol, start_ns, end_ns, *args),
    )
    book: OrderBook | None = None
    for ts, sequence, bids_json, asks_json in rows:
        bids, asks = orjson.loads(bids_json), orjson.loads(asks_json)
        if book is None:
            # Snapshots are written with the book's own fixed decimals: the first
            # one tells them, and every later one has the same.
            book = OrderBook(
                exchange, symbol,
                price_decimals=_decimals(level[0] for level in bids + asks),
                size_decimals=_decimals(level[1] for level in bids + asks),
            )
        book.load_snapshot(
            levels_to_ticks(bids, book.price_decimals, book.size_decimals),
            levels_to_ticks(asks, book.price_decimals, book.size_decimals),
        )
        book.sequence = sequence
        book.ts_recv_ns = book.ts_exchange_ns = ts
        yield ts, BOOK, book


def candle_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None,
) -> Iterator[Event]:
    """Stored 1-minute candles that open within the window, at their close time.

    A window is read as a person reads it: ``--to 2023-03-21`` takes that day's
    23:59 candle, which closes at midnight, after the window's last nanosecond, so
    a replay runs on to :func:`~shared.readers.timeframes.replay_end_ns` to
    handle it.
    """
    scope, args, order = agent_scope(conn, agent)
    first_ms = -(-start_ns // 1_000_000)
    last_ms = end_ns // 1_000_000
    columns = "open_time_ms, open, high, low, close, volume, trades"
    window = (
        f"FROM candles_1m WHERE exchange = ? AND symbol = ? AND open_time_ms BETWEEN ? AND ?"
        f"{scope}"
    )
    if order != "id":
        sql = (
            f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY open_time_ms "
            f"ORDER BY trades DESC, {order}) AS copy {window}) WHERE copy = 1 "
            "ORDER BY open_time_ms"
        )
    else:
        sql = f"SELECT {columns} {window} ORDER BY open_time_ms, {order}"
    for open_ms, o, h, low, c, v, n in conn.execute(
        sql, (exchange, symbol, first_ms, last_ms, *args)
    ):
        candle = Candle(
            exchange, symbol, open_ms, Decimal(o), Decimal(h), Decimal(low), Decimal(c),
            Decimal(v), int(n),
        )
        yield candle_close_ns(candle), CANDLE, candle


def _decimals(values: Iterable[str]) -> int:
    """Most decimals in ``values`` (trailing zeros included: exchanges pad to their scale)."""
    most = 0
    for text in values:
        _, dot, frac = str(text).partition(".")
        if dot:
            most = max(most, len(frac))
    return most
