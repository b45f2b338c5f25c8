"""Backtest event sources read from an edge (or hub) store or from capture files.

Three levels of detail, best first:

* ``raw`` — recorded WebSocket messages and REST snapshots (``raw_messages``, or
  capture files) replayed through the real feed parsers: the exact book after
  every update, and every trade, at the time the agent received it. The feed
  warms up from the first recorded message so the book is synced when the
  window starts; events before ``--from`` only build the book.
* ``snapshots`` — the top-N levels the collector stores every 5 s
  (``book_snapshots``) and the stored trades. Coarser: between snapshots the
  book is stale, levels below the stored depth are missing, and trades are
  timed by the exchange's clock while snapshots use the agent's.
* ``candles`` — ``candles_1m`` only: candle mode (fills at the next bar's open
  plus slippage).

Stored 1-minute candles are merged into every mode: candle strategies (trend,
mean reversion) decide on candle closes live too.

The hub keeps the agents' tables under the same names and columns, so a hub
store file is read the same way.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson

from edge.capture import CaptureRecord, is_tickerml_capture, read_cryptofeed, read_tickerml
from edge.feeds import feed_class
from edge.replay import ReplaySink, group_files
from shared.book import OrderBook, levels_to_ticks
from shared.clock import ManualClock
from shared.errors import OperationalError
from shared.marketdata import Candle, Trade
from shared.trading.backtest import BOOK, CANDLE, TRADE, Event, candle_close_ns, merge_events
from shared.trading.types import Instrument

SourceKind = Literal["raw", "snapshots", "candles"]
SOURCES: tuple[SourceKind, ...] = ("raw", "snapshots", "candles")
DEFAULT_FEE = Decimal("0.001")
"""Taker and maker fee used when no market metadata is known (the common base tier)."""


@dataclass(slots=True)
class _Collector(ReplaySink):
    """Keeps one symbol's book updates and trades from one record, in the feed's order."""

    symbol: str = ""
    ts_ns: int = 0
    buffer: list[Event] = field(default_factory=list)

    def on_book(self, book: OrderBook) -> None:
        if book.symbol == self.symbol:
            self.buffer.append((self.ts_ns, BOOK, book))

    def on_trade(self, trade: Trade) -> None:
        self.trades += 1
        if trade.symbol == self.symbol:
            self.buffer.append((self.ts_ns, TRADE, trade))


def feed_events(
    exchange: str, records: Iterable[CaptureRecord], symbol: str, start_ns: int, end_ns: int
) -> Iterator[Event]:
    """Book updates and trades of ``symbol`` from replaying ``records`` through the feed.

    Records before ``start_ns`` are replayed (they build the book) but yield
    nothing. A yielded book is the feed's live book: consume it before asking
    for the next event.
    """
    clock = ManualClock()
    sink = _Collector(symbol=symbol)
    feed = feed_class(exchange)([], sink, clock)
    buffer = sink.buffer
    for record in records:
        ts = record.ts_ns
        if ts > end_ns:
            break
        clock.set_ns(ts)
        sink.ts_ns = ts
        kind = record.kind
        if kind == "recv":
            feed.on_message(record.data, ts)
        elif kind == "http":
            target = feed.snapshot_symbol(record.url)
            if target is not None:
                feed.on_snapshot(target, record.data, ts)
        elif kind == "sent":
            feed.on_sent(record.data, ts)
        if buffer:
            if ts >= start_ns:
                yield from buffer
            buffer.clear()


def capture_events(
    paths: Iterable[Path], exchange: str, symbol: str, start_ns: int, end_ns: int
) -> Iterator[Event]:
    """:func:`feed_events` over capture files (cryptofeed or TickerML) of ``exchange``."""
    groups = group_files(paths)
    files = groups.get(exchange)
    if not files:
        found = ", ".join(sorted(groups)) or "none"
        raise OperationalError(f"no capture file of exchange {exchange!r} (files hold: {found})")
    streams = [read_tickerml(p)[1] if is_tickerml_capture(p) else read_cryptofeed(p) for p in files]
    merged = heapq.merge(*streams, key=lambda r: r.ts_ns)
    return feed_events(exchange, merged, symbol, start_ns, end_ns)


def raw_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int
) -> Iterator[Event]:
    """:func:`feed_events` over the store's ``raw_messages`` of ``exchange``."""
    rows = conn.execute(
        "SELECT kind, ts_recv_ns, url, data FROM raw_messages "
        "WHERE exchange = ? AND ts_recv_ns <= ? ORDER BY ts_recv_ns, id",
        (exchange, end_ns),
    )
    records = (CaptureRecord(kind, ts, url, data) for kind, ts, url, data in rows)
    return feed_events(exchange, records, symbol, start_ns, end_ns)


