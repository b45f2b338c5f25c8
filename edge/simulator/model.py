"""A stochastic order-flow model: one limit order book per symbol, event by event.

The book is a zero-intelligence book in the spirit of Cont, Stoikov and Talreja
(2010): limit orders arrive as a Poisson process at distances from the touch that
decay geometrically, resting size is cancelled at random, and market orders with
heavy-tailed (Pareto) sizes walk the opposite side. Unlike the pure ZI model the
quotes are anchored to a latent *fair value*, so that the mid follows a price
process with the statistics a strategy should be trained on:

* a regime chain (continuous-time Markov) switches between **trending** (drifting
  fair value, market orders mostly on the trend's side), **mean-reverting**
  (Ornstein-Uhlenbeck fair value around the level where the regime began) and
  **volatile** (larger diffusion, jumps, wider quotes, more cancels);
* a stochastic-volatility multiplier (log-OU) gives volatility clustering inside
  every regime;
* quotes left on the wrong side of the fair value are pulled at once, as market
  makers do when the price moves through them, so the book tracks the fair value.

The book is never crossed and its spread is always at least one price level: a
bid is never placed at or above the best ask (nor an ask at or below the best
bid), and market orders only remove liquidity.

Everything random comes from one ``numpy`` Generator per symbol, seeded from the
market seed and the symbol name, and the time of each event is simulated (drawn
from the event rates), never read from a wall clock: the same seed gives the same
events, whatever the machine or the client timing.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from zlib import crc32

import numpy as np

from edge.simulator.params import (
    INSTRUMENTS,
    InstrumentSpec,
    ModelParams,
    Regime,
    RegimeParams,
    instrument_for,
)
from shared.book import OrderBook

__all__ = [
    "INSTRUMENTS",
    "InstrumentSpec",
    "MarketEvent",
    "MarketModel",
    "ModelParams",
    "Regime",
    "RegimeParams",
    "SymbolModel",
    "TradeTick",
    "instrument_for",
]

NS = 1_000_000_000
BPS = 1e-4


class TradeTick:
    """One fill of a market order against one level, in the model's integers."""

    __slots__ = ("buyer_taker", "price", "size", "trade_id")

    def __init__(self, trade_id: int, price: int, size: int, buyer_taker: bool) -> None:
        self.trade_id = trade_id
        self.price = price
        self.size = size
        self.buyer_taker = buyer_taker


class MarketEvent:
    """What one model event did: new sizes per level (0: gone) and fills."""

    __slots__ = ("asks", "bids", "symbol", "trades", "ts_ns")

    def __init__(self, symbol: str, ts_ns: int) -> None:
        self.symbol = symbol
        self.ts_ns = ts_ns
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.trades: list[TradeTick] = []


class _Draws:
    """Random numbers drawn from the Generator in blocks: one numpy call per
    thousands of draws instead of one per draw, which is what makes the model fast."""

    __slots__ = ("_i", "_j", "_normals", "_rng", "_uniforms")

    BLOCK = 8192

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._uniforms: list[float] = []
        self._normals: list[float] = []
        self._i = self._j = self.BLOCK

    def uniform(self) -> float:
        """Uniform on [0, 1)."""
        i = self._i
        if i >= self.BLOCK:
            self._uniforms = self._rng.random(self.BLOCK).tolist()
            i = 0
        self._i = i + 1
        return self._uniforms[i]

    def normal(self) -> float:
        """Standard normal."""
        j = self._j
        if j >= self.BLOCK:
            self._normals = self._rng.standard_normal(self.BLOCK).tolist()
            j = 0
        self._j = j + 1
        return self._normals[j]

    def exponential(self) -> float:
        """Exponential with mean 1."""
        return -math.log(1.0 - self.uniform())


def symbol_seed(seed: int, symbol: str) -> np.random.SeedSequence:
    """The seed of one symbol's model: independent of which other symbols run."""
    return np.random.SeedSequence([seed & 0xFFFFFFFF, crc32(symbol.encode())])


@dataclass
class _State:
    """The latent variables, apart from the book."""

    regime: Regime
    switch_at_ns: int
    log_fair: float = 0.0
    anchor: float = 0.0
    drift_sign: float = 1.0
    log_vol: float = 0.0
    history: list[tuple[int, Regime]] = field(default_factory=list)


