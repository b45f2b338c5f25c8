"""The sync bookkeeping shared by feeds whose books start from a REST snapshot
and continue with sequenced WebSocket diffs (Binance, KuCoin).

Each such exchange documents the same shape of procedure: buffer diffs, fetch a
snapshot, drop what the snapshot already contains, bridge with the first diff,
then demand contiguous sequence numbers. Only the bridging, the sequence fields
and the snapshot body's shape differ, and those stay in each exchange's module.

A snapshot holds at most :meth:`SnapshotSyncFeed.snapshot_levels` levels a side,
and diffs only tell of the levels that change. So when a side came back full, a
level beyond its worst price may exist without the book ever hearing of it: once
the levels in front of it are deleted, a book that kept everything would show a
hole there (KuCoin's ``level2_100`` did, at ranks 101 and 102 of a real capture).
Each side therefore keeps a bound, the worst price it knows exactly, and drops
levels beyond it; cutting the book to ``depth`` moves the bound in. A side thinned
to less than half of ``depth`` that way is refreshed from a new snapshot.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from edge.feeds._parsing import BAD_INPUT
from edge.feeds.base import ExchangeFeed, FeedSink
from shared.book import DEFAULT_DECIMALS, OrderBook
from shared.clock import Clock
from shared.errors import MessageError
from shared.marketdata import FeedEventKind

MAX_BUFFERED_DIFFS = 10_000
"""Diffs kept while a snapshot is awaited; older ones fall out, and the bridge check
then asks for a fresher snapshot instead of applying a book with a hole."""

Levels = list[tuple[int, int]]
"""One side of a snapshot: (price, size) in ticks."""


class SyncState:
    """Where one symbol is in the snapshot + diff procedure."""

    __slots__ = ("ask_ceiling", "bid_floor", "buffer", "last_seq", "loaded", "requested", "synced")

    def __init__(self) -> None:
        self.bid_floor: int | None = None
        """The lowest bid price known exactly; None: every bid is known."""
        self.ask_ceiling: int | None = None
        """The highest ask price known exactly; None: every ask is known."""
        self.buffer: deque[Any] = deque(maxlen=MAX_BUFFERED_DIFFS)
        self.last_seq = 0
        self.loaded = False  # a snapshot is in the book, waiting for the diff that bridges it
        self.synced = False  # bridged: the book matches the exchange as of ``last_seq``
        self.requested = False


class SnapshotSyncFeed(ExchangeFeed):
    """An :class:`ExchangeFeed` that keeps a :class:`SyncState` per symbol."""

    price_decimals: ClassVar[int] = DEFAULT_DECIMALS
    size_decimals: ClassVar[int] = DEFAULT_DECIMALS
    """Decimals of every book of the exchange: the REST snapshot says nothing of a
    symbol's precision, so they must hold for every product it lists."""
    snapshot_sequence_name: ClassVar[str] = "sequence"
    """How the exchange names a snapshot's sequence number (for messages)."""

    def __init__(self, symbols: Sequence[str], sink: FeedSink, clock: Clock, **kwargs: Any) -> None:
        super().__init__(symbols, sink, clock, **kwargs)
        self._sync: dict[str, SyncState] = {}
        self.dropped: dict[str, int] = {}
        """Diffs dropped per symbol as already contained in the book (duplicates,
        diffs older than the snapshot)."""

    sequence_names: tuple[str, str] = ("start", "end")
    """How the exchange names a diff's first and last sequence number (for messages)."""

    @abstractmethod
    def snapshot_levels(self) -> int:
        """Levels a side the snapshot of :meth:`snapshot_url` holds at most: a side
        that comes back this full may have levels beyond it."""

    @abstractmethod
    def _check_diff(self, diff: tuple[Any, ...]) -> None:
        """Parse a diff's levels before buffering it; raise for a malformed one."""

    @abstractmethod
    def _apply(self, symbol: str, state: SyncState, diff: Any) -> None:
        """Apply a diff that follows the book's sequence (then :meth:`_applied`)."""

    @abstractmethod
    def _read_snapshot(self, reply: dict[str, Any]) -> tuple[int, Levels, Levels] | None:
        """(sequence, bids, asks) of a decoded REST snapshot, levels in ticks; None
        when the exchange answered with a refusal instead. Raises for a malformed one."""

    def _position(self, seq: int) -> str:
        """Where a book is, as the exchange names it (for messages)."""
        return f"{self.sequence_names[1]}={seq}"

    # -- messages -------------------------------------------------------------------

    def _decode(self, raw: str | bytes) -> dict[str, Any] | None:
        """``raw`` as a JSON object; None, counted as malformed, for anything else."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self.event("", FeedEventKind.MALFORMED, f"not JSON: {exc}")
            return None
        if type(msg) is not dict:
            self.event("", FeedEventKind.MALFORMED, f"not a JSON object: {str(raw)[:80]}")
            return None
        return msg

    def _loaded_state(self, symbol: str) -> SyncState | None:
        """``symbol``'s state once a snapshot is in its book (bridged or not), else None."""
        state = self._sync.get(symbol)
        return state if state is not None and (state.synced or state.loaded) else None

    def _malformed_diff(self, symbol: str, detail: str) -> None:
        """A diff of ``symbol`` could not be read: a book it should have changed is
        wrong from here on (before a snapshot there is no book to distrust)."""
        if symbol and self._loaded_state(symbol) is not None:
            self._resync(symbol, detail)

    def _applied(
        self, symbol: str, state: SyncState, book: OrderBook, last: int, ts_ms: int,
        recv_ns: int, levels: int,
    ) -> None:
        """``levels`` changes of the diff ending at ``last`` are in ``book``: publish
        it, or resync it if they crossed it or thinned its exact part too far."""
        state.last_seq = book.sequence = last
        book.ts_exchange_ns = ts_ms * 1_000_000
        book.ts_recv_ns = recv_ns
        self.stats[symbol].level_updates += levels
        if book.is_crossed():
            self.event(symbol, FeedEventKind.CROSSED, f"after {self._position(last)}: {book!r}")
            self._resync(symbol, "crossed book")
            return
        self._keep_exact(state, book)
        thin = self._thin_side(state, book)
        if thin:
            self._resync(symbol, thin)
            return
        state.synced = True
        self.sink.on_book(book)

    # -- snapshots ------------------------------------------------------------------

    def on_snapshot(self, symbol: str, body: str | bytes, recv_ns: int) -> None:
        """Load a REST snapshot body, then replay the buffered diffs onto it."""
        state = self._state(symbol)
        state.requested = False
        if state.synced:
            return  # a late duplicate answer: the book is already ahead of it
        try:
            reply = orjson.loads(body)
            if type(reply) is not dict:
                raise MessageError("snapshot is not a JSON object")
            snapshot = self._read_snapshot(reply)
            if snapshot is None:
                self.event(symbol, FeedEventKind.REJECTED, f"snapshot: {str(body)[:200]}")
                return
            seq, bids, asks = snapshot
            book = self._book(symbol)
            book.load_snapshot(bids, asks)
        except BAD_INPUT as exc:
            self.event(symbol, FeedEventKind.MALFORMED, f"snapshot: {type(exc).__name__}: {exc}")
            self.mark_unsynced(symbol)
            return
        self._snapshot_loaded(symbol, state, book, seq, recv_ns)

    def _book(self, symbol: str) -> OrderBook:
        book = self.books.get(symbol)
        if book is None:
            # No depth of its own: _keep_exact cuts it after each whole diff, so that
            # the cut moves the bounds.
            book = self.books[symbol] = OrderBook(
                self.name,
                symbol,
                price_decimals=self.price_decimals,
                size_decimals=self.size_decimals,
            )
        return book

    def _bound(self, state: SyncState, book: OrderBook) -> None:
        """Bound each side of a freshly loaded snapshot that came back full."""
        full = self.snapshot_levels()
        bids, asks = book.bid_prices(), book.ask_prices()
        state.bid_floor = bids[0] if len(bids) >= full else None
        state.ask_ceiling = asks[-1] if len(asks) >= full else None
        self._keep_exact(state, book)

    def _keep_exact(self, state: SyncState, book: OrderBook) -> None:
        """Drop the levels beyond each side's bound, then cut the book to ``depth``;
        a cut side's bound becomes its new worst price."""
        book.keep_within(state.bid_floor, state.ask_ceiling)
        bids_cut, asks_cut = book.truncate(self.depth)
        if bids_cut:
            state.bid_floor = book.bid_prices()[0]
        if asks_cut:
            state.ask_ceiling = book.ask_prices()[-1]

    def _thin_side(self, state: SyncState, book: OrderBook) -> str:
        """Why the book needs a fresh snapshot ("" when it does not): a bounded side
        holding fewer than half of ``depth`` levels."""
        least = self.depth // 2
        for side, bound, count in (
            ("bids", state.bid_floor, len(book.bids)),
            ("asks", state.ask_ceiling, len(book.asks)),
        ):
            if bound is not None and count < least:
                return (
                    f"{count} {side} left inside the snapshot's bound (depth {self.depth}): "
                    "refreshing the snapshot"
                )
        return ""

    def _snapshot_loaded(
        self, symbol: str, state: SyncState, book: OrderBook, seq: int, recv_ns: int
    ) -> None:
        """A snapshot at sequence ``seq`` is in ``book``: replay the buffered diffs onto it.

        A malformed buffered diff resyncs the symbol; the diffs after it stay
        buffered for the next snapshot rather than being lost.
        """
        book.sequence = state.last_seq = seq
        book.ts_recv_ns = recv_ns
        self._bound(state, book)
        state.loaded = True
        self.stats_for(symbol).snapshots += 1
        self.event(symbol, FeedEventKind.SNAPSHOT, f"{self.snapshot_sequence_name}={seq}")
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

    # -- sync state -----------------------------------------------------------------

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
