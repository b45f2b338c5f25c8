"""KuCoin spot: token handshake, ``/market/level2`` books, trades, and a ticker cross-check.

Connecting takes a token: :meth:`KucoinFeed.prepare` POSTs ``/api/v1/bullet-public``
and learns the endpoint, the token and the ping interval KuCoin wants.

The book procedure (KuCoin's level-2 guide, checked against recorded traffic):

1. buffer ``trade.l2update`` diffs (``sequenceStart``..``sequenceEnd``, each
   change ``[price, size, sequence]``);
2. fetch a REST snapshot (``sequence``) through the sink: the public ``level2_100``
   (``level2_20`` for a shallow book), so a book is kept at most 100 levels deep,
   bounded where the snapshot stopped (see :mod:`edge.feeds._snapshot_sync`);
3. drop diffs with ``sequenceEnd <= sequence``; in the diff that straddles the
   snapshot apply only the changes whose own sequence is newer than the book;
   a price of ``"0"`` is a sequence-only no-op, a size of ``"0"`` deletes;
4. afterwards ``sequenceStart`` must equal the previous ``sequenceEnd + 1``,
   else the symbol resyncs.

``/market/ticker`` carries best bid/ask with both sizes and the book sequence
they belong to; whenever that sequence equals the book's, the top of book must
match exactly. It is KuCoin's nearest thing to a checksum, so a mismatch counts
as a failed checksum and resyncs the symbol.
"""

from __future__ import annotations

import inspect
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson

from edge.feeds._parsing import BAD_INPUT
from edge.feeds._snapshot_sync import Levels, SnapshotSyncFeed, SyncState
from edge.feeds.base import register
from shared.book import DEFAULT_DECIMALS, to_ticks
from shared.errors import MessageError, TemporaryError
from shared.marketdata import FeedEventKind, Trade

MAX_TOPICS_PER_SUBSCRIBE = 100
"""KuCoin accepts at most 100 symbols in one subscribe message."""

PUBLIC_SNAPSHOT_LEVELS = 100
"""Levels a side of ``level2_100``, the deepest snapshot KuCoin serves without a key."""

_KNOWN_REPLIES = frozenset({"welcome", "ack", "pong"})
_IGNORED_TOPICS = frozenset({"/market/candles", "/market/snapshot", "/market/allTickers"})
_MALFORMED = FeedEventKind.MALFORMED

Diff = tuple[int, int, list[Any], list[Any], int, int]
"""(sequenceStart, sequenceEnd, asks, bids, exchange time ms, receive ns)."""


