"""Coinbase public feed: Advanced Trade WebSocket (live default) and legacy ws-feed (recorded).

Advanced Trade (``wss://advanced-trade-ws.coinbase.com``): one subscribe per channel
(``level2``, ``market_trades``, ``heartbeats``); every message carries a
connection-wide ``sequence_num``. A jump means messages were lost, and since we cannot
tell which book they belonged to, every book resubscribes; a number that repeats or
goes backwards is a duplicate or late delivery and is dropped (``sequence_dropped``).
Book messages arrive on channel ``l2_data`` as ``snapshot``/``update`` events of
``{side: bid|offer, price_level, new_quantity}`` (absolute sizes, "0" deletes).

Legacy Coinbase Pro ws-feed (``snapshot``, ``l2update``, ``match``, ``ticker``): its
level2 channel has no sequence numbers, so the only proof of a good book is that it
never crosses; the ticker's best bid/ask is also compared with the book and the
agreement counted in :attr:`CoinbaseFeed.ticker_checks` (ticker and level2 are separate
channels, so a few misses are timing, never a reason to resync).

The protocol is read off the URL, then off each message's shape (``channel`` key:
Advanced Trade; ``type`` key: legacy), so replays of either work.

Prices come with however many decimals the product needs; books use
:data:`shared.book.DEFAULT_DECIMALS` (12), exact for every Coinbase product. A number
with more decimals is malformed and resyncs that book rather than being rounded.

Public trades report the *maker's* side on both protocols; :class:`Trade` wants the
taker's, so it is flipped. Trades from before the subscription (legacy
``last_match``, Advanced Trade ``market_trades`` snapshots) are not emitted: a
reconnect would otherwise print them twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from edge.feeds._parsing import BAD_INPUT as _BAD
from edge.feeds._parsing import iso_to_ns, positive_decimal
from edge.feeds._socket_sync import SocketSyncFeed
from edge.feeds.base import FeedSink, SymbolStats, register
from shared.book import DEFAULT_DECIMALS, OrderBook, to_ticks
from shared.clock import Clock
from shared.errors import MessageError
from shared.marketdata import FeedEventKind, TakerSide, Trade

ADVANCED_URL = "wss://advanced-trade-ws.coinbase.com"
_D = DEFAULT_DECIMALS
_TAKER: dict[str, TakerSide] = {"sell": "buy", "buy": "sell", "SELL": "buy", "BUY": "sell"}


def to_product(symbol: str) -> str:
    """Unified ``BTC/USD`` -> Coinbase ``BTC-USD``."""
    return symbol.replace("/", "-")


def from_product(product: str) -> str:
    """Coinbase ``BTC-USD`` -> unified ``BTC/USD``."""
    return product.replace("-", "/")


@dataclass(slots=True)
class TickerCheck:
    """Legacy ticker best bid/ask vs the book's, per symbol (counted, never acted on)."""

    matched: int = 0
    missed: int = 0


