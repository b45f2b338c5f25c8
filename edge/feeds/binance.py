"""Binance and Binance.US spot: diff-depth books, trades, and their sync procedure.

The book follows Binance's "How to manage a local order book correctly":

1. buffer ``depthUpdate`` diffs (``U`` first update id, ``u`` last) as they arrive;
2. fetch ``/api/v3/depth`` (``lastUpdateId``) through the sink;
3. drop buffered diffs with ``u <= lastUpdateId``; the first one applied must
   straddle the snapshot, ``U <= lastUpdateId + 1 <= u``; if even the oldest
   buffered diff starts later, the snapshot is too old and another is fetched;
4. afterwards every diff must start where the previous one ended,
   ``U == previous u + 1``; anything else is a gap and the symbol resyncs.

Sizes are absolute, so a diff is applied level by level straight from the JSON
lists (no intermediate objects). A crossed book, a malformed level or a gap
never leaves a book that looks synced: the symbol is cleared, counted and
resynced from a fresh snapshot.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from edge.feeds._parsing import BAD_INPUT
from edge.feeds._snapshot_sync import Levels, SnapshotSyncFeed, SyncState
from edge.feeds.base import register
from shared.book import levels_to_ticks, to_ticks
from shared.errors import MessageError
from shared.marketdata import FeedEventKind, Trade

_QUOTES = (
    "USDT BUSD USDC FDUSD TUSD USDP DAI PAX USD BTC ETH BNB XRP TRX DOGE DOT "
    "EUR GBP TRY BRL AUD JPY RUB UAH BIDR IDRT NGN ZAR PLN RON ARS MXN COP CZK BKRW VAI"
)
QUOTE_CURRENCIES: tuple[str, ...] = tuple(sorted(_QUOTES.split(), key=len, reverse=True))
"""Quote assets tried, longest first, when a replay must split ``OMGBUSD`` into
``OMG/BUSD`` without an exchange-info lookup (``BUSD`` must win over ``USD``)."""

REST_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
"""The ``limit`` values ``/api/v3/depth`` accepts."""

_IGNORED_EVENTS = frozenset({"kline", "24hrTicker", "24hrMiniTicker", "depth", "serverShutdown"})
"""Streams recordings (and operators) may carry that are known but not consumed."""

_MALFORMED = FeedEventKind.MALFORMED  # bound once: enum attribute lookups cost on the hot path


def split_native(native: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT`` by the longest known quote suffix; unknown stays as is."""
    for quote in QUOTE_CURRENCIES:
        if native.endswith(quote) and len(native) > len(quote):
            return f"{native[: -len(quote)]}/{quote}"
    return native