@register
class KucoinFeed(SnapshotSyncFeed):
    """KuCoin spot public market data: level-2 books, matches and tickers."""

    name: ClassVar[str] = "kucoin"
    default_ws_url: ClassVar[str] = "wss://ws-api-spot.kucoin.com/"
    default_rest_url: ClassVar[str] = "https://api.kucoin.com"
    max_symbols_per_connection: ClassVar[int] = 100
    """Three topics a symbol (level2, match, ticker) under KuCoin's 300 topics a
    connection, and one subscribe message per topic (100 symbols each)."""
    max_exact_depth: ClassVar[int | None] = PUBLIC_SNAPSHOT_LEVELS
    """The deepest public snapshot is ``level2_100`` (the full book,
    ``/api/v3/market/orderbook/level2``, needs an API key, which TickerML never
    holds), and diffs only tell of levels that change: deeper than 100 levels the
    book could not be known exactly."""
    ping_interval_s: ClassVar[float | None] = 18.0
    """KuCoin's usual ``pingInterval``; :meth:`prepare` replaces it with the server's."""
    decimals: ClassVar[int] = DEFAULT_DECIMALS
    """KuCoin trims trailing zeros and quotes small coins to 10-11 decimals, prices
    and sizes alike."""
    price_decimals: ClassVar[int] = decimals
    size_decimals: ClassVar[int] = decimals

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._endpoint = ""
        self._token = ""
        self._request_id = 0
        self.ticker_checks = 0
        """Tickers whose sequence equalled the book's and whose top of book matched."""
        self.ticker_mismatches = 0
        """Tickers at the book's sequence whose best bid/ask or sizes differed."""
        self.ignored: dict[str, int] = {}
        """Known messages that are not consumed (welcome, ack, candles, ...), by kind."""

    # -- symbols and transport --------------------------------------------------------

    @staticmethod
    def native(symbol: str) -> str:
        """``BTC/USDT`` -> ``BTC-USDT``."""
        return symbol.replace("/", "-")

    @staticmethod
    def unified(native: str) -> str:
        """``BTC-USDT`` -> ``BTC/USDT``."""
        return native.replace("-", "/")

    async def prepare(self, fetch_json: Any) -> None:
        """POST ``/api/v1/bullet-public`` for the token, endpoint and ping interval.

        ``fetch_json(url, method)`` may return the decoded body or an awaitable of
        it. A refused or unreadable answer raises :class:`TemporaryError` (retry).
        """
        url = f"{self.rest_url}/api/v1/bullet-public"
        result = fetch_json(url, "POST")
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, (str, bytes)):
            result = orjson.loads(result)
        try:
            if result.get("code") != "200000":
                raise TemporaryError(f"{url}: KuCoin refused a token: {result!r:.200}")
            data = result["data"]
            server = data["instanceServers"][0]
            self._token = str(data["token"])
            self._endpoint = str(server["endpoint"])
            interval_ms = server.get("pingInterval")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise TemporaryError(f"{url}: unexpected token answer: {exc!r}") from exc
        if isinstance(interval_ms, (int, float)) and interval_ms > 0:
            # The base declares a per-class constant; KuCoin dictates it per token,
            # so this instance shadows it (the collector reads it after prepare()).
            self.ping_interval_s = interval_ms / 1000  # type: ignore[misc]

    def connect_url(self) -> str:
        """``{endpoint}?token=...&connectId=...`` once :meth:`prepare` ran, else ``ws_url``."""
        if not self._token:
            return self.ws_url
        sep = "&" if "?" in self._endpoint else "?"
        connect_id = f"tickerml{self.clock.time_ns()}"
        return f"{self._endpoint}{sep}token={self._token}&connectId={connect_id}"

    def _next_id(self) -> str:
        self._request_id += 1
        return str(self._request_id)

    def subscribe_messages(self) -> list[str]:
        """One subscribe per topic and batch of 100 symbols: level2, ticker and match."""
        natives = [self.native(s) for s in self.symbols]
        topics = ["/market/level2", "/market/ticker"]
        if self.trades:
            topics.append("/market/match")
        out = []
        for topic in topics:
            for i in range(0, len(natives), MAX_TOPICS_PER_SUBSCRIBE):
                batch = ",".join(natives[i : i + MAX_TOPICS_PER_SUBSCRIBE])
                message = {
                    "id": self._next_id(),
                    "type": "subscribe",
                    "topic": f"{topic}:{batch}",
                    "privateChannel": False,
                    "response": True,
                }
                out.append(orjson.dumps(message).decode())
        return out

    def ping_message(self) -> str:
        """``{"id": ..., "type": "ping"}``: KuCoin drops a socket that stays silent."""
        return orjson.dumps({"id": self._next_id(), "type": "ping"}).decode()

    def snapshot_levels(self) -> int:
        """20 when ``depth`` allows (``level2_20``), else 100 (``level2_100``)."""
        return 20 if self.depth <= 20 else PUBLIC_SNAPSHOT_LEVELS

    def snapshot_url(self, symbol: str) -> str:
        """The public partial book: ``level2_20`` when depth allows, else ``level2_100``."""
        size = self.snapshot_levels()
        return f"{self.rest_url}/api/v1/market/orderbook/level2_{size}?symbol={self.native(symbol)}"

    def snapshot_symbol(self, url: str) -> str | None:
        """The unified symbol of a level-2 snapshot URL (v1 partial or v3 full book)."""
        parts = urlsplit(url)
        if "/market/orderbook/level2" not in parts.path:
            return None
        natives = parse_qs(parts.query).get("symbol")
        return self.unified(natives[0]) if natives else None

    # -- messages -------------------------------------------------------------------

    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        """Parse one KuCoin message; never raises for bad input."""
        msg = self._decode(raw)
        if msg is None:
            return
        kind = msg.get("type")
        if kind != "message":
            if type(kind) is str and kind in _KNOWN_REPLIES:
                self.ignored[kind] = self.ignored.get(kind, 0) + 1
            elif kind == "error":
                self.event("", FeedEventKind.REJECTED, str(raw)[:200])
            else:
                self.event("", FeedEventKind.UNKNOWN, f"type {kind!r}: {str(raw)[:120]}")
            return
        topic = msg.get("topic")
        if type(topic) is not str:
            self.event("", _MALFORMED, f"message without topic: {str(raw)[:80]}")
            return
        channel, _, native = topic.partition(":")
        symbol = ""
        try:
            data = msg["data"]
            if channel == "/market/level2":
                symbol = self.unified(data["symbol"])
                self.stats_for(symbol).messages += 1
                self._on_level2(symbol, data, recv_ns)
            elif channel == "/market/ticker":
                symbol = self.unified(native)
                self.stats_for(symbol).messages += 1
                self._on_ticker(symbol, data)
            elif channel == "/market/match":
                symbol = self.unified(data["symbol"])
                self.stats_for(symbol).messages += 1
                self._on_match(symbol, data, recv_ns)
            elif channel in _IGNORED_TOPICS:
                self.ignored[channel] = self.ignored.get(channel, 0) + 1
            else:
                self.event("", FeedEventKind.UNKNOWN, f"topic {topic!r}")
        except BAD_INPUT as exc:
            self.event(symbol, _MALFORMED, f"{channel}: {type(exc).__name__}: {exc}")
            if channel == "/market/level2":
                self._malformed_diff(symbol, "malformed level2 update")

    def _on_level2(self, symbol: str, data: dict[str, Any], recv_ns: int) -> None:
        start, end = data["sequenceStart"], data["sequenceEnd"]
        changes = data["changes"]
        asks, bids = changes["asks"], changes["bids"]
        ts = data.get("time", 0)
        if type(start) is not int or type(end) is not int or start > end:
            raise MessageError(f"bad sequences start={start!r} end={end!r}")
        if type(asks) is not list or type(bids) is not list or type(ts) is not int:
            raise MessageError("changes.asks/bids must be lists and time an integer")
        self._diff(symbol, self._state(symbol), (start, end, asks, bids, ts, recv_ns))

    def _check_diff(self, diff: tuple[Any, ...]) -> None:
        self._check_changes(diff[2], diff[3])

    def _check_changes(self, asks: list[Any], bids: list[Any]) -> None:
        """Parse a diff's changes once before buffering it, so a malformed one is
        reported when it arrives rather than when a snapshot comes in."""
        dec = self.decimals
        for changes in (asks, bids):
            for price, size, seq in changes:
                to_ticks(price, dec), to_ticks(size, dec), int(seq)

    def _apply(self, symbol: str, state: SyncState, diff: Diff) -> None:
        start, end, asks, bids, ts, recv_ns = diff
        book = self.books[symbol]
        dec = self.decimals
        applied = 0
        # Only the diff that straddles the snapshot holds changes the book already
        # has; past it every change is newer, so its sequence need not be parsed.
        floor = state.last_seq if start <= state.last_seq else 0
        for changes, setter in ((asks, book.set_ask), (bids, book.set_bid)):
            for price, size, seq in changes:
                if price == "0" or (floor and int(seq) <= floor):
                    continue
                setter(to_ticks(price, dec), to_ticks(size, dec))
                applied += 1
        self._applied(symbol, state, book, end, ts, recv_ns, applied)

    def _on_ticker(self, symbol: str, data: dict[str, Any]) -> None:
        state = self._loaded_state(symbol)
        if state is None:
            return
        if int(data["sequence"]) != state.last_seq:
            return  # the ticker describes another moment than the book; nothing to compare
        dec = self.decimals
        book = self.books[symbol]
        expected = (
            _level(data["bestBid"], data["bestBidSize"], dec),
            _level(data["bestAsk"], data["bestAskSize"], dec),
        )
        if expected == (book.best_bid(), book.best_ask()):
            self.ticker_checks += 1
            self.stats[symbol].checksums_ok += 1
            return
        self.ticker_mismatches += 1
        self.event(
            symbol,
            FeedEventKind.CHECKSUM_FAILED,
            f"ticker at sequence {state.last_seq}: {expected} != "
            f"{book.best_bid()}/{book.best_ask()}",
        )
        self._resync(symbol, "ticker disagrees with book")

    def _on_match(self, symbol: str, data: dict[str, Any], recv_ns: int) -> None:
        side, price, size = data["side"], data["price"], data["size"]
        if side != "buy" and side != "sell":
            raise MessageError(f"match side {side!r}")
        to_ticks(price, self.decimals)  # validates: plain, non-negative, exact
        to_ticks(size, self.decimals)
        trade = Trade(
            self.name,
            symbol,
            str(data["tradeId"]),
            Decimal(price),
            Decimal(size),
            side,  # KuCoin's match side is the taker's
            int(data["time"]),  # nanoseconds, sent as a string
            recv_ns,
        )
        self.stats[symbol].trades += 1
        self.sink.on_trade(trade)

    # -- snapshots ------------------------------------------------------------------

    def _read_snapshot(self, reply: dict[str, Any]) -> tuple[int, Levels, Levels] | None:
        """A level-2 reply: ``code`` "200000" and ``data`` with ``sequence``, ``bids``, ``asks``."""
        if reply.get("code") != "200000":
            return None
        snap = reply["data"]
        seq = int(snap["sequence"])
        dec = self.decimals
        bids = [(to_ticks(p, dec), to_ticks(s, dec)) for p, s, *_ in snap["bids"]]
        asks = [(to_ticks(p, dec), to_ticks(s, dec)) for p, s, *_ in snap["asks"]]
        return seq, bids, asks

    def _position(self, seq: int) -> str:
        return f"sequence {seq}"


def _level(price: Any, size: Any, decimals: int) -> tuple[int, int] | None:
    """A ticker's (price, size) in ticks; an empty side is None, as in the book."""
    if not price:
        return None
    return to_ticks(price, decimals), to_ticks(size, decimals)
