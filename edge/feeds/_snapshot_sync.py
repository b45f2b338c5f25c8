"""The sync bookkeeping shared by feeds whose books start from a REST snapshot
and continue with sequenced WebSocket diffs (Binance, KuCoin).

Each such exchange documents the same shape of procedure: buffer diffs, fetch a
snapshot, drop what the snapshot already contains, bridge with the first diff,
then demand contiguous sequence numbers. Only the bridging and the sequence
fields differ, and those stay in each exchange's module.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import Any

from edge.feeds._parsing import BAD_INPUT
from edge.feeds.base import ExchangeFeed, FeedSink
from shared.book import OrderBook
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
        self.dropped: dict[str, int] = {}
        """Diffs dropped per symbol as already contained in the book (duplicates,
        diffs older than the snapshot)."""

    sequence_names: tuple[str, str] = ("start", "end")
    """How the exchange names a diff's first and last sequence number (for messages)."""

    @abstractmethod
    def _check_diff(self, diff: tuple[Any, ...]) -> None:
        """Parse a diff's levels before buffering it; raise for a malformed one."""

    @abstractmethod
    def _apply(self, symbol: str, state: SyncState, diff: Any) -> None:
        """Apply a diff that follows the book's sequence."""

    def _snapshot_loaded(
        self,
        symbol: str,
        state: SyncState,
        book: OrderBook,
        seq: int,
        recv_ns: int,
        label: str,
    ) -> None:
        """A snapshot at sequence ``seq`` (the exchange calls it ``label``) is in
        ``book``: replay the buffered diffs onto it.

        A malformed buffered diff resyncs the symbol; the diffs after it stay
        buffered for the next snapshot rather than being lost.
        """
        book.sequence = state.last_seq = seq
        book.ts_recv_ns = recv_ns
        state.loaded = True
        self.stats_for(symbol).snapshots += 1
        self.event(symbol, FeedEventKind.SNAPSHOT, f"{label}={seq}")
        pending = list(state.buffer)
        state.buffer.clear()
        for i, diff in enumerate(pending):
            try:
                self._diff(symbol, state, diff)
            except BAD_INPUT as exc:
                self.event(
                    symbol, FeedEventKind.MALFORMED, f"buffered diff: {type(exc).__name__}: {exc}"
                )
                self._resync(symbol, "malformed buffered diff")
                state.buffer.extend(pending[i + 1 :])
                return

    def _diff(self, symbol: str, state: SyncState, diff: tuple[Any, ...]) -> None:
        """Route one diff ``(first, last, ...)`` through the snapshot + diff procedure.

        Buffered until a snapshot is loaded; dropped when the book already holds
        it; a snapshot older than the oldest diff is refused (a fresher one is
        asked for); after the bridge every diff must start right after the last.
        May raise for a malformed level: the caller counts it and resyncs.
        """
        if not state.loaded:
            self._check_diff(diff)
            state.buffer.append(diff)
            self._request(symbol, state)
            return
        first, last = diff[0], diff[1]
        if last <= state.last_seq:
            self.dropped[symbol] = self.dropped.get(symbol, 0) + 1
            return
        lo, hi = self.sequence_names
        if not state.synced:
            if first > state.last_seq + 1:
                self.event(
                    symbol,
                    FeedEventKind.STALE_SNAPSHOT,
                    f"snapshot at {state.last_seq} but oldest diff starts at {lo}={first}",
                )
                self.mark_unsynced(symbol)
                state.buffer.append(diff)
                self._request(symbol, state)
                return
        elif first != state.last_seq + 1:
            self.event(
                symbol,
                FeedEventKind.GAP,
                f"expected {lo}={state.last_seq + 1}, got {lo}={first} {hi}={last}",
            )
            self._resync(symbol, "sequence gap")
            state.buffer.append(diff)
            return
        self._apply(symbol, state, diff)

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
