"""Cross-exchange arbitrage detection: a record of edges, never an order.

Fed the books of one asset (the same unified symbol) on several exchanges, the
detector looks, on every book update, at each ordered pair (buy on B, sell on A).
An opportunity exists while buying B's asks and selling into A's bids pays after
both taker fees and a latency haircut:

    unit edge = bid_A * (1 - fee_A) - ask_B * (1 + fee_B) - h * (bid_A + ask_B) / 2
    h = k * sqrt(sigma_A^2 * L_A + sigma_B^2 * L_B)

``L`` is each exchange's decision-to-exchange latency in seconds and ``sigma`` the
realized volatility of its mid per square-root second (root of the summed squared
log returns of the mid over the summed elapsed time, last ``vol_window`` book
updates). ``h`` is therefore ``k`` standard deviations of the adverse move both
legs can suffer while the orders travel, as a fraction of price.

The size available walks the levels of both books (B's asks up, A's bids down)
and stops at the first level pair whose unit edge is not positive; the edge in
bps is the net profit over the cost of that size. An opportunity opens when the
top level's unit edge is above ``min_edge_bps``, its best edge and size are kept
while it lasts, and it closes (and is returned) on the first update where it is
gone or one of its books is older than ``max_book_age_ms``. Time is the injected
clock, so a replay records the same opportunities.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.book import OrderBook
from shared.clock import Clock

PairKey = tuple[str, str, str]
"""(symbol, buy exchange, sell exchange)."""


@dataclass(frozen=True, slots=True)
class ArbitrageOpportunity:
    """One opportunity from open to close (``end_ns`` is None while it lasts)."""

    symbol: str
    buy_exchange: str
    sell_exchange: str
    start_ns: int
    end_ns: int | None
    buy_price: Decimal
    """Best ask on the buy exchange when it opened."""
    sell_price: Decimal
    """Best bid on the sell exchange when it opened."""
    size: Decimal
    """Base units that could be traded at a profit when it opened."""
    edge_bps: float
    """Net edge of ``size`` when it opened (after fees and the latency haircut)."""
    profit: Decimal
    """Net quote-currency profit of ``size`` when it opened."""
    max_edge_bps: float
    max_size: Decimal
    max_profit: Decimal
    updates: int
    """Book updates it was seen on."""

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns

    def as_row(self) -> dict[str, Any]:
        """A flat row for the store, the dashboard and the hub (Decimals as strings)."""
        return {
            "symbol": self.symbol,
            "buy_exchange": self.buy_exchange,
            "sell_exchange": self.sell_exchange,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_ns": self.duration_ns,
            "buy_price": str(self.buy_price),
            "sell_price": str(self.sell_price),
            "size": str(self.size),
            "edge_bps": self.edge_bps,
            "profit": str(self.profit),
            "max_edge_bps": self.max_edge_bps,
            "max_size": str(self.max_size),
            "max_profit": str(self.max_profit),
            "updates": self.updates,
        }


@dataclass(frozen=True, slots=True)
class Edge:
    """What one evaluation of a pair found."""

    buy_price: Decimal
    sell_price: Decimal
    size: Decimal
    edge_bps: float
    profit: Decimal
    top_edge_bps: float


@dataclass(slots=True)
class _Vol:
    """Realized mid volatility per square-root second, over the last updates."""

    window: deque[tuple[float, int]]
    last_mid: float = 0.0
    last_ns: int = 0

    def update(self, mid: float, now_ns: int) -> None:
        if self.last_mid > 0 and now_ns > self.last_ns:
            r = math.log(mid / self.last_mid)
            self.window.append((r * r, now_ns - self.last_ns))
        if now_ns >= self.last_ns:
            self.last_mid, self.last_ns = mid, now_ns

    def variance_per_s(self) -> float:
        seconds = sum(dt for _, dt in self.window) / 1e9
        return math.fsum(r2 for r2, _ in self.window) / seconds if seconds > 0 else 0.0


@dataclass(slots=True)
class _Open:
    start_ns: int
    first: Edge
    max_edge_bps: float
    max_size: Decimal
    max_profit: Decimal
    updates: int = 1

    def record(self, key: PairKey, end_ns: int | None) -> ArbitrageOpportunity:
        return ArbitrageOpportunity(
            symbol=key[0],
            buy_exchange=key[1],
            sell_exchange=key[2],
            start_ns=self.start_ns,
            end_ns=end_ns,
            buy_price=self.first.buy_price,
            sell_price=self.first.sell_price,
            size=self.first.size,
            edge_bps=self.first.edge_bps,
            profit=self.first.profit,
            max_edge_bps=self.max_edge_bps,
            max_size=self.max_size,
            max_profit=self.max_profit,
            updates=self.updates,
        )


@dataclass(slots=True)
class ArbitrageDetector:
    """Records cross-exchange opportunities net of taker fees and latency.

    ``taker_fees`` are fractions per exchange (0.001 = 10 bps); ``latency_ms`` is
    one figure for every exchange or one per exchange; ``k`` scales the latency
    haircut (0 turns it off).
    """

    clock: Clock
    taker_fees: Mapping[str, Decimal]
    latency_ms: Mapping[str, float] | float = 50.0
    k: float = 1.0
    vol_window: int = 200
    min_edge_bps: float = 0.0
    max_levels: int = 50
    max_book_age_ms: float | None = 5_000.0
    _books: dict[str, dict[str, OrderBook]] = field(default_factory=dict, init=False)
    _vols: dict[tuple[str, str], _Vol] = field(default_factory=dict, init=False)
    _open: dict[PairKey, _Open] = field(default_factory=dict, init=False)

    def on_book(self, book: OrderBook) -> list[ArbitrageOpportunity]:
        """Take a book update; returns the opportunities that closed with it."""
        now = self.clock.time_ns()
        symbol, exchange = book.symbol, book.exchange
        books = self._books.setdefault(symbol, {})
        books[exchange] = book
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is not None and ask is not None:
            vol = self._vols.get((exchange, symbol))
            if vol is None:
                vol = self._vols[(exchange, symbol)] = _Vol(deque(maxlen=self.vol_window))
            vol.update((bid + ask) * 0.5 * 10.0**-book.price_decimals, now)
        closed: list[ArbitrageOpportunity] = []
        for other in sorted(books):
            if other != exchange:
                self._track((symbol, other, exchange), now, closed)
                self._track((symbol, exchange, other), now, closed)
        return closed

    def on_time(self) -> list[ArbitrageOpportunity]:
        """Re-check open opportunities (a book that stopped updating goes stale)."""
        now = self.clock.time_ns()
        closed: list[ArbitrageOpportunity] = []
        for key in sorted(self._open):
            self._track(key, now, closed)
        return closed

    def open_opportunities(self) -> list[ArbitrageOpportunity]:
        """The opportunities that last right now (``end_ns`` None)."""
        return [self._open[key].record(key, None) for key in sorted(self._open)]

    def close_all(self) -> list[ArbitrageOpportunity]:
        """Close every open opportunity now (at shutdown or the end of a replay)."""
        now = self.clock.time_ns()
        closed = [self._open[key].record(key, now) for key in sorted(self._open)]
        self._open.clear()
        return closed

    def evaluate(self, symbol: str, buy_exchange: str, sell_exchange: str) -> Edge | None:
        """The edge of buying on ``buy_exchange`` and selling on ``sell_exchange`` now.

        None when nothing pays after fees and the haircut, or a book is stale or empty.
        """
        books = self._books.get(symbol, {})
        buy, sell = books.get(buy_exchange), books.get(sell_exchange)
        if buy is None or sell is None or self._stale(buy) or self._stale(sell):
            return None
        ask, bid = buy.best_ask_price(), sell.best_bid_price()
        if ask is None or bid is None:
            return None
        # Fees and the haircut only shrink an edge: no crossing, nothing to walk.
        if bid * 10.0**-sell.price_decimals <= ask * 10.0**-buy.price_decimals:
            return None
        return self._walk(buy, sell)

    # -- internals ---------------------------------------------------------------------

    def _track(self, key: PairKey, now: int, closed: list[ArbitrageOpportunity]) -> None:
        edge = self.evaluate(*key)
        current = self._open.get(key)
        if edge is None or edge.top_edge_bps <= self.min_edge_bps:
            if current is not None:
                closed.append(current.record(key, now))
                del self._open[key]
            return
        if current is None:
            self._open[key] = _Open(now, edge, edge.edge_bps, edge.size, edge.profit)
            return
        current.updates += 1
        current.max_edge_bps = max(current.max_edge_bps, edge.edge_bps)
        current.max_size = max(current.max_size, edge.size)
        current.max_profit = max(current.max_profit, edge.profit)

    def _stale(self, book: OrderBook) -> bool:
        limit = self.max_book_age_ms
        return limit is not None and self.clock.time_ns() - book.ts_recv_ns > limit * 1e6

    def _fee(self, exchange: str) -> Decimal:
        try:
            return Decimal(str(self.taker_fees[exchange]))
        except KeyError:
            raise ValueError(
                f"no taker fee configured for exchange {exchange!r} "
                f"(known: {', '.join(sorted(self.taker_fees))})"
            ) from None

    def _latency_s(self, exchange: str) -> float:
        latency = self.latency_ms
        ms = latency if isinstance(latency, (int, float)) else latency.get(exchange, 0.0)
        return ms / 1_000

    def haircut(self, buy_exchange: str, sell_exchange: str, symbol: str) -> float:
        """``h``: the latency haircut as a fraction of price (see the module doc)."""
        if self.k == 0:
            return 0.0
        total = 0.0
        for exchange in (buy_exchange, sell_exchange):
            vol = self._vols.get((exchange, symbol))
            if vol is not None:
                total += vol.variance_per_s() * self._latency_s(exchange)
        return self.k * math.sqrt(total)

    def _walk(self, buy: OrderBook, sell: OrderBook) -> Edge | None:
        keep = 1 - self._fee(sell.exchange)
        pay = 1 + self._fee(buy.exchange)
        half_h = Decimal(self.haircut(buy.exchange, sell.exchange, buy.symbol)) / 2
        asks = buy.top_asks(self.max_levels)
        bids = sell.top_bids(self.max_levels)
        # Remaining sizes in base units: the two books may count size ticks differently.
        i = j = 0
        ask_left, bid_left = buy.size(asks[0][1]), sell.size(bids[0][1])
        size = cost = profit = Decimal(0)
        top_edge_bps = 0.0
        while i < len(asks) and j < len(bids):
            ask_px, bid_px = buy.price(asks[i][0]), sell.price(bids[j][0])
            unit = bid_px * keep - ask_px * pay - half_h * (bid_px + ask_px)
            if unit <= 0:
                break
            if i == 0 and j == 0:
                top_edge_bps = float(unit / ask_px) * 10_000
            qty = min(ask_left, bid_left)
            size += qty
            cost += qty * ask_px
            profit += qty * unit
            ask_left -= qty
            bid_left -= qty
            if ask_left <= 0:
                i += 1
                ask_left = buy.size(asks[i][1]) if i < len(asks) else Decimal(0)
            if bid_left <= 0:
                j += 1
                bid_left = sell.size(bids[j][1]) if j < len(bids) else Decimal(0)
        if size == 0:
            return None
        return Edge(
            buy_price=buy.price(asks[0][0]),
            sell_price=sell.price(bids[0][0]),
            size=size,
            edge_bps=float(profit / cost) * 10_000,
            profit=profit,
            top_edge_bps=top_edge_bps,
        )
