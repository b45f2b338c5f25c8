"""Kraken spot public feed: WebSocket v2 (the live default) and v1 (the recorded data).

Both versions keep an L2 book from a WebSocket snapshot plus incremental updates and
prove it after every update with Kraken's CRC32 over the top 10 asks then the top 10
bids (:func:`shared.checksums.kraken`). A mismatch, a crossed book or a malformed
update unsubscribes and resubscribes that one symbol; its updates are discarded until
the new snapshot arrives.

Which version is spoken is decided by the URL (a path ending in ``/v2``, or the
``protocol`` option) and then by the traffic itself: arrays and ``"event"`` objects are
v1, ``"channel"``/``"method"`` objects are v2, so a replay of either recording works.

Precision, which the checksum depends on:

* v1 sends prices and volumes as strings already formatted to the pair's decimals, so
  the book takes its decimals from the snapshot's strings and ``str(ticks)`` is the
  string as sent, "." removed, leading zeros stripped.
* v2 sends JSON numbers, and the checksum formats them to the pair's
  ``price_precision``/``qty_precision``. These come, in order of preference, from the
  ``instrument`` channel (subscribed first on every v2 connection), from the
  ``precisions`` constructor option, or, when neither has spoken for a pair yet, from
  the snapshot itself: the precisions that reproduce the snapshot's own checksum.

Subscription limits: Kraken documents no fixed number of pairs per connection; its
message rate limit is dynamic (the server answers ``Exceeded msg rate``). We cap a
socket at 50 pairs so that a subscribe stays one small message, a depth-1000 snapshot
burst stays bounded on a Pi, and the collector spreads more pairs over more sockets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import orjson

from edge.feeds._kraken_wire import (
    ASSET_ALIASES,
    DEPTHS,
    V2_URL,
    from_v1_pair,
    infer_precision,
    kraken_depth,
    str_decimals,
    to_v1_pair,
    v1_message,
    v2_message,
)
from edge.feeds._parsing import BAD_INPUT as _BAD
from edge.feeds._parsing import iso_to_ns, positive_decimal, seconds_to_ns, truncate
from edge.feeds._socket_sync import SocketSyncFeed
from edge.feeds.base import FeedSink, SymbolStats, register
from shared import checksums
from shared.book import OrderBook, float_to_ticks, to_ticks
from shared.clock import Clock
from shared.errors import ConfigError, MessageError
from shared.marketdata import FeedEventKind, Trade


@register
class KrakenFeed(SocketSyncFeed):
    """Kraken spot books (checksummed) and trades over WebSocket v2 or v1.

    ``precisions`` maps unified symbols to (price_precision, qty_precision) for v2
    when the ``instrument`` channel is not wanted (``instrument=False``) or has not
    answered yet. ``protocol`` forces "v1" or "v2" instead of reading it off the URL.
    """

    name = "kraken"
    default_ws_url = V2_URL
    max_symbols_per_connection: ClassVar[int] = 50
    max_exact_depth: ClassVar[int | None] = DEPTHS[-1]
    """Kraken's deepest book subscription; its checksum keeps that many levels exact."""
    asset_aliases: ClassVar[Mapping[str, str]] = ASSET_ALIASES

    def __init__(
        self,
        symbols: Sequence[str],
        sink: FeedSink,
        clock: Clock,
        *,
        depth: int = 1000,
        precisions: Mapping[str, tuple[int, int]] | None = None,
        instrument: bool = True,
        protocol: Literal["v1", "v2"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(symbols, sink, clock, depth=kraken_depth(depth), **kwargs)
        if len(self.symbols) > self.max_symbols_per_connection:
            raise ConfigError(
                f"kraken: {len(self.symbols)} symbols on one connection; at most "
                f"{self.max_symbols_per_connection} (open more connections)"
            )
        self.v2 = protocol == "v2" if protocol else self.ws_url.rstrip("/").endswith("/v2")
        self.precisions: dict[str, tuple[int, int]] = dict(precisions or {})
        self.instrument = instrument
        self._depths: dict[str, int] = {}
        self._channels: dict[int, tuple[str, str]] = {}  # v1 channelID -> (name, symbol)

    # -- transport hooks -----------------------------------------------------------

    def subscribe_messages(self) -> list[str]:
        """v2: instrument (for precisions), book, trade; v1: book, trade."""
        if not self.symbols:
            return []
        if self.v2:
            msgs: list[str] = []
            if self.instrument:
                msgs.append(v2_message("subscribe", channel="instrument", snapshot=True))
            msgs.append(v2_message("subscribe", channel="book", symbol=self.symbols,
                                   depth=self.depth, snapshot=True))
            if self.trades:
                # No trade snapshot: those 50 prints predate the subscription.
                msgs.append(v2_message("subscribe", channel="trade", symbol=self.symbols,
                                       snapshot=False))
        else:
            pairs = [to_v1_pair(s) for s in self.symbols]
            msgs = [v1_message("subscribe", pairs, {"name": "book", "depth": self.depth})]
            if self.trades:
                msgs.append(v1_message("subscribe", pairs, {"name": "trade"}))
        return msgs

    def ping_message(self) -> str | None:
        """Kraken's application ping (``pong`` comes back)."""
        return '{"method":"ping"}' if self.v2 else '{"event":"ping"}'

    def on_disconnect(self, recv_ns: int) -> None:
        super().on_disconnect(recv_ns)
        self._channels.clear()  # v1 channel ids belong to the connection

    def on_sent(self, message: str, ts_ns: int) -> None:
        """A recorded subscribe tells a replay the version and the subscribed depth."""
        try:
            msg = orjson.loads(message)
            if not isinstance(msg, dict):
                return
            if "event" in msg:
                self.v2 = False
                depth = msg.get("subscription", {}).get("depth")
                names = [from_v1_pair(p) for p in msg.get("pair", ())]
            else:
                self.v2 = True
                params = msg.get("params", {})
                depth = params.get("depth") if params.get("channel") == "book" else None
                names = list(params.get("symbol", ()))
            if isinstance(depth, int):
                for name in names:
                    self._depths[name] = depth
        except _BAD:
            return  # what we sent is not the exchange's data: nothing to count

    # -- dispatch --------------------------------------------------------------------

    def on_message(self, raw: str | bytes, recv_ns: int) -> None:
        """Parse one message; never raises: bad input is counted and, for a book, resynced."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._connection_event(FeedEventKind.MALFORMED, f"not JSON: {exc}")
            return
        try:
            if isinstance(msg, list):
                self.v2 = False
                self._on_v1_array(msg, recv_ns)
            elif isinstance(msg, dict) and ("channel" in msg or "method" in msg):
                self.v2 = True
                self._on_v2(msg, recv_ns)
            elif isinstance(msg, dict) and "event" in msg:
                self.v2 = False
                self._on_v1_event(msg)
            else:
                self._connection_event(FeedEventKind.UNKNOWN, f"unknown message {str(msg)[:80]}")
        except _BAD as exc:
            self._connection_event(FeedEventKind.MALFORMED, f"{type(exc).__name__}: {exc}")

    # -- v1 --------------------------------------------------------------------------

    def _on_v1_event(self, msg: dict[str, Any]) -> None:
        event = msg["event"]
        if event in ("heartbeat", "pong", "systemStatus"):
            return
        if event != "subscriptionStatus":
            self._connection_event(FeedEventKind.UNKNOWN, f"v1 event {event!r}")
            return
        symbol = from_v1_pair(str(msg.get("pair", "")))
        status = msg.get("status")
        if status == "subscribed":
            name = str(msg["channelName"])
            self._channels[int(msg["channelID"])] = (name, symbol)
            if name.startswith("book-"):
                self._depths[symbol] = int(name[5:])
            self.event(symbol, FeedEventKind.SUBSCRIBED, name)
        elif status == "unsubscribed":
            self._channels.pop(int(msg.get("channelID", -1)), None)
        elif status == "error":
            self.event(symbol, FeedEventKind.REJECTED, str(msg.get("errorMessage", "")))

    def _on_v1_array(self, msg: list[Any], recv_ns: int) -> None:
        if len(msg) < 4 or not isinstance(msg[-1], str) or not isinstance(msg[-2], str):
            self._connection_event(FeedEventKind.MALFORMED, f"v1 array {str(msg)[:80]}")
            return
        symbol = from_v1_pair(msg[-1])
        if not self._accepts(symbol):
            self._connection_event(FeedEventKind.UNKNOWN, f"pair {msg[-1]} not subscribed")
            return
        stats = self.stats_for(symbol)
        stats.messages += 1
        known = self._channels.get(msg[0])
        if known is None or known[1] != symbol:
            if symbol in self.books and symbol not in self._synced:
                stats.stale_dropped += 1  # a late message from the channel we just left
            else:
                self.event(symbol, FeedEventKind.UNKNOWN,
                           f"channel id {msg[0]!r} was never announced; message dropped")
            return
        if known[0].startswith("book"):
            self._on_v1_book(symbol, msg, known[0], stats, recv_ns)
        elif known[0] == "trade":
            self._on_v1_trades(symbol, msg[1], stats, recv_ns)
        else:
            self.event(symbol, FeedEventKind.UNKNOWN, f"channel {known[0]!r}")

    def _on_v1_book(
        self, symbol: str, msg: list[Any], name: str, stats: SymbolStats, recv_ns: int
    ) -> None:
        first = msg[1]
        if "as" in first or "bs" in first:
            self._v1_snapshot(symbol, first, int(name[5:]), stats, recv_ns)
            return
        book = self._synced_book(symbol, stats)
        if book is None:
            return
        pd, sd = book.price_decimals, book.size_decimals
        checksum: int | None = None
        n = 0
        try:
            for part in msg[1:-2]:
                for level in part.get("a", ()):
                    book.set_ask(to_ticks(level[0], pd), to_ticks(level[1], sd))
                    n += 1
                for level in part.get("b", ()):
                    book.set_bid(to_ticks(level[0], pd), to_ticks(level[1], sd))
                    n += 1
                if "c" in part:
                    checksum = int(part["c"])
        except _BAD as exc:
            self._fail(symbol, FeedEventKind.MALFORMED, f"book update: {exc}")
            return
        truncate(book, self._depths.get(symbol, self.depth))
        stats.level_updates += n
        self._verify(symbol, book, checksum, stats, recv_ns)

    def _v1_snapshot(
        self, symbol: str, data: dict[str, Any], depth: int, stats: SymbolStats, recv_ns: int
    ) -> None:
        try:
            asks, bids = data.get("as", []), data.get("bs", [])
            both = asks + bids
            # Strings arrive at the pair's decimals; the checksum is those strings.
            pd = max((str_decimals(x[0]) for x in both), default=0)
            sd = max((str_decimals(x[1]) for x in both), default=0)
            book = self._book(symbol, pd, sd)
            book.load_snapshot(
                [(to_ticks(x[0], pd), to_ticks(x[1], sd)) for x in bids],
                [(to_ticks(x[0], pd), to_ticks(x[1], sd)) for x in asks],
            )
        except _BAD as exc:
            self._fail(symbol, FeedEventKind.MALFORMED, f"book snapshot: {exc}")
            return
        self._depths[symbol] = depth
        self._snapshot_loaded(symbol, book, stats, recv_ns, None)

    def _on_v1_trades(self, symbol: str, rows: Any, stats: SymbolStats, recv_ns: int) -> None:
        for i, row in enumerate(rows):
            try:
                price, volume, ts, side = row[0], row[1], row[2], row[3]
                if side not in ("b", "s"):
                    raise MessageError(f"side {side!r}")
                # v1 trades carry no id until the 7th field was added; the recorded
                # ones have 6, so the id is built from what identifies the print.
                trade_id = str(row[6]) if len(row) > 6 else f"{ts}-{side}-{price}-{volume}-{i}"
                trade = Trade(
                    self.name, symbol, trade_id, positive_decimal(price), positive_decimal(volume),
                    "buy" if side == "b" else "sell", seconds_to_ns(ts), recv_ns,
                )
            except _BAD as exc:
                self.event(symbol, FeedEventKind.MALFORMED, f"trade: {exc}")
                continue
            stats.trades += 1
            self.sink.on_trade(trade)

    # -- v2 --------------------------------------------------------------------------

    def _on_v2(self, msg: dict[str, Any], recv_ns: int) -> None:
        channel = msg.get("channel")
        if channel == "book":
            kind = msg.get("type")
            for item in msg["data"]:
                symbol = item["symbol"]
                if not self._accepts(symbol):
                    self._connection_event(FeedEventKind.UNKNOWN, f"book for {symbol!r}")
                    continue
                stats = self.stats_for(symbol)
                stats.messages += 1
                if kind == "update":
                    self._v2_update(symbol, item, stats, recv_ns)
                elif kind == "snapshot":
                    self._v2_snapshot(symbol, item, stats, recv_ns)
                else:
                    self.event(symbol, FeedEventKind.UNKNOWN, f"book type {kind!r}")
        elif channel == "trade":
            self._on_v2_trades(msg, recv_ns)
        elif channel in ("heartbeat", "status"):
            return
        elif channel == "instrument":
            self._on_instrument(msg["data"])
        elif channel is None and msg.get("method") in ("subscribe", "unsubscribe"):
            self._on_v2_ack(msg)
        elif channel is None and msg.get("method") == "pong":
            return
        else:
            self._connection_event(FeedEventKind.UNKNOWN, f"v2 {channel or msg.get('method')!r}")

    def _on_v2_ack(self, msg: dict[str, Any]) -> None:
        result = msg.get("result") or {}
        symbol = str(result.get("symbol") or msg.get("symbol") or "")
        if not msg.get("success"):
            detail = f"{msg.get('method')}: {msg.get('error')}"
            if symbol and symbol in self.stats:
                self.event(symbol, FeedEventKind.REJECTED, detail)
            else:
                self._connection_event(FeedEventKind.REJECTED, f"{symbol} {detail}")
        elif msg.get("method") == "subscribe" and result.get("channel") == "book":
            if isinstance(result.get("depth"), int):
                self._depths[symbol] = result["depth"]
            self.event(symbol, FeedEventKind.SUBSCRIBED, "book")

    def _on_instrument(self, data: dict[str, Any]) -> None:
        for pair in data.get("pairs", ()):
            symbol = pair["symbol"]
            precision = (int(pair["price_precision"]), int(pair["qty_precision"]))
            self.precisions[symbol] = precision
            book = self.books.get(symbol)
            if book is not None and symbol in self._synced and (
                (book.price_decimals, book.size_decimals) != precision
            ):
                self.resync(symbol, f"pair precision changed to {precision}")

    def _v2_snapshot(
        self, symbol: str, item: dict[str, Any], stats: SymbolStats, recv_ns: int
    ) -> None:
        try:
            checksum = int(item["checksum"])
            bids, asks = item["bids"], item["asks"]
            precision = self.precisions.get(symbol)
            if precision is None:
                precision = infer_precision(bids, asks, checksum)
                if precision is None:
                    self._fail(symbol, FeedEventKind.CHECKSUM_FAILED,
                               "no price/qty precision reproduces the snapshot checksum")
                    return
                self.precisions[symbol] = precision
            pd, sd = precision
            book = self._book(symbol, pd, sd)
            book.load_snapshot(
                [(float_to_ticks(x["price"], pd), float_to_ticks(x["qty"], sd)) for x in bids],
                [(float_to_ticks(x["price"], pd), float_to_ticks(x["qty"], sd)) for x in asks],
            )
        except _BAD as exc:
            self._fail(symbol, FeedEventKind.MALFORMED, f"book snapshot: {exc}")
            return
        self._snapshot_loaded(symbol, book, stats, recv_ns, checksum)

    def _v2_update(
        self, symbol: str, item: dict[str, Any], stats: SymbolStats, recv_ns: int
    ) -> None:
        book = self._synced_book(symbol, stats)
        if book is None:
            return
        pd, sd = book.price_decimals, book.size_decimals
        n = 0
        try:
            for level in item["asks"]:
                book.set_ask(float_to_ticks(level["price"], pd), float_to_ticks(level["qty"], sd))
                n += 1
            for level in item["bids"]:
                book.set_bid(float_to_ticks(level["price"], pd), float_to_ticks(level["qty"], sd))
                n += 1
            checksum = int(item["checksum"])
            if "timestamp" in item:
                book.ts_exchange_ns = iso_to_ns(item["timestamp"])
        except _BAD as exc:
            self._fail(symbol, FeedEventKind.MALFORMED, f"book update: {exc}")
            return
        truncate(book, self._depths.get(symbol, self.depth))
        stats.level_updates += n
        self._verify(symbol, book, checksum, stats, recv_ns)

    def _on_v2_trades(self, msg: dict[str, Any], recv_ns: int) -> None:
        if msg.get("type") != "update":
            return  # a trade snapshot replays prints from before the subscription
        for row in msg["data"]:
            symbol = str(row.get("symbol"))
            if not self._accepts(symbol):
                self._connection_event(FeedEventKind.UNKNOWN, f"trade for {symbol!r}")
                continue
            stats = self.stats_for(symbol)
            stats.messages += 1
            try:
                side = row["side"]
                if side not in ("buy", "sell"):
                    raise MessageError(f"side {side!r}")
                trade = Trade(
                    self.name, symbol, str(row["trade_id"]), positive_decimal(row["price"]),
                    positive_decimal(row["qty"]), side, iso_to_ns(row["timestamp"]), recv_ns,
                )
            except _BAD as exc:
                self.event(symbol, FeedEventKind.MALFORMED, f"trade: {exc}")
                continue
            stats.trades += 1
            self.sink.on_trade(trade)

    # -- book sync, shared by both versions ------------------------------------------

    def _book(self, symbol: str, price_decimals: int, size_decimals: int) -> OrderBook:
        book = self.books.get(symbol)
        if book is None or (book.price_decimals, book.size_decimals) != (
            price_decimals, size_decimals
        ):
            # depth=None: Kraken truncates after the whole message, not per level.
            book = OrderBook(self.name, symbol, price_decimals=price_decimals,
                             size_decimals=size_decimals)
            self.books[symbol] = book
        return book

    def _snapshot_loaded(
        self, symbol: str, book: OrderBook, stats: SymbolStats, recv_ns: int,
        checksum: int | None,
    ) -> None:
        truncate(book, self._depths.get(symbol, self.depth))
        self._loaded(symbol, book, stats)
        if checksum is None:  # v1 snapshots carry none
            self._publish(symbol, book, recv_ns)
        else:
            self._verify(symbol, book, checksum, stats, recv_ns)

    def _verify(
        self, symbol: str, book: OrderBook, checksum: int | None, stats: SymbolStats,
        recv_ns: int,
    ) -> None:
        if checksum is None:
            self._fail(symbol, FeedEventKind.MALFORMED, "book update without a checksum")
            return
        local = checksums.kraken(book)
        if local != checksum:
            self._fail(symbol, FeedEventKind.CHECKSUM_FAILED,
                       f"exchange {checksum}, local {local}")
            return
        stats.checksums_ok += 1
        self._publish(symbol, book, recv_ns)

    def _resubscribe(self, symbols: list[str]) -> None:
        """Unsubscribe and subscribe each symbol's book again, at the depth it had, which
        Kraken answers with a snapshot (the socket's updates carry no sequence a REST
        book could be bridged with). One symbol at a time: depths may differ."""
        for symbol in symbols:
            depth = self._depths.get(symbol, self.depth)
            if self.v2:
                msgs = [
                    v2_message("unsubscribe", channel="book", symbol=[symbol], depth=depth),
                    v2_message("subscribe", channel="book", symbol=[symbol], depth=depth,
                               snapshot=True),
                ]
            else:
                pair = [to_v1_pair(symbol)]
                sub = {"name": "book", "depth": depth}
                msgs = [v1_message("unsubscribe", pair, sub), v1_message("subscribe", pair, sub)]
            for msg in msgs:
                self.sink.send(self, msg)