@register
class BinanceFeed(SnapshotSyncFeed):
    """Binance spot public market data: ``@depth@100ms`` books and ``@trade`` prints.

    The streams go in the combined-stream URL, so nothing is sent after connecting
    (Binance allows 5 incoming messages a second; the URL form needs none).
    """

    name: ClassVar[str] = "binance"
    sequence_names = ("U", "u")
    snapshot_sequence_name: ClassVar[str] = "lastUpdateId"
    default_ws_url: ClassVar[str] = "wss://stream.binance.com:9443"
    default_rest_url: ClassVar[str] = "https://api.binance.com"
    max_symbols_per_connection: ClassVar[int] = 100
    """Binance allows 1024 streams a socket; 2 streams a symbol would allow 512, but
    the streams travel in the URL and 100 symbols keep it near 3.5 KB."""
    max_exact_depth: ClassVar[int | None] = REST_DEPTH_LIMITS[-1]
    """The deepest ``/api/v3/depth`` snapshot."""
    price_decimals: ClassVar[int] = 8
    size_decimals: ClassVar[int] = 8
    """Binance prints every price and quantity with exactly 8 decimals; a string
    with more significant digits is rejected as malformed rather than rounded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unified: dict[str, str] = {s.replace("/", ""): s for s in self.symbols}
        self.ignored: dict[str, int] = {}
        """Known streams that are not consumed (bookTicker, kline, ...), by kind."""

    # -- symbols and transport --------------------------------------------------------

    def native(self, symbol: str) -> str:
        """``BTC/USDT`` -> ``BTCUSDT``."""
        return symbol.replace("/", "")

    def unified(self, native: str) -> str:
        """``BTCUSDT`` -> ``BTC/USDT`` (the configured name, else split by quote)."""
        found = self._unified.get(native)
        if found is None:
            found = self._unified[native] = split_native(native)
        return found

    def streams(self) -> list[str]:
        """The combined-stream names this feed listens to."""
        out = [f"{self.native(s).lower()}@depth@100ms" for s in self.symbols]
        if self.trades:
            out += [f"{self.native(s).lower()}@trade" for s in self.symbols]
        return out

    def connect_url(self) -> str:
        """``{ws}/stream?streams=btcusdt@depth@100ms/btcusdt@trade/...``."""
        base = self.ws_url.rstrip("/")
        streams = self.streams()
        return f"{base}/stream?streams={'/'.join(streams)}" if streams else f"{base}/stream"

    def subscribe_messages(self) -> list[str]:
        """Nothing: the streams are already named in :meth:`connect_url`."""
        return []

    def snapshot_levels(self) -> int:
        """The smallest ``limit`` of ``/api/v3/depth`` that holds ``depth`` levels."""
        return next((n for n in REST_DEPTH_LIMITS if n >= self.depth), REST_DEPTH_LIMITS[-1])

    def snapshot_url(self, symbol: str) -> str:
        """``{rest}/api/v3/depth?symbol=BTCUSDT&limit=N`` with N the smallest limit >= depth."""
        limit = self.snapshot_levels()
        return f"{self.rest_url}/api/v3/depth?symbol={self.native(symbol)}&limit={limit}"

    def snapshot_symbol(self, url: str) -> str | None:
        """The unified symbol of a recorded ``/api/v3/depth`` URL, else None."""
        parts = urlsplit(url)
        if not parts.path.endswith("/depth"):
            return None
        natives = parse_qs(parts.query).get("symbol")
        return self.unified(natives[0].upper()) if natives else None

    # -- messages -------------------------------------------------------------------

    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        """Parse one combined-stream (or raw-stream) message; never raises for bad input."""
        msg = self._decode(raw)
        if msg is None:
            return
        data = msg.get("data", msg) if "stream" in msg else msg
        if type(data) is not dict:
            self.event("", _MALFORMED, f"data is not an object: {str(raw)[:80]}")
            return
        kind = data.get("e")
        symbol = ""
        try:
            native = data.get("s")
            if native is not None:
                symbol = self.unified(native)
                self.stats_for(symbol).messages += 1
            if kind == "depthUpdate":
                self._on_depth(symbol, data, recv_ns)
            elif kind == "trade" or kind == "aggTrade":
                self._on_trade(symbol, data, kind, recv_ns)
            elif kind is None and "u" in data and "b" in data and "a" in data:
                self.ignored["bookTicker"] = self.ignored.get("bookTicker", 0) + 1
            elif kind in _IGNORED_EVENTS:
                self.ignored[kind] = self.ignored.get(kind, 0) + 1
            elif kind is None and "id" in msg and "result" in msg:
                self.ignored["response"] = self.ignored.get("response", 0) + 1
            elif kind is None and ("error" in msg or "code" in msg):
                self.event(symbol, FeedEventKind.REJECTED, str(raw)[:200])
            else:
                self.event(symbol, FeedEventKind.UNKNOWN, f"event {kind!r}: {str(raw)[:120]}")
        except BAD_INPUT as exc:
            self.event(symbol, _MALFORMED, f"{type(exc).__name__}: {exc}")
            if kind == "depthUpdate":
                self._malformed_diff(symbol, "malformed depth update")

    def _on_depth(self, symbol: str, data: dict[str, Any], recv_ns: int) -> None:
        first, last = data["U"], data["u"]
        bids, asks = data["b"], data["a"]
        ts = data.get("E", 0)
        if type(first) is not int or type(last) is not int or first > last:
            raise MessageError(f"bad update ids U={first!r} u={last!r}")
        if type(bids) is not list or type(asks) is not list or type(ts) is not int:
            raise MessageError("b/a must be lists and E an integer")
        self._diff(symbol, self._state(symbol), (first, last, bids, asks, ts, recv_ns))

    def _check_diff(self, diff: tuple[Any, ...]) -> None:
        self._check_levels(diff[2], diff[3])

    def _check_levels(self, bids: list[Any], asks: list[Any]) -> None:
        """Parse a diff's levels once before buffering it, so a malformed one is
        reported when it arrives rather than when a snapshot comes in."""
        pd, sd = self.price_decimals, self.size_decimals
        for price, size in bids:
            to_ticks(price, pd), to_ticks(size, sd)
        for price, size in asks:
            to_ticks(price, pd), to_ticks(size, sd)

    def _apply(
        self,
        symbol: str,
        state: SyncState,
        diff: tuple[int, int, list[Any], list[Any], int, int],
    ) -> None:
        _, last, bids, asks, ts, recv_ns = diff
        book = self.books[symbol]
        pd, sd = self.price_decimals, self.size_decimals
        set_bid, set_ask = book.set_bid, book.set_ask
        for price, size in bids:
            set_bid(to_ticks(price, pd), to_ticks(size, sd))
        for price, size in asks:
            set_ask(to_ticks(price, pd), to_ticks(size, sd))
        self._applied(symbol, state, book, last, ts, recv_ns, len(bids) + len(asks))

    def _on_trade(self, symbol: str, data: dict[str, Any], kind: str, recv_ns: int) -> None:
        price, size, maker = data["p"], data["q"], data["m"]
        trade_id = data["t"] if kind == "trade" else data["a"]
        if type(maker) is not bool or type(data["T"]) is not int:
            raise MessageError(f"bad {kind}: m={maker!r} T={data['T']!r}")
        to_ticks(price, self.price_decimals)  # validates: plain, non-negative, exact
        to_ticks(size, self.size_decimals)
        trade = Trade(
            self.name,
            symbol,
            str(trade_id),
            Decimal(price),
            Decimal(size),
            "sell" if maker else "buy",  # the buyer made the market, so the taker sold
            data["T"] * 1_000_000,
            recv_ns,
        )
        self.stats[symbol].trades += 1
        self.sink.on_trade(trade)

    # -- snapshots ------------------------------------------------------------------

    def _read_snapshot(self, reply: dict[str, Any]) -> tuple[int, Levels, Levels] | None:
        """``/api/v3/depth``: ``lastUpdateId``, ``bids``, ``asks``; an error has no id."""
        if "lastUpdateId" not in reply:
            return None
        last_id = reply["lastUpdateId"]
        if type(last_id) is not int:
            raise MessageError(f"lastUpdateId {last_id!r} is not an integer")
        pd, sd = self.price_decimals, self.size_decimals
        bids = levels_to_ticks(reply["bids"], pd, sd)
        return last_id, bids, levels_to_ticks(reply["asks"], pd, sd)


@register
class BinanceUSFeed(BinanceFeed):
    """Binance.US spot: the same protocol and book procedure on its own hosts."""

    name: ClassVar[str] = "binanceus"
    default_ws_url: ClassVar[str] = "wss://stream.binance.us:9443"
    default_rest_url: ClassVar[str] = "https://api.binance.us"
