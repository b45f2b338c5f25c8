"""Backtest event sources: the raw-message replay, and every source merged by time.

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
  plus slippage); at a longer timeframe (``--timeframe 5m``), the store's own
  candles of it (``candles_tf``) or 1-minute candles resampled into it.

Stored candles (1-minute, or of the chosen timeframe) are merged into every mode:
candle strategies (trend, mean reversion) decide on candle closes live too.

Only the replay lives here, because it needs the edge's feed parsers; the store
reads (an agent database or the hub store, one agent or all) are
:mod:`shared.readers`, which the hub uses too.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from edge.capture import (
    CaptureRecord,
    RecordKind,
    is_tickerml_capture,
    read_cryptofeed,
    read_tickerml,
)
from edge.feeds import feed_class
from edge.replay import ReplaySink, group_files
from shared.book import OrderBook
from shared.clock import ManualClock
from shared.errors import OperationalError
from shared.marketdata import Trade
from shared.readers.events import raw_records, snapshot_events, trade_events
from shared.readers.sources import SourceKind
from shared.readers.timeframes import timeframe_candle_events
from shared.trading.backtest import BOOK, TRADE, Event, merge_events


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
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None,
) -> Iterator[Event]:
    """:func:`feed_events` over the store's ``raw_messages`` of ``exchange`` (one agent's)."""
    records = (
        CaptureRecord(cast(RecordKind, kind), ts, url, data)
        for kind, ts, url, data in raw_records(conn, exchange, end_ns, agent)
    )
    return feed_events(exchange, records, symbol, start_ns, end_ns)


def store_events(
    conn: sqlite3.Connection, kind: SourceKind, exchange: str, symbol: str,
    start_ns: int, end_ns: int, agent: str | None = None, *, timeframe: str = "1m",
) -> Iterator[Event]:
    """Every event of one source kind, with the stored candles, merged by time.

    ``agent`` as in :mod:`shared.readers`: on the hub store, that agent's rows;
    without it, every agent's candles and trades once, and the one agent's books.
    ``timeframe`` is the candles' (``5m``: stored 5-minute candles, else resampled
    from 1-minute ones; :func:`shared.readers.timeframes.timeframe_candle_events`).
    """
    candles = timeframe_candle_events(
        conn, exchange, symbol, start_ns, end_ns, agent, timeframe=timeframe
    )
    if kind == "candles":
        return candles
    if kind == "raw":
        return merge_events(raw_events(conn, exchange, symbol, start_ns, end_ns, agent), candles)
    return merge_events(
        snapshot_events(conn, exchange, symbol, start_ns, end_ns, agent),
        trade_events(conn, exchange, symbol, start_ns, end_ns, agent),
        candles,
    )
