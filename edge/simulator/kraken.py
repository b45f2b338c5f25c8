"""Kraken WebSocket v2 wire format for the simulated market.

A client talks to it as to ``wss://ws.kraken.com/v2``: it receives a ``status``
message on connect, subscribes with ``{"method": "subscribe", "params":
{"channel": "book", "symbol": [...], "depth": N}}`` (also ``trade`` and
``instrument``), gets an acknowledgement, a ``book`` snapshot and then one update
per model event, each with the CRC32 ``checksum`` of the top ten levels of *its*
book truncated to the depth it asked for. ``{"method": "ping"}`` is answered with
a ``pong`` and idle sockets get a ``heartbeat`` each second.

Prices and quantities are JSON numbers printed with exactly the pair's
``price_precision`` / ``qty_precision`` decimals (``"qty":0.50000000``), which is
how Kraken "pushes full precision onto the wire" so a client parsing with
``Decimal`` can rebuild the checksum strings.

Depth truncation: the client keeps only the best ``depth`` levels and Kraken sends
no deletion for a level pushed out of range, but it must send a level that comes
into range when one above it goes. Each (symbol, depth) therefore has a mirror of
the client's book; an update is the difference between the model's top ``depth``
levels and that mirror, deletions first, so the client never holds more than
``depth`` levels mid-message.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from edge.simulator.model import MarketEvent, MarketModel, TradeTick
from shared.book import Level, OrderBook, ticks_to_str
from shared.checksums import kraken as kraken_checksum

DEPTHS = (10, 25, 100, 500, 1000)
"""The book depths Kraken v2 accepts."""
RECENT_TRADES = 50
API_VERSION = "v2"
VERSION = "2.0.10"
HEARTBEAT = '{"channel":"heartbeat"}'

Key = tuple[str, str, int]
"""(channel, symbol, depth) a message is published on; depth is 0 for trades."""


def rfc3339(ts_ns: int) -> str:
    """``2024-01-01T00:00:00.123456Z``, Kraken v2's timestamp format."""
    seconds, micros = divmod(ts_ns // 1000, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def _levels(levels: list[Level], pd: int, sd: int) -> str:
    return ",".join(
        f'{{"price":{ticks_to_str(p, pd)},"qty":{ticks_to_str(s, sd)}}}' for p, s in levels
    )


class KrakenBookView:
    """The book a client subscribed at ``depth`` holds, kept level for level."""

    def __init__(self, symbol: str, depth: int, source: OrderBook) -> None:
        self.symbol = symbol
        self.depth = depth
        self.source = source
        self.mirror = OrderBook(
            "kraken",
            symbol,
            price_decimals=source.price_decimals,
            size_decimals=source.size_decimals,
        )
        self.mirror.load_snapshot(source.top_bids(depth), source.top_asks(depth))

    def checksum(self) -> int:
        return kraken_checksum(self.mirror)

    def _side(
        self,
        changed: dict[int, int],
        source_count: int,
        top: Callable[[int], list[Level]],
        mine: dict[int, int],
        setter: Callable[[int, int], None],
    ) -> list[Level]:
        n = self.depth
        if len(mine) < n and source_count <= n:
            # The whole side was and still is in range: every change is visible.
            out = [(p, 0) for p, s in changed.items() if not s and p in mine]
            out += [(p, s) for p, s in changed.items() if s]
        else:
            best = dict(top(n))
            out = [(p, 0) for p in mine if p not in best]
            out += [(p, s) for p, s in best.items() if mine.get(p) != s]
        for p, s in out:
            setter(p, s)
        return out

    def update(self, ev: MarketEvent) -> tuple[list[Level], list[Level]]:
        """The levels to send for ``ev`` (already applied to the source book)."""
        src, mirror = self.source, self.mirror
        bids = (
            self._side(ev.bids, len(src.bids), src.top_bids, mirror.bids, mirror.set_bid)
            if ev.bids
            else []
        )
        asks = (
            self._side(ev.asks, len(src.asks), src.top_asks, mirror.asks, mirror.set_ask)
            if ev.asks
            else []
        )
        return bids, asks

    def snapshot_message(self, ts_ns: int) -> str:
        m = self.mirror
        pd, sd = m.price_decimals, m.size_decimals
        bids = _levels(m.top_bids(self.depth), pd, sd)
        asks = _levels(m.top_asks(self.depth), pd, sd)
        return (
            f'{{"channel":"book","type":"snapshot","data":[{{"symbol":"{self.symbol}",'
            f'"bids":[{bids}],"asks":[{asks}],"checksum":{self.checksum()},'
            f'"timestamp":"{rfc3339(ts_ns)}"}}]}}'
        )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for every session subscribed to ``key``."""

    key: Key
    text: str
    checksum: int | None = None


class KrakenMarket:
    """Kraken's view of a simulated market, shared by every connection."""

    def __init__(self, market: MarketModel) -> None:
        self.market = market
        self.views: dict[tuple[str, int], KrakenBookView] = {}
        self._views_by_symbol: dict[str, list[KrakenBookView]] = {s: [] for s in market.symbols}
        self.recent: dict[str, deque[str]] = {
            s: deque(maxlen=RECENT_TRADES) for s in market.symbols
        }
        self._next_connection = 1

    def connection_id(self) -> int:
        cid = self._next_connection
        self._next_connection += 1
        return cid

    def view(self, symbol: str, depth: int) -> KrakenBookView:
        """The (shared) view of ``symbol`` at ``depth``, created at the current book."""
        key = (symbol, depth)
        view = self.views.get(key)
        if view is None:
            view = self.views[key] = KrakenBookView(symbol, depth, self.market.book(symbol))
            self._views_by_symbol[symbol].append(view)
        return view

    def _trade(self, symbol: str, t: TradeTick, ts: str, pd: int, sd: int) -> str:
        side = "buy" if t.buyer_taker else "sell"
        return (
            f'{{"symbol":"{symbol}","side":"{side}","price":{ticks_to_str(t.price, pd)},'
            f'"qty":{ticks_to_str(t.size, sd)},"ord_type":"market","trade_id":{t.trade_id},'
            f'"timestamp":"{ts}"}}'
        )

    def on_event(self, ev: MarketEvent) -> list[Outgoing]:
        """The messages one model event produces, per subscription key."""
        out: list[Outgoing] = []
        symbol = ev.symbol
        views = self._views_by_symbol[symbol]
        ts = rfc3339(ev.ts_ns) if (views or ev.trades) else ""
        for view in views:
            bids, asks = view.update(ev)
            if not (bids or asks):
                continue
            m = view.mirror
            pd, sd = m.price_decimals, m.size_decimals
            checksum = view.checksum()
            out.append(
                Outgoing(
                    ("book", symbol, view.depth),
                    f'{{"channel":"book","type":"update","data":[{{"symbol":"{symbol}",'
                    f'"bids":[{_levels(bids, pd, sd)}],"asks":[{_levels(asks, pd, sd)}],'
                    f'"checksum":{checksum},"timestamp":"{ts}"}}]}}',
                    checksum,
                )
            )
        if ev.trades:
            book = self.market.book(symbol)
            pd, sd = book.price_decimals, book.size_decimals
            items = [self._trade(symbol, t, ts, pd, sd) for t in ev.trades]
            self.recent[symbol].extend(items)
            out.append(
                Outgoing(
                    ("trade", symbol, 0),
                    f'{{"channel":"trade","type":"update","data":[{",".join(items)}]}}',
                )
            )
        return out

    def instrument_snapshot(self) -> str:
        """The ``instrument`` channel snapshot: assets and pairs with their precisions."""
        assets: dict[str, str] = {}
        pairs = []
        for symbol in self.market.symbols:
            book = self.market.book(symbol)
            pd, sd = book.price_decimals, book.size_decimals
            base, _, quote = symbol.partition("/")
            for asset in (base, quote):
                assets.setdefault(
                    asset,
                    f'{{"id":"{asset}","status":"enabled","precision":10,'
                    f'"precision_display":5,"borrowable":false,"collateral_value":0.0,'
                    f'"margin_rate":0.0}}',
                )
            tick, lot = ticks_to_str(1, pd), ticks_to_str(1, sd)
            pairs.append(
                f'{{"symbol":"{symbol}","base":"{base}","quote":"{quote}","status":"online",'
                f'"qty_precision":{sd},"qty_increment":{lot},"price_precision":{pd},'
                f'"cost_precision":5,"marginable":false,"has_index":true,"cost_min":0.5,'
                f'"tick_size":{tick},"price_increment":{tick},"qty_min":{lot}}}'
            )
        return (
            '{"channel":"instrument","type":"snapshot","data":{"assets":['
            + ",".join(assets.values())
            + '],"pairs":['
            + ",".join(pairs)
            + "]}}"
        )


@dataclass
class KrakenSession:
    """One client connection: its subscriptions and replies to what it sends.

    ``corrupt_checksum_at``: the n-th book update sent on this connection carries
    a wrong checksum (a fault for the collector's tests).
    """

    market: KrakenMarket
    corrupt_checksum_at: int | None = None
    keys: set[Key] = field(default_factory=set)
    book_updates: int = 0
    connection_id: int = 0

    def open_messages(self) -> list[str]:
        """What Kraken sends as soon as the socket opens."""
        self.connection_id = self.market.connection_id()
        return [
            f'{{"channel":"status","data":[{{"api_version":"{API_VERSION}",'
            f'"connection_id":{self.connection_id},"system":"online","version":"{VERSION}"}}],'
            '"type":"update"}'
        ]

    def deliver(self, item: Outgoing) -> str | None:
        """The text to send this session for ``item``, or None if not subscribed."""
        if item.key not in self.keys:
            return None
        if item.checksum is not None:
            self.book_updates += 1
            if self.book_updates == self.corrupt_checksum_at:
                return item.text.replace(
                    f'"checksum":{item.checksum},', f'"checksum":{item.checksum ^ 1},', 1
                )
        return item.text

    # -- requests -------------------------------------------------------------------

    def _reply(self, body: dict[str, Any], req_id: Any) -> str:
        now = rfc3339(self.market.market.now_ns)
        body["time_in"] = now
        body["time_out"] = now
        if req_id is not None:
            body["req_id"] = req_id
        return orjson.dumps(body).decode()

    def handle(self, text: str | bytes) -> list[str]:
        """Replies (acks, snapshots, pongs, errors) to one client message."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [self._reply({"error": "Malformed request", "success": False}, None)]
        if not isinstance(msg, dict):
            return [self._reply({"error": "Malformed request", "success": False}, None)]
        method, req_id = msg.get("method"), msg.get("req_id")
        if method == "ping":
            return [self._reply({"method": "pong"}, req_id)]
        if method in ("subscribe", "unsubscribe"):
            params = msg.get("params")
            if isinstance(params, dict):
                return self._subscription(method, params, req_id)
        return [
            self._reply(
                {"error": f"Method not found: {method!r}", "method": method, "success": False},
                req_id,
            )
        ]

    def _subscription(self, method: str, params: dict[str, Any], req_id: Any) -> list[str]:
        channel = params.get("channel")
        subscribe = method == "subscribe"
        if channel == "instrument":
            key: Key = ("instrument", "", 0)
            if subscribe:
                self.keys.add(key)
            else:
                self.keys.discard(key)
            ack = [
                self._reply(
                    {
                        "method": method,
                        "result": {"channel": channel, "snapshot": True},
                        "success": True,
                    },
                    req_id,
                )
            ]
            return ack + ([self.market.instrument_snapshot()] if subscribe else [])
        if channel not in ("book", "trade"):
            return [
                self._reply(
                    {
                        "error": f"Channel not supported: {channel!r}",
                        "method": method,
                        "success": False,
                    },
                    req_id,
                )
            ]
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols:
            return [
                self._reply(
                    {
                        "error": "symbol: must be a non-empty list",
                        "method": method,
                        "success": False,
                    },
                    req_id,
                )
            ]
        depth = params.get("depth", 10) if channel == "book" else 0
        if channel == "book" and depth not in DEPTHS:
            return [
                self._reply(
                    {"error": f"Invalid depth: {depth!r}", "method": method, "success": False},
                    req_id,
                )
            ]
        snapshot = bool(params.get("snapshot", channel == "book"))
        out: list[str] = []
        for symbol in symbols:
            if symbol not in self.market.recent:
                out.append(
                    self._reply(
                        {
                            "error": "Currency pair not supported",
                            "method": method,
                            "success": False,
                            "symbol": symbol,
                        },
                        req_id,
                    )
                )
                continue
            # One book subscription per symbol: a new depth replaces the old one.
            for old in [k for k in self.keys if k[0] == channel and k[1] == symbol]:
                self.keys.discard(old)
            result: dict[str, Any] = {"channel": channel, "symbol": symbol}
            if channel == "book":
                result["depth"] = depth
            if subscribe:
                result["snapshot"] = snapshot
                self.keys.add((channel, symbol, depth))
                if channel == "book":
                    self.market.view(symbol, depth)  # updates flow from now on
            out.append(self._reply({"method": method, "result": result, "success": True}, req_id))
            if subscribe and snapshot:
                out.append(self._snapshot(channel, symbol, depth))
        return out

    def _snapshot(self, channel: str, symbol: str, depth: int) -> str:
        now = self.market.market.now_ns
        if channel == "book":
            return self.market.view(symbol, depth).snapshot_message(now)
        trades = ",".join(self.market.recent[symbol])
        return f'{{"channel":"trade","type":"snapshot","data":[{trades}]}}'