def trade_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int
) -> Iterator[Event]:
    """Stored trades, timed by the exchange's clock (the indexed column)."""
    rows = conn.execute(
        "SELECT trade_id, price, size, side, ts_exchange_ns, ts_recv_ns FROM trades "
        "WHERE exchange = ? AND symbol = ? AND ts_exchange_ns BETWEEN ? AND ? "
        "ORDER BY ts_exchange_ns, id",
        (exchange, symbol, start_ns, end_ns),
    )
    for trade_id, price, size, side, ts_exchange, ts_recv in rows:
        trade = Trade(
            exchange, symbol, str(trade_id), Decimal(price), Decimal(size), side,
            ts_exchange, ts_recv,
        )
        yield ts_exchange, TRADE, trade


def snapshot_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int
) -> Iterator[Event]:
    """Stored top-N book snapshots, each loaded into one book that is then yielded."""
    rows = conn.execute(
        "SELECT ts_ns, sequence, bids, asks FROM book_snapshots "
        "WHERE exchange = ? AND symbol = ? AND ts_ns BETWEEN ? AND ? ORDER BY ts_ns, id",
        (exchange, symbol, start_ns, end_ns),
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
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int
) -> Iterator[Event]:
    """Stored 1-minute candles that close within the window, at their close time."""
    first_ms = start_ns // 1_000_000 - 60_000
    last_ms = end_ns // 1_000_000
    rows = conn.execute(
        "SELECT open_time_ms, open, high, low, close, volume, trades FROM candles_1m "
        "WHERE exchange = ? AND symbol = ? AND open_time_ms BETWEEN ? AND ? "
        "ORDER BY open_time_ms",
        (exchange, symbol, first_ms, last_ms),
    )
    for open_ms, o, h, low, c, v, n in rows:
        candle = Candle(
            exchange, symbol, open_ms, Decimal(o), Decimal(h), Decimal(low), Decimal(c),
            Decimal(v), int(n),
        )
        ts = candle_close_ns(candle)
        if start_ns <= ts <= end_ns:
            yield ts, CANDLE, candle