@register
class CoinbaseFeed(SocketSyncFeed):
    """Coinbase books and trades over Advanced Trade or the legacy ws-feed.

    ``protocol`` forces "advanced" or "legacy" instead of reading it off the URL.
    """

    name = "coinbase"
    default_ws_url = ADVANCED_URL

    def __init__(
        self,
        symbols: Sequence[str],
        sink: FeedSink,
        clock: Clock,
        *,
        protocol: Literal["advanced", "legacy"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(symbols, sink, clock, **kwargs)
        self.advanced = protocol == "advanced" if protocol else "ws-feed" not in self.ws_url
        self.ticker_checks: dict[str, TickerCheck] = {}
        self.sequence_dropped = 0
        """Advanced Trade messages dropped because their sequence_num was not new."""
        self._last_seq: int | None = None

    # -- transport hooks -----------------------------------------------------------

    def subscribe_messages(self) -> list[str]:
        """Advanced Trade: level2, market_trades, heartbeats; legacy: level2, ticker, matches."""
        if not self.symbols:
            return []
        ids = [to_product(s) for s in self.symbols]
        if self.advanced:
            channels = ["level2", "market_trades"] if self.trades else ["level2"]
            msgs: list[dict[str, Any]] = [
                {"type": "subscribe", "product_ids": ids, "channel": c} for c in channels
            ]
            # Without heartbeats, quiet channels are closed after 60-90 s.
            msgs.append({"type": "subscribe", "channel": "heartbeats"})
        else:
            names = ["level2", "ticker", "matches"] if self.trades else ["level2", "ticker"]
            msgs = [{"type": "subscribe", "product_ids": ids, "channels": names}]
        return [orjson.dumps(m).decode() for m in msgs]

    def on_disconnect(self, recv_ns: int) -> None:
        super().on_disconnect(recv_ns)
        self._last_seq = None  # sequence_num counts per connection

    def on_sent(self, message: str, ts_ns: int) -> None:
        """A recorded subscribe tells a replay which protocol it holds."""
        try:
            msg = orjson.loads(message)
        except orjson.JSONDecodeError:
            return  # what we sent is not the exchange's data: nothing to count
        if isinstance(msg, dict):
            if "channels" in msg:
                self.advanced = False
            elif "channel" in msg:
                self.advanced = True

    # -- dispatch --------------------------------------------------------------------

    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        """Parse one message; never raises: bad input is counted and, for a book, resynced."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._connection_event(FeedEventKind.MALFORMED, f"not JSON: {exc}")
            return
        if not isinstance(msg, dict):
            self._connection_event(FeedEventKind.UNKNOWN, f"not an object: {str(msg)[:80]}")
            return
        try:
            if "channel" in msg:
                self.advanced = True
                self._on_advanced(msg, recv_ns)
            elif "type" in msg:
                self._on_legacy(msg, recv_ns)
            else:
                self._connection_event(FeedEventKind.UNKNOWN, f"unknown message {str(msg)[:80]}")
        except _BAD as exc:
            self._connection_event(FeedEventKind.MALFORMED, f"{type(exc).__name__}: {exc}")

    def _stats(self, product: Any) -> tuple[str, SymbolStats] | None:
        """(symbol, stats) of a product we follow, counting the message; None otherwise."""
        symbol = from_product(str(product))
        if not self._accepts(symbol):
            self._connection_event(FeedEventKind.UNKNOWN, f"product {product!r} not subscribed")
            return None
        stats = self.stats_for(symbol)
        stats.messages += 1
        return symbol, stats

    # -- legacy ws-feed ----------------------------------------------------------------

    def _on_legacy(self, msg: dict[str, Any], recv_ns: int) -> None:
        kind = msg["type"]
        if kind in ("subscriptions", "heartbeat"):
            return
        if kind == "error":
            self._connection_event(FeedEventKind.REJECTED, f"{msg.get('message')}: "
                                   f"{msg.get('reason', '')}")
            return
        found = self._stats(msg.get("product_id"))
        if found is None:
            return
        symbol, stats = found
        if kind == "l2update":
            self._legacy_update(symbol, msg, stats, recv_ns)
        elif kind == "snapshot":
            try:
                bids = [(to_ticks(p, _D), to_ticks(s, _D)) for p, s in msg["bids"]]
                asks = [(to_ticks(p, _D), to_ticks(s, _D)) for p, s in msg["asks"]]
            except _BAD as exc:
                self._fail(symbol, FeedEventKind.MALFORMED, f"snapshot: {exc}")
                return
            self._load(symbol, bids, asks, stats, recv_ns)
        elif kind == "match":
            self._trade(symbol, msg, stats, recv_ns)
        elif kind == "ticker":
            self._check_ticker(symbol, msg)
        elif kind != "last_match":
            self.event(symbol, FeedEventKind.UNKNOWN, f"message type {kind!r}")

    def _legacy_update(
        self, symbol: str, msg: dict[str, Any], stats: SymbolStats, recv_ns: int
    ) -> None:
        book = self._synced_book(symbol, stats)
        if book is None:
            return
        n = 0
        try:
            for side, price, size in msg["changes"]:
                if side == "buy":
                    book.set_bid(to_ticks(price, _D), to_ticks(size, _D))
                elif side == "sell":
                    book.set_ask(to_ticks(price, _D), to_ticks(size, _D))
                else:
                    raise MessageError(f"side {side!r}")
                n += 1
            book.ts_exchange_ns = iso_to_ns(msg["time"])
        except _BAD as exc:
            self._fail(symbol, FeedEventKind.MALFORMED, f"l2update: {exc}")
            return
        stats.level_updates += n
        self._publish(symbol, book, recv_ns)

    def _check_ticker(self, symbol: str, msg: dict[str, Any]) -> None:
        if symbol not in self._synced:
            return
        book = self.books[symbol]
        check = self.ticker_checks.get(symbol)
        if check is None:
            check = self.ticker_checks[symbol] = TickerCheck()
        try:
            same = (to_ticks(msg["best_bid"], _D) == book.best_bid_price()
                    and to_ticks(msg["best_ask"], _D) == book.best_ask_price())
        except _BAD as exc:
            self.event(symbol, FeedEventKind.MALFORMED, f"ticker: {exc}")
            return
        if same:
            check.matched += 1
        else:
            check.missed += 1

    # -- Advanced Trade ----------------------------------------------------------------

    def _on_advanced(self, msg: dict[str, Any], recv_ns: int) -> None:
        seq = msg.get("sequence_num")
        if not isinstance(seq, int) or isinstance(seq, bool):
            self._connection_event(FeedEventKind.MALFORMED, f"sequence_num {seq!r}; dropped")
            return
        last = self._last_seq
        if last is not None:
            if seq <= last:
                self.sequence_dropped += 1
                return
            if seq != last + 1:
                self._last_seq = seq
                self._gap(last, seq)
        self._last_seq = seq
        channel = msg["channel"]
        if channel == "l2_data":
            for event in msg["events"]:
                self._l2_event(event, recv_ns)
        elif channel == "market_trades":
            for event in msg["events"]:
                if event.get("type") == "update":
                    for row in event["trades"]:
                        found = self._stats(row.get("product_id"))
                        if found is not None:
                            self._trade(found[0], row, found[1], recv_ns)
        elif channel not in ("heartbeats", "subscriptions"):
            self._connection_event(FeedEventKind.UNKNOWN, f"channel {channel!r}")

    def _gap(self, last: int, seq: int) -> None:
        """Lost messages may have touched any book: resync them all in one resubscribe."""
        self._connection_event(FeedEventKind.GAP, f"sequence_num {last} -> {seq}")
        symbols = list(self.books)
        for symbol in symbols:
            self.event(symbol, FeedEventKind.GAP, f"sequence_num {last} -> {seq}")
            self.mark_unsynced(symbol)
            self.event(symbol, FeedEventKind.RESYNC, "connection sequence gap")
        if symbols:
            self._resubscribe(symbols)

    def _l2_event(self, event: dict[str, Any], recv_ns: int) -> None:
        found = self._stats(event.get("product_id"))
        if found is None:
            return
        symbol, stats = found
        kind = event.get("type")
        if kind == "update":
            book = self._synced_book(symbol, stats)
            if book is None:
                return
            n = 0
            try:
                for u in event["updates"]:
                    side = u["side"]
                    price, size = to_ticks(u["price_level"], _D), to_ticks(u["new_quantity"], _D)
                    if side == "bid":
                        book.set_bid(price, size)
                    elif side == "offer":
                        book.set_ask(price, size)
                    else:
                        raise MessageError(f"side {side!r}")
                    n += 1
            except _BAD as exc:
                self._fail(symbol, FeedEventKind.MALFORMED, f"level2 update: {exc}")
                return
            stats.level_updates += n
            self._publish(symbol, book, recv_ns)
        elif kind == "snapshot":
            bids, asks = [], []
            try:
                for u in event["updates"]:
                    level = (to_ticks(u["price_level"], _D), to_ticks(u["new_quantity"], _D))
                    if u["side"] == "bid":
                        bids.append(level)
                    elif u["side"] == "offer":
                        asks.append(level)
                    else:
                        raise MessageError(f"side {u['side']!r}")
            except _BAD as exc:
                self._fail(symbol, FeedEventKind.MALFORMED, f"level2 snapshot: {exc}")
                return
            self._load(symbol, bids, asks, stats, recv_ns)
        else:
            self.event(symbol, FeedEventKind.UNKNOWN, f"level2 event {kind!r}")

    # -- shared by both protocols --------------------------------------------------------

    def _trade(self, symbol: str, row: dict[str, Any], stats: SymbolStats, recv_ns: int) -> None:
        try:
            side = _TAKER[row["side"]]
            trade = Trade(
                self.name, symbol, str(row["trade_id"]), positive_decimal(row["price"]),
                positive_decimal(row["size"]), side, iso_to_ns(row["time"]), recv_ns,
            )
        except _BAD as exc:
            self.event(symbol, FeedEventKind.MALFORMED, f"trade: {exc}")
            return
        stats.trades += 1
        self.sink.on_trade(trade)

    def _load(
        self, symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]],
        stats: SymbolStats, recv_ns: int,
    ) -> None:
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = OrderBook(self.name, symbol)
        try:
            book.load_snapshot(bids, asks)
        except _BAD as exc:
            self._fail(symbol, FeedEventKind.MALFORMED, f"snapshot: {exc}")
            return
        self._loaded(symbol, book, stats)
        self._publish(symbol, book, recv_ns)

    def _resubscribe(self, symbols: list[str]) -> None:
        """Unsubscribe and subscribe level2 again: Coinbase answers with a fresh snapshot
        (a REST book could not be bridged with the socket's updates)."""
        ids = [to_product(s) for s in symbols]
        for action in ("unsubscribe", "subscribe"):
            if self.advanced:
                msg: dict[str, Any] = {"type": action, "product_ids": ids, "channel": "level2"}
            else:
                msg = {"type": action, "product_ids": ids, "channels": ["level2"]}
            self.sink.send(self, orjson.dumps(msg).decode())
