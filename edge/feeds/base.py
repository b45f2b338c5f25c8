"""The one interface every exchange feed implements.

A feed is a pure, synchronous state machine: it is handed raw WebSocket
messages (and REST snapshot bodies when it asked for one) and it keeps exact
books, emits trades and feed events, and asks for I/O through its sink. It never
opens a socket itself, so the live collector, the replay of recorded traffic and
the tests drive the very same code; only the transport differs.

Exchange quirks (channel names, book-sync procedure, checksum) live in each
exchange's module; generic code never asks which exchange it is talking to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

from shared.book import OrderBook
from shared.clock import Clock
from shared.marketdata import FeedEvent, FeedEventKind, Trade


@dataclass(slots=True)
class SymbolStats:
    """Counters per exchange and symbol, printed by ``tickerml edge replay``."""

    messages: int = 0
    level_updates: int = 0
    snapshots: int = 0
    checksums_ok: int = 0
    checksums_failed: int = 0
    gaps: int = 0
    resyncs: int = 0
    crossed: int = 0
    malformed: int = 0
    unknown: int = 0
    stale_dropped: int = 0
    trades: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


_COUNTED: dict[FeedEventKind, str] = {
    FeedEventKind.GAP: "gaps",
    FeedEventKind.RESYNC: "resyncs",
    FeedEventKind.CHECKSUM_FAILED: "checksums_failed",
    FeedEventKind.CROSSED: "crossed",
    FeedEventKind.MALFORMED: "malformed",
    FeedEventKind.UNKNOWN: "unknown",
    FeedEventKind.STALE_SNAPSHOT: "stale_dropped",
}
"""The :class:`SymbolStats` counter each kind of event adds one to."""


class FeedSink(Protocol):
    """Where a feed sends what it produces and the I/O it needs done."""

    def on_trade(self, trade: Trade) -> None:
        """A trade print, already normalized."""

    def on_event(self, event: FeedEvent) -> None:
        """A gap, resync, checksum failure, malformed message, ..."""

    def on_book(self, book: OrderBook) -> None:
        """The book changed and is consistent with the exchange (synced, checked)."""

    def request_snapshot(self, feed: ExchangeFeed, symbol: str) -> None:
        """Fetch ``feed.snapshot_url(symbol)`` and hand the body to ``feed.on_snapshot``."""

    def send(self, feed: ExchangeFeed, message: str) -> None:
        """Send ``message`` on the feed's WebSocket (e.g. a resubscribe)."""


class NullSink:
    """A sink that drops everything (benchmarks, simple tests)."""

    def on_trade(self, trade: Trade) -> None:
        pass

    def on_event(self, event: FeedEvent) -> None:
        pass

    def on_book(self, book: OrderBook) -> None:
        pass

    def request_snapshot(self, feed: ExchangeFeed, symbol: str) -> None:
        pass

    def send(self, feed: ExchangeFeed, message: str) -> None:
        pass