def _count(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
    try:
        return int(conn.execute(sql, args).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # a store without that table (a hub store holds candles only, say)


def available(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int
) -> dict[SourceKind, int]:
    """How many rows each source has in the window (raw: the exchange's messages)."""
    start_ms, end_ms = start_ns // 1_000_000, end_ns // 1_000_000
    return {
        "raw": _count(
            conn,
            "SELECT COUNT(*) FROM raw_messages WHERE exchange = ? AND ts_recv_ns BETWEEN ? AND ?",
            (exchange, start_ns, end_ns),
        ),
        "snapshots": _count(
            conn,
            "SELECT COUNT(*) FROM book_snapshots WHERE exchange = ? AND symbol = ? "
            "AND ts_ns BETWEEN ? AND ?",
            (exchange, symbol, start_ns, end_ns),
        ),
        "candles": _count(
            conn,
            "SELECT COUNT(*) FROM candles_1m WHERE exchange = ? AND symbol = ? "
            "AND open_time_ms BETWEEN ? AND ?",
            (exchange, symbol, start_ms - 60_000, end_ms),
        ),
    }


def choose_source(counts: dict[SourceKind, int], requested: str, where: str) -> SourceKind:
    """The source to use: the best one with data for ``auto``, else the requested one.

    ``where`` names the store and market in the error when nothing fits.
    """
    if requested == "auto":
        for best in SOURCES:
            if counts[best]:
                return best
        raise OperationalError(
            f"{where}: no raw messages, book snapshots or candles in the window; "
            "check --exchange, --symbol, --from and --to"
        )
    if requested not in SOURCES:
        raise OperationalError(
            f"--source must be auto, raw, snapshots or candles, not {requested!r}"
        )
    kind: SourceKind = requested  # type: ignore[assignment]
    if not counts[kind]:
        raise OperationalError(f"{where}: no {kind} rows in the window (have: {counts})")
    return kind


def store_events(
    conn: sqlite3.Connection, kind: SourceKind, exchange: str, symbol: str,
    start_ns: int, end_ns: int,
) -> Iterator[Event]:
    """Every event of one source kind, with the stored candles, merged by time."""
    candles = candle_events(conn, exchange, symbol, start_ns, end_ns)
    if kind == "candles":
        return candles
    if kind == "raw":
        return merge_events(raw_events(conn, exchange, symbol, start_ns, end_ns), candles)
    return merge_events(
        snapshot_events(conn, exchange, symbol, start_ns, end_ns),
        trade_events(conn, exchange, symbol, start_ns, end_ns),
        candles,
    )


# -- instruments ---------------------------------------------------------------------


def _decimals(values: Iterable[str]) -> int:
    """Most decimals in ``values`` (trailing zeros included: exchanges pad to their scale)."""
    most = 0
    for text in values:
        _, dot, frac = str(text).partition(".")
        if dot:
            most = max(most, len(frac))
    return most


def _significant_decimals(values: Iterable[str]) -> int:
    most = 0
    for text in values:
        _, dot, frac = str(text).partition(".")
        if dot:
            most = max(most, len(frac.rstrip("0")))
    return most


def inferred_instrument(
    conn: sqlite3.Connection, exchange: str, symbol: str, *, fee: Decimal = DEFAULT_FEE,
    sample_rows: int = 20_000,
) -> Instrument:
    """An instrument whose tick and lot are the finest steps seen in stored prices and sizes.

    Used when no market metadata is cached: it can only be as fine as the venue,
    never finer, so rounding to it refuses nothing the venue would accept.
    """
    prices: list[str] = []
    sizes: list[str] = []
    for table, size_column in (("trades", "size"), ("candles_1m", "volume")):
        price_column = "price" if table == "trades" else "close"
        try:
            rows = conn.execute(
                f"SELECT {price_column}, {size_column} FROM {table} "
                "WHERE exchange = ? AND symbol = ? LIMIT ?",
                (exchange, symbol, sample_rows),
            ).fetchall()
        except sqlite3.OperationalError:
            continue
        prices += [r[0] for r in rows]
        if table == "trades" or not sizes:
            sizes += [r[1] for r in rows]
    if not prices:
        raise OperationalError(
            f"no stored trades or candles of {exchange}:{symbol} to infer its tick size from"
        )
    tick = Decimal(1).scaleb(-_significant_decimals(prices))
    lot = Decimal(1).scaleb(-_significant_decimals(sizes)) if sizes else Decimal("1e-8")
    return Instrument(exchange, symbol, tick, lot, maker_fee=fee, taker_fee=fee)


def metadata_instrument(cache_dir: Path, exchange: str, symbol: str) -> Instrument | None:
    """The instrument from the agent's cached ccxt market metadata, if it has one."""
    from edge.history.metadata import cache_file, read_cache

    cached = read_cache(cache_file(cache_dir, exchange), exchange)
    if cached is None:
        return None
    info = cached[1].get(symbol)
    if info is None or info.tick_size is None or info.lot_size is None:
        return None
    return Instrument(
        exchange, symbol, info.tick_size, info.lot_size,
        min_notional=info.min_notional or Decimal(0),
        min_qty=info.min_amount or Decimal(0),
        maker_fee=info.maker_fee if info.maker_fee is not None else DEFAULT_FEE,
        taker_fee=info.taker_fee if info.taker_fee is not None else DEFAULT_FEE,
    )