class SymbolModel:
    """The order-flow model of one symbol; call :meth:`next_event` to step it."""

    def __init__(
        self,
        spec: InstrumentSpec,
        seed: int,
        start_ns: int,
        params: ModelParams | None = None,
    ) -> None:
        self.spec = spec
        self.params = params or ModelParams()
        self.book = OrderBook(
            "simulator",
            spec.symbol,
            price_decimals=spec.price_decimals,
            size_decimals=spec.size_decimals,
        )
        self._draw = _Draws(np.random.default_rng(symbol_seed(seed, spec.symbol)))
        self.now_ns = start_ns
        self.next_ns = start_ns
        self.next_trade_id = 1_000_000 + crc32(spec.symbol.encode()) % 1_000_000
        self._grid = spec.grid_ticks
        self._start_grid = spec.start_ticks / spec.grid_ticks
        self._lots = spec.base_lots
        first = Regime(int(self._draw.uniform() * 3))
        self.state = _State(first, start_ns + self._dwell_ns(first))
        self.state.history.append((start_ns, first))
        self._enter(first)
        self._seed_book()

    # -- public reads ----------------------------------------------------------------

    @property
    def regime(self) -> Regime:
        """The regime the market is in now."""
        return self.state.regime

    @property
    def fair_ticks(self) -> float:
        """The latent fair value, in price ticks."""
        return self._fair_grid() * self._grid

    # -- the latent processes -----------------------------------------------------------

    def _fair_grid(self) -> float:
        return self._start_grid * math.exp(self.state.log_fair)

    def _dwell_ns(self, regime: Regime) -> int:
        return int(self._draw.exponential() * self.params.regime(regime).dwell_s * NS) + 1

    def _enter(self, regime: Regime) -> None:
        state = self.state
        state.regime = regime
        state.anchor = state.log_fair
        state.drift_sign = 1.0 if self._draw.uniform() < 0.5 else -1.0

    def _switch(self) -> None:
        state = self.state
        row = self.params.transitions[state.regime]
        u, acc, nxt = self._draw.uniform(), 0.0, state.regime
        for i, p in enumerate(row):
            acc += p
            if u < acc:
                nxt = Regime(i)
                break
        began = state.switch_at_ns
        self._enter(nxt)
        state.switch_at_ns = began + self._dwell_ns(nxt)
        state.history.append((began, nxt))

    def _evolve(self, dt_ns: int) -> RegimeParams:
        """Move time, the regime, the volatility and the fair value by ``dt_ns``."""
        state = self.state
        self.now_ns += dt_ns
        while self.now_ns >= state.switch_at_ns:
            self._switch()
        rp = self.params.regime(state.regime)
        dt = dt_ns / NS
        draw = self._draw
        theta, eta = self.params.vol_reversion, self.params.vol_of_vol
        shock = eta * math.sqrt(2 * theta * dt) * draw.normal()
        state.log_vol += -theta * state.log_vol * dt + shock
        sigma = rp.vol_bps * BPS * math.exp(state.log_vol - 0.5 * eta * eta)
        dx = sigma * math.sqrt(dt) * draw.normal()
        if rp.drift_bps:
            dx += state.drift_sign * rp.drift_bps * BPS * dt
        if rp.reversion:
            dx -= rp.reversion * (state.log_fair - state.anchor) * dt
        if rp.jump_rate and draw.uniform() < rp.jump_rate * dt:
            sign = 1.0 if draw.uniform() < 0.5 else -1.0
            dx += sign * rp.jump_bps * BPS * draw.exponential()
        state.log_fair += dx
        return rp

    # -- the book -----------------------------------------------------------------------

    def _order_lots(self) -> int:
        """A limit order's size: log-normal around the instrument's base size."""
        return max(1, int(self._lots * math.exp(0.8 * self._draw.normal() - 0.32)))

    def _seed_book(self) -> None:
        """Fill the window with a book whose depth decays away from the touch."""
        rp = self.params.regime(self.state.regime)
        g = self._fair_grid()
        top_bid = math.floor(g - rp.half_spread)
        top_ask = math.ceil(g + rp.half_spread)
        if top_ask <= top_bid:
            top_ask = top_bid + 1
        for d in range(self.params.window):
            for side, px in ((0, top_bid - d), (1, top_ask + d)):
                if px > 0 and (d < 3 or self._draw.uniform() < 0.75):
                    size = int(self._order_lots() * (0.6 + 2.5 * math.exp(-d / 6))) + 1
                    if side == 0:
                        self.book.set_bid(px * self._grid, size)
                    else:
                        self.book.set_ask(px * self._grid, size)

    def _set(self, ev: MarketEvent, side: int, price: int, size: int) -> None:
        if side == 0:
            self.book.set_bid(price, size)
            ev.bids[price] = size
        else:
            self.book.set_ask(price, size)
            ev.asks[price] = size

    def _limit(self, ev: MarketEvent, rp: RegimeParams, g: float) -> None:
        draw, grid, book = self._draw, self._grid, self.book
        p = self.params
        if draw.uniform() < p.deep_share:
            k = int(draw.uniform() * p.window)
        else:
            k = int(math.log(1.0 - draw.uniform()) / math.log(1.0 - p.depth_decay))
        if draw.uniform() < 0.5:
            px = (math.floor(g - rp.half_spread) - k) * grid
            best_ask = book.best_ask_price()
            if best_ask is not None and px >= best_ask:
                px = best_ask - grid
            if px > 0:
                self._set(ev, 0, px, book.bids.get(px, 0) + self._order_lots())
        else:
            px = (math.ceil(g + rp.half_spread) + k) * grid
            best_bid = book.best_bid_price()
            if best_bid is not None and px <= best_bid:
                px = best_bid + grid
            self._set(ev, 1, px, book.asks.get(px, 0) + self._order_lots())

    def _cancel(self, ev: MarketEvent) -> None:
        draw, book = self._draw, self.book
        side = 0 if draw.uniform() < 0.5 else 1
        prices = book.bid_prices() if side == 0 else book.ask_prices()
        if len(prices) <= self.params.min_levels:
            return
        price = prices[int(draw.uniform() * len(prices))]
        size = (book.bids if side == 0 else book.asks)[price]
        if draw.uniform() < self.params.cancel_all:
            left = 0
        else:
            left = int(size * (0.2 + 0.6 * draw.uniform()))
        self._set(ev, side, price, left)

    def _market(self, ev: MarketEvent, rp: RegimeParams, g: float) -> None:
        draw, book, p = self._draw, self.book, self.params
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is None or ask is None:
            return
        # Informed flow leans towards the fair value; trend followers add to it.
        lean = math.tanh(2.0 * (g * self._grid * 2 - bid - ask) / (ask - bid + self._grid))
        p_buy = 0.5 + 0.2 * lean + rp.market_bias * self.state.drift_sign
        buy = draw.uniform() < p_buy
        # A large order may sweep many levels, but never the whole side.
        levels = book.top_asks(20) if buy else book.top_bids(20)
        cap = sum(s for _, s in levels) * 4 // 5
        want = int(self._lots * 0.4 * (1.0 - draw.uniform()) ** (-1.0 / p.market_tail))
        remaining = max(1, min(want, cap))
        for price, size in levels:
            fill = min(size, remaining)
            ev.trades.append(TradeTick(self.next_trade_id, price, fill, buy))
            self.next_trade_id += 1
            self._set(ev, 1 if buy else 0, price, size - fill)
            remaining -= fill
            if remaining <= 0:
                break

    def _tidy(self, ev: MarketEvent, rp: RegimeParams, g: float) -> None:
        """Pull stale quotes, re-quote a touch left behind, withdraw far quotes."""
        book, grid, p, draw = self.book, self._grid, self.params, self._draw
        bid_px, ask_px = book.bid_prices(), book.ask_prices()
        # A quote the fair value has moved through would be picked off: pulled now.
        limit = g * grid
        while len(bid_px) > 1 and bid_px[-1] > limit:
            self._set(ev, 0, bid_px[-1], 0)
        while len(ask_px) > 1 and ask_px[0] < limit:
            self._set(ev, 1, ask_px[0], 0)
        # Market makers follow the fair value: when the touch lags it by more than a
        # level, they quote the levels in between (each one most of the time).
        top_bid = (math.floor(g - rp.half_spread)) * grid
        top_ask = (math.ceil(g + rp.half_spread)) * grid
        if top_ask <= bid_px[-1]:
            top_ask = bid_px[-1] + grid
        if top_bid >= ask_px[0]:
            top_bid = ask_px[0] - grid
        if bid_px[-1] < top_bid - grid:
            for px in range(bid_px[-1] + grid, top_bid + 1, grid):
                if px == top_bid or draw.uniform() < p.ladder_fill:
                    self._set(ev, 0, px, self._order_lots())
        if ask_px[0] > top_ask + grid:
            for px in range(ask_px[0] - grid, top_ask - 1, -grid):
                if px == top_ask or draw.uniform() < p.ladder_fill:
                    self._set(ev, 1, px, self._order_lots())
        far = p.window * grid
        if bid_px[0] < limit - far and len(bid_px) > p.min_levels:
            self._set(ev, 0, bid_px[0], 0)
        if ask_px[-1] > limit + far and len(ask_px) > p.min_levels:
            self._set(ev, 1, ask_px[-1], 0)

    def _refill(self, ev: MarketEvent) -> None:
        """Keep both sides at least ``min_levels`` deep, behind their last level."""
        book, grid, p, draw = self.book, self._grid, self.params, self._draw
        bid_px, ask_px = book.bid_prices(), book.ask_prices()
        while len(bid_px) < p.min_levels and bid_px[0] > grid:
            gap = 1 + int(draw.uniform() * 3)
            self._set(ev, 0, bid_px[0] - gap * grid, self._order_lots())
        while len(ask_px) < p.min_levels:
            gap = 1 + int(draw.uniform() * 3)
            self._set(ev, 1, ask_px[-1] + gap * grid, self._order_lots())

    # -- stepping -----------------------------------------------------------------------

    def schedule(self) -> int:
        """Draw when the next event happens (the book does not change yet)."""
        p = self.params
        rp = p.regime(self.state.regime)
        total = p.limit_rate + rp.cancel_rate + rp.market_rate
        self.next_ns = self.now_ns + int(self._draw.exponential() / total * NS) + 1
        return self.next_ns

    def fire(self) -> MarketEvent:
        """Run the event scheduled for ``next_ns``; it may change nothing (then it is empty)."""
        p = self.params
        rp = self._evolve(self.next_ns - self.now_ns)
        ev = MarketEvent(self.spec.symbol, self.now_ns)
        g = self._fair_grid()
        self._tidy(ev, rp, g)
        u = self._draw.uniform() * (p.limit_rate + rp.cancel_rate + rp.market_rate)
        if u < p.limit_rate:
            self._limit(ev, rp, g)
        elif u < p.limit_rate + rp.cancel_rate:
            self._cancel(ev)
        else:
            self._market(ev, rp, g)
        self._refill(ev)
        return ev

    def next_event(self) -> MarketEvent:
        """Advance to the next event that changes the book or trades, and return it."""
        while True:
            self.schedule()
            ev = self.fire()
            if ev.bids or ev.asks or ev.trades:
                return ev


