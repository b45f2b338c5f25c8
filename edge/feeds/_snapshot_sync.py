"""The sync bookkeeping shared by feeds whose books start from a REST snapshot
and continue with sequenced WebSocket diffs (Binance, KuCoin).

Each such exchange documents the same shape of procedure: buffer diffs, fetch a
snapshot, drop what the snapshot already contains, bridge with the first diff,
then demand contiguous sequence numbers. Only the bridging and the sequence
fields differ, and those stay in each exchange's module.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from edge.feeds.base import ExchangeFeed, FeedSink
from shared.clock import Clock
from shared.marketdata import FeedEventKind

MAX_BUFFERED_DIFFS = 10_000
"""Diffs kept while a snapshot is awaited; older ones fall out, and the bridge check
then asks for a fresher snapshot instead of applying a book with a hole."""


class SyncState:
    """Where one symbol is in the snapshot + diff procedure."""

    __slots__ = ("buffer", "last_seq", "loaded", "requested", "synced")

    def __init__(self) -> None:
        self.buffer: deque[Any] = deque(maxlen=MAX_BUFFERED_DIFFS)
        self.last_seq = 0
        self.loaded = False  # a snapshot is in the book, waiting for the diff that bridges it
        self.synced = False  # bridged: the book matches the exchange as of ``last_seq``
        self.requested = False


class SnapshotSyncFeed(ExchangeFeed):
    """An :class:`ExchangeFeed` that keeps a :class:`SyncState` per symbol."""

    def __init__(self, symbols: Sequence[str], sink: FeedSink, clock: Clock, **kwargs: Any) -> None:
        super().__init__(symbols, sink, clock, **kwargs)
        self._sync: dict[str, SyncState] = {}

    def is_synced(self, symbol: str) -> bool:
        state = self._sync.get(symbol)
        return state is not None and state.synced

    def mark_unsynced(self, symbol: str) -> None:
        """Forget the book and any buffered diffs; the next diff asks for a snapshot."""
        state = self._sync.get(symbol)
        if state is not None:
            state.synced = state.loaded = state.requested = False
            state.buffer.clear()
        book = self.books.get(symbol)
        if book is not None:
            book.clear()

    def _state(self, symbol: str) -> SyncState:
        state = self._sync.get(symbol)
        if state is None:
            state = self._sync[symbol] = SyncState()
        return state

    def _request(self, symbol: str, state: SyncState) -> None:
        if not state.requested:
            state.requested = True
            self.sink.request_snapshot(self, symbol)

    def _resync(self, symbol: str, detail: str) -> None:
        """Distrust the book, say so, and start over from a fresh snapshot."""
        self.mark_unsynced(symbol)
        self.event(symbol, FeedEventKind.RESYNC, detail)
        self._request(symbol, self._state(symbol))