class ExchangeFeed(ABC):
    """Base class of one exchange's public market-data feed.

    ``symbols`` are unified (``BTC/USDT``); each feed maps them to the exchange's
    own names. ``books`` holds one book per unified symbol; a book is only to be
    trusted while :meth:`is_synced` says so.
    """

    name: ClassVar[str]
    """Registry key, e.g. ``binanceus``."""
    default_ws_url: ClassVar[str]
    default_rest_url: ClassVar[str] = ""
    max_symbols_per_connection: ClassVar[int] = 50
    """Subscription limit per socket; the collector opens more sockets beyond it."""
    ping_interval_s: ClassVar[float | None] = 20.0
    """WebSocket-level pings; exchanges with app-level pings use :meth:`ping_message`."""
    asset_aliases: ClassVar[Mapping[str, str]] = {}
    """The exchange's own asset codes -> unified ones (Kraken's ``XBT`` -> ``BTC``), for
    reading symbols written the exchange's way (``tickerml data import``)."""
    max_exact_depth: ClassVar[int | None] = None
    """The deepest book (levels a side) the feed can keep exactly as the exchange has
    it; a deeper configured ``depth`` is cut to it. None: any depth."""

    def __init__(
        self,
        symbols: Sequence[str],
        sink: FeedSink,
        clock: Clock,
        *,
        depth: int = 1000,
        ws_url: str | None = None,
        rest_url: str | None = None,
        trades: bool = True,
    ) -> None:
        self.symbols = list(symbols)
        self.sink = sink
        self.clock = clock
        limit = self.max_exact_depth
        self.depth = depth if limit is None else min(depth, limit)
        self.ws_url = ws_url or self.default_ws_url
        self.rest_url = (rest_url or self.default_rest_url).rstrip("/")
        self.trades = trades
        self.books: dict[str, OrderBook] = {}
        self.stats: dict[str, SymbolStats] = {s: SymbolStats() for s in self.symbols}

    # -- transport hooks (the collector or the replay calls these) ----------------

    async def prepare(self, fetch_json: Any) -> None:  # noqa: B027 - optional hook
        """Before connecting: e.g. KuCoin's token request. ``fetch_json(url, method)``."""

    def connect_url(self) -> str:
        """The URL to open (some exchanges put the streams in the URL)."""
        return self.ws_url

    @abstractmethod
    def subscribe_messages(self) -> list[str]:
        """Messages to send right after the socket opens."""

    def ping_message(self) -> str | None:
        """An application-level keepalive to send every ``ping_interval_s``, if any."""
        return None

    @abstractmethod
    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        """Handle one received message. Never raises for bad input: counts it."""

    def snapshot_url(self, symbol: str) -> str | None:
        """REST URL of ``symbol``'s depth snapshot, for feeds that need one."""
        return None

    def on_snapshot(self, symbol: str, body: str | bytes, recv_ns: int) -> None:  # noqa: B027
        """A REST snapshot body arrived for ``symbol`` (after :meth:`FeedSink.request_snapshot`)."""

    def snapshot_symbol(self, url: str) -> str | None:
        """The symbol a REST snapshot URL is for (replay matches recorded responses)."""
        return None

    def on_sent(self, message: str, ts_ns: int) -> None:  # noqa: B027
        """A message the client sent (replays show feeds the recorded subscriptions)."""

    def on_disconnect(self, recv_ns: int) -> None:
        """The socket closed: every book is unsynced until it resyncs."""
        for symbol in list(self.books):
            self.mark_unsynced(symbol)

    @abstractmethod
    def is_synced(self, symbol: str) -> bool:
        """True while ``symbol``'s book matches the exchange."""

    def mark_unsynced(self, symbol: str) -> None:  # noqa: B027
        """Drop trust in ``symbol``'s book (subclasses reset their sync state)."""

    def resync(self, symbol: str, reason: str) -> None:
        """Distrust ``symbol``'s book, record a ``resync`` event saying ``reason``, and
        start bringing the book back from a fresh snapshot.

        The collector calls it when the hub asks (the ``resync`` command), on the
        feed's event loop like every other feed call. The default suits feeds whose
        snapshots come from REST (:meth:`snapshot_url`): it asks the sink for one.
        A feed that gets snapshots by resubscribing on the socket overrides it, since
        only the feed knows which messages bring one.
        """
        self.mark_unsynced(symbol)
        self.event(symbol, FeedEventKind.RESYNC, reason)
        self.sink.request_snapshot(self, symbol)

    # -- helpers for subclasses ---------------------------------------------------

    def _publish(self, symbol: str, book: OrderBook, recv_ns: int) -> None:
        """Hand ``book`` to the sink as of ``recv_ns``, unless it is crossed: a crossed
        book cannot match the exchange, so it fails and resyncs instead."""
        if book.is_crossed():
            self._fail(symbol, FeedEventKind.CROSSED,
                       f"bid {book.best_bid_price()} >= ask {book.best_ask_price()}")
            return
        book.ts_recv_ns = recv_ns
        self.sink.on_book(book)

    def _fail(self, symbol: str, kind: FeedEventKind, detail: str) -> None:
        """Record a ``kind`` event for ``symbol`` and :meth:`resync` it, saying why."""
        self.event(symbol, kind, detail)
        self.resync(symbol, f"{kind.value}: {detail}")

    def event(self, symbol: str, kind: FeedEventKind, detail: str = "") -> None:
        """Record a feed event: counted in stats and sent to the sink."""
        stats = self.stats.get(symbol)
        counter = _COUNTED.get(kind)
        if stats is not None and counter is not None:
            setattr(stats, counter, getattr(stats, counter) + 1)
        self.sink.on_event(FeedEvent(self.name, symbol, kind, detail, self.clock.time_ns()))

    def stats_for(self, symbol: str) -> SymbolStats:
        """Stats of ``symbol``, created on first use (replays learn symbols from the file)."""
        stats = self.stats.get(symbol)
        if stats is None:
            stats = self.stats[symbol] = SymbolStats()
        return stats


FEEDS: dict[str, type[ExchangeFeed]] = {}
"""Registry: exchange name -> feed class. Each exchange module registers itself."""


def register(cls: type[ExchangeFeed]) -> type[ExchangeFeed]:
    """Class decorator that adds a feed to :data:`FEEDS` under ``cls.name``."""
    FEEDS[cls.name] = cls
    return cls