class MarketModel:
    """Every symbol's model, merged into one stream of events in time order."""

    def __init__(
        self,
        symbols: Sequence[str],
        seed: int,
        start_ns: int,
        params: ModelParams | None = None,
    ) -> None:
        self.symbols = list(symbols)
        self.models = {
            s: SymbolModel(instrument_for(s), seed, start_ns, params) for s in self.symbols
        }
        self.now_ns = start_ns
        # The next event of each symbol is only *scheduled* here and applied when it
        # comes up, so a book read between events shows exactly what was published.
        self._heap: list[tuple[int, int]] = [
            (self.models[s].schedule(), i) for i, s in enumerate(self.symbols)
        ]
        heapq.heapify(self._heap)

    def book(self, symbol: str) -> OrderBook:
        """The model's current book of ``symbol`` (do not mutate)."""
        return self.models[symbol].book

    def peek_ns(self) -> int:
        """Time of the next scheduled event."""
        return self._heap[0][0]

    def pop(self) -> MarketEvent:
        """Apply and return the next event of any symbol (ties: the symbol listed first).

        The event may be empty when it changed nothing (a cancel on a thin side).
        """
        ts, index = self._heap[0]
        model = self.models[self.symbols[index]]
        ev = model.fire()
        heapq.heapreplace(self._heap, (model.schedule(), index))
        self.now_ns = ts
        return ev

    def advance(self, until_ns: int) -> Iterator[MarketEvent]:
        """Every non-empty event up to and including ``until_ns``, in time order.

        Lazy on purpose: each event is applied to the books only when the caller
        asks for the next one, so whoever encodes an event (a Kraken view reading
        the top of the book) sees the book exactly as of that event.
        """
        heap = self._heap
        while heap[0][0] <= until_ns:
            ev = self.pop()
            if ev.bids or ev.asks or ev.trades:
                yield ev
        self.now_ns = max(self.now_ns, until_ns)
