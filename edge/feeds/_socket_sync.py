"""The sync bookkeeping shared by feeds whose snapshots arrive on the socket
(Coinbase, Kraken).

Such an exchange sends a book's snapshot right after it is subscribed and updates
after that; its updates carry nothing a REST snapshot could be bridged with. So a
book is trusted from its snapshot on, an update before the snapshot is dropped as
stale, and a resync unsubscribes and subscribes the book again to get a fresh one.
Which messages do that, and how a book is checked, stay in each exchange's module.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import Any

from edge.feeds.base import ExchangeFeed, FeedSink, SymbolStats
from shared.book import OrderBook
from shared.clock import Clock
from shared.marketdata import FeedEventKind


class SocketSyncFeed(ExchangeFeed):
    """An :class:`ExchangeFeed` whose books start from snapshots sent on the socket.

    ``connection_events`` counts events that belong to no symbol (bad JSON, gaps in
    a connection-wide sequence, ...). An empty symbol list accepts every symbol the
    exchange sends (replays learn them from the recording).
    """

    def __init__(self, symbols: Sequence[str], sink: FeedSink, clock: Clock, **kwargs: Any) -> None:
        super().__init__(symbols, sink, clock, **kwargs)
        self.connection_events: Counter[FeedEventKind] = Counter()
        self._wanted = frozenset(self.symbols)
        self._synced: set[str] = set()

    @abstractmethod
    def _resubscribe(self, symbols: list[str]) -> None:
        """Send what makes the exchange answer with a fresh snapshot of each of ``symbols``."""

    def is_synced(self, symbol: str) -> bool:
        return symbol in self._synced

    def mark_unsynced(self, symbol: str) -> None:
        self._synced.discard(symbol)
        book = self.books.get(symbol)
        if book is not None:
            book.clear()

    def resync(self, symbol: str, reason: str) -> None:
        """Distrust the book and resubscribe it, which brings a fresh snapshot on the
        socket; its updates are dropped until that arrives."""
        self.mark_unsynced(symbol)
        self.event(symbol, FeedEventKind.RESYNC, reason)
        self._resubscribe([symbol])

    def _accepts(self, symbol: str) -> bool:
        return not self._wanted or symbol in self._wanted

    def _connection_event(self, kind: FeedEventKind, detail: str) -> None:
        self.connection_events[kind] += 1
        self.event("", kind, detail)

    def _synced_book(self, symbol: str, stats: SymbolStats) -> OrderBook | None:
        """The book an update of ``symbol`` applies to; None, counted as stale, while
        its snapshot has not arrived (e.g. the rest of a channel being resubscribed)."""
        if symbol not in self._synced:
            stats.stale_dropped += 1
            return None
        return self.books[symbol]

    def _loaded(self, symbol: str, book: OrderBook, stats: SymbolStats) -> None:
        """A snapshot is in ``book``: count it and trust the book's updates from here on."""
        stats.snapshots += 1
        self._synced.add(symbol)
        self.event(symbol, FeedEventKind.SNAPSHOT, f"{len(book)} levels")
