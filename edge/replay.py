"""Replay recorded traffic through the same feed parsers and books as live.

Every file of one exchange (WebSocket messages and REST snapshot responses) is
merged into one stream ordered by receive time and fed to one feed instance,
with a manual clock set to each record's time. A REST snapshot is delivered to
the feed when its record comes up, exactly as the collector would deliver the
response to a request it made.

A feed whose books start from a REST snapshot (Binance, Binance.US, KuCoin) builds
no book from a ``.ws`` file replayed without its ``.http`` file: its diffs wait for
a snapshot that never comes. The report says so per symbol (``book``), rather than
showing zero updates as if all were well; :func:`unhealthy` lists such symbols for
``tickerml edge replay --strict``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.capture import (
    CaptureRecord,
    cryptofeed_exchange,
    is_tickerml_capture,
    read_cryptofeed,
    read_tickerml,
)
from edge.feeds import ExchangeFeed, NullSink, SymbolStats, feed_class
from shared.book import OrderBook
from shared.clock import ManualClock
from shared.errors import OperationalError
from shared.marketdata import FeedEvent, Trade


@dataclass
class ReplaySink(NullSink):
    """Collects what a replayed feed produces; forwards to ``inner`` if given."""

    inner: Any = None
    trades: int = 0
    events: list[FeedEvent] = field(default_factory=list)
    snapshot_requests: int = 0
    sent: int = 0
    snapshots_wanted: set[str] = field(default_factory=set)
    """Symbols whose feed asked for a REST snapshot."""
    books_built: set[str] = field(default_factory=set)
    """Symbols whose feed published a consistent (synced, checked) book at least once."""

    def on_trade(self, trade: Trade) -> None:
        self.trades += 1
        if self.inner is not None:
            self.inner.on_trade(trade)

    def on_event(self, event: FeedEvent) -> None:
        self.events.append(event)
        if self.inner is not None:
            self.inner.on_event(event)

    def on_book(self, book: OrderBook) -> None:
        self.books_built.add(book.symbol)
        if self.inner is not None:
            self.inner.on_book(book)

    def request_snapshot(self, feed: ExchangeFeed, symbol: str) -> None:
        self.snapshot_requests += 1
        self.snapshots_wanted.add(symbol)

    def send(self, feed: ExchangeFeed, message: str) -> None:
        self.sent += 1


@dataclass
class ExchangeReplay:
    """The outcome of replaying one exchange's files."""

    exchange: str
    files: list[str]
    feed: ExchangeFeed
    sink: ReplaySink
    records: int = 0

    @property
    def stats(self) -> dict[str, SymbolStats]:
        return self.feed.stats


def group_files(paths: Iterable[Path]) -> dict[str, list[Path]]:
    """Files grouped by exchange; unsupported files raise, naming the file."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        if not path.exists():
            raise OperationalError(f"{path}: no such file")
        if is_tickerml_capture(path):
            exchange, _ = read_tickerml(path)
        else:
            found = cryptofeed_exchange(path)
            if found is None:
                raise OperationalError(
                    f"{path}: not a TickerML capture and not a cryptofeed capture of a "
                    "supported exchange (BINANCE, BINANCE_US, COINBASE, KRAKEN, KUCOIN)"
                )
            exchange = found
        groups.setdefault(exchange, []).append(path)
    return groups


def _records(path: Path) -> Iterator[CaptureRecord]:
    if is_tickerml_capture(path):
        return read_tickerml(path)[1]
    return read_cryptofeed(path)


def replay_exchange(
    exchange: str,
    paths: list[Path],
    *,
    sink: Any = None,
    feed_options: dict[str, Any] | None = None,
    raw_writer: Any = None,
) -> ExchangeReplay:
    """Replay every file of ``exchange`` through a fresh feed; returns its stats.

    ``sink`` receives what the feed produces (e.g. the agent's event router);
    ``raw_writer`` (a store writer) also keeps every received record, as the
    collector's raw capture does.
    """
    clock = ManualClock()
    replay_sink = ReplaySink(inner=sink)
    cls = feed_class(exchange)
    # No symbol list: a replayed feed accepts every symbol the recording holds.
    feed = cls([], replay_sink, clock, **(feed_options or {}))
    result = ExchangeReplay(exchange, [str(p) for p in paths], feed, replay_sink)
    streams = [_records(p) for p in paths]
    merged = heapq.merge(*streams, key=lambda r: r.ts_ns)
    for record in merged:
        clock.set_ns(record.ts_ns)
        result.records += 1
        if raw_writer is not None and record.kind in ("recv", "http"):
            raw_writer.put_raw(exchange, record.kind, record.url, record.ts_ns, record.data)
        if record.kind == "recv":
            feed.on_message(record.data, record.ts_ns)
        elif record.kind == "http":
            symbol = feed.snapshot_symbol(record.url)
            if symbol is not None:
                feed.on_snapshot(symbol, record.data, record.ts_ns)
        elif record.kind == "sent":
            feed.on_sent(record.data, record.ts_ns)
    return result


def replay_files(paths: Iterable[Path], *, sink: Any = None) -> dict[str, ExchangeReplay]:
    """Replay files of any supported exchanges; one result per exchange."""
    return {
        exchange: replay_exchange(exchange, files, sink=sink)
        for exchange, files in group_files(paths).items()
    }


BOOK_BUILT = "built"
NO_SNAPSHOT = "no snapshot: book never built"
NOT_BRIDGED = "snapshot never bridged: book never built"
NO_BOOK_DATA = "no book data"


def book_status(result: ExchangeReplay, symbol: str) -> str:
    """Whether the replay built ``symbol``'s book, and if not, why.

    ``built``: the feed published a consistent book at least once. Otherwise the
    book had data but never synced: no snapshot arrived (a ``.ws`` file replayed
    without its ``.http`` file), or snapshots came but no diff bridged them. A
    symbol with neither diffs nor snapshots (trades only) has ``no book data``.
    """
    if symbol in result.sink.books_built:
        return BOOK_BUILT
    stats = result.stats[symbol]
    if stats.snapshots:
        return NOT_BRIDGED
    if symbol in result.sink.snapshots_wanted or stats.level_updates:
        return NO_SNAPSHOT
    return NO_BOOK_DATA


def report_rows(results: dict[str, ExchangeReplay]) -> list[dict[str, Any]]:
    """Flat rows (exchange, symbol, book status, counters) for printing or ``--json``."""
    rows = []
    for exchange, result in sorted(results.items()):
        for symbol, stats in sorted(result.stats.items()):
            rows.append({
                "exchange": exchange, "symbol": symbol, "book": book_status(result, symbol),
                **stats.as_dict(),
            })
    return rows


def unhealthy(rows: Iterable[dict[str, Any]]) -> list[str]:
    """What ``--strict`` refuses, one entry per symbol: a book that had data but was
    never built, failed checksums, crossed books."""
    problems = []
    for row in rows:
        found = []
        if row["book"] in (NO_SNAPSHOT, NOT_BRIDGED):
            found.append(row["book"])
        if row["checksums_failed"]:
            found.append(f"{row['checksums_failed']} failed checksums")
        if row["crossed"]:
            found.append(f"{row['crossed']} crossed books")
        if found:
            problems.append(f"{row['exchange']} {row['symbol']} ({', '.join(found)})")
    return problems
