"""What a strategy can see: the :class:`StrategyContext` and the portfolio view.

One context per strategy instance. Books and instruments are read-only views
shared with the engine, and so is the :class:`TradeTape` of recent trades when
whoever builds the contexts hands the same tape to the engine: the engine
records each trade once for every strategy instead of each strategy recording
it into a window of its own. The windows of closed candles and the table of the
strategy's open orders are kept here, fed by the strategy's hooks
(:mod:`shared.trading.strategy` makes sure of that even when a plugin's hook
forgets ``super()``). The portfolio is seen through a small protocol, so a
strategy depends on what it reads, not on the ledger's classes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from shared.book import OrderBook
from shared.clock import Clock
from shared.config.trading import StrategyConfig
from shared.marketdata import Candle, Trade
from shared.trading.types import Instrument, Order

Key = tuple[str, str]
"""(exchange, symbol)."""

FeatureHook = Callable[[str, str], object]
"""``features(exchange, symbol)``: the latest feature vector or model outputs, or None.

What a strategy calls (``ctx.features``). It takes no time: the one who builds the
context decides which time it answers for (see :func:`features_at`)."""


class FeatureProvider(Protocol):
    """Features by time: ``provider(now_ns, exchange, symbol)``.

    Returns the latest feature vector (or model outputs) known at ``now_ns`` for
    the market, or None. A backtest asks it at its clock's time, which is the time
    of the event being handled, so a provider that answers only with what was
    known at ``now_ns`` cannot leak the future into a strategy.
    """

    def __call__(self, now_ns: int, exchange: str, symbol: str) -> object: ...


class PositionView(Protocol):
    """One position as a strategy sees it."""

    @property
    def qty(self) -> Decimal: ...

    @property
    def avg_cost(self) -> Decimal: ...


class PortfolioView(Protocol):
    """What a strategy may read of its own paper portfolio.

    :class:`shared.trading.portfolio.Portfolio` satisfies it; this module depends on
    the protocol only, so a strategy can be tested against any account double.
    """

    @property
    def cash(self) -> Decimal: ...

    @property
    def positions(self) -> Mapping[Key, PositionView]: ...

    def qty(self, key: Key) -> Decimal: ...

    def equity(self) -> Decimal: ...


def no_features(exchange: str, symbol: str) -> object:
    """The default features hook: nothing is known yet."""
    return None


def features_at(provider: FeatureProvider | None, clock: Clock) -> FeatureHook:
    """The hook a strategy calls: ``provider`` asked at ``clock``'s time.

    None gives :func:`no_features`. Nothing is computed until a strategy calls
    the hook, so a provider costs nothing on the events nobody asks about.
    """
    if provider is None:
        return no_features
    time_ns = clock.time_ns

    def features(exchange: str, symbol: str) -> object:
        return provider(time_ns(), exchange, symbol)

    return features


class TradeTape:
    """The latest ``window`` trades of each (exchange, symbol), oldest first.

    One tape can serve every context of an engine: pass it to each
    :class:`StrategyContext` and to the :class:`~shared.trading.engine.TradingEngine`,
    which records every trade once, before the strategies' ``on_trade`` hooks run.
    """

    __slots__ = ("_windows", "window")

    def __init__(self, window: int = 1_000) -> None:
        self.window = window
        self._windows: dict[Key, deque[Trade]] = {}

    def get(self, key: Key) -> Sequence[Trade]:
        """The trades kept for ``key``, oldest first (empty when none)."""
        return self._windows.get(key, ())

    def record(self, trade: Trade) -> None:
        """Append ``trade``; the very trade just appended is not appended twice."""
        key = (trade.exchange, trade.symbol)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque(maxlen=self.window)
        elif window and window[-1] is trade:
            return  # recorded already (the engine, or a subclass hook calling super())
        window.append(trade)


class StrategyContext:
    """Everything a strategy instance can see; one context per strategy.

    ``books`` and ``instruments`` are read-only views shared with the engine (pass
    the engine's own ``books`` dict so the context sees every update). Candles are
    kept here in windows of ``candle_window`` per (exchange, symbol); trades in
    ``tape`` (pass the engine's own, shared by every context, so a trade is recorded
    once), or, without one, in a tape of this context's own with windows of
    ``trade_window``. ``features`` is the hook strategies call for the latest
    feature vector (:func:`features_at` makes one from a :class:`FeatureProvider`
    and the clock); None: nothing is ever known.
    """

    __slots__ = (
        "_candles",
        "_orders",
        "books",
        "candle_window",
        "clock",
        "exchange",
        "features",
        "instruments",
        "name",
        "portfolio",
        "symbols",
        "tape",
        "trade_window",
    )

    def __init__(
        self,
        name: str,
        exchange: str,
        symbols: Sequence[str],
        clock: Clock,
        portfolio: PortfolioView,
        *,
        books: Mapping[Key, OrderBook] | None = None,
        instruments: Mapping[Key, Instrument] | None = None,
        features: FeatureHook | None = None,
        orders: Iterable[Order] = (),
        candle_window: int = 500,
        trade_window: int = 1_000,
        tape: TradeTape | None = None,
    ) -> None:
        self.name = name
        self.exchange = exchange
        self.symbols = tuple(symbols)
        self.clock = clock
        self.portfolio = portfolio
        self.books: Mapping[Key, OrderBook] = books if books is not None else {}
        self.instruments: Mapping[Key, Instrument] = instruments if instruments is not None else {}
        self.features: FeatureHook = features if features is not None else no_features
        self.candle_window = candle_window
        self.tape = tape if tape is not None else TradeTape(trade_window)
        self.trade_window = self.tape.window
        self._candles: dict[Key, deque[Candle]] = {}
        # Seeded from the ledger after a restart, then kept by on_order.
        self._orders: dict[int, Order] = {o.id: o for o in orders if o.is_open}

    @classmethod
    def for_config(
        cls, config: StrategyConfig, clock: Clock, portfolio: PortfolioView, **kwargs: Any
    ) -> StrategyContext:
        """A context named and scoped as ``config`` says."""
        return cls(config.name, config.exchange, config.symbols, clock, portfolio, **kwargs)

    # -- reads -------------------------------------------------------------------------

    def book(self, symbol: str, exchange: str | None = None) -> OrderBook | None:
        """The latest book of ``symbol`` (on the strategy's exchange by default)."""
        return self.books.get((exchange or self.exchange, symbol))

    def instrument(self, symbol: str, exchange: str | None = None) -> Instrument | None:
        return self.instruments.get((exchange or self.exchange, symbol))

    def candles(self, symbol: str, exchange: str | None = None) -> Sequence[Candle]:
        """Closed candles of ``symbol``, oldest first (at most ``candle_window``)."""
        return self._candles.get((exchange or self.exchange, symbol), ())

    def trades(self, symbol: str, exchange: str | None = None) -> Sequence[Trade]:
        """Recent trades of ``symbol``, oldest first (at most ``trade_window``)."""
        return self.tape.get((exchange or self.exchange, symbol))

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """This strategy's open orders, oldest first; only ``symbol``'s when given."""
        return [o for o in self._orders.values() if symbol is None or o.symbol == symbol]

    def position(self, symbol: str, exchange: str | None = None) -> Decimal:
        """Base quantity held of ``symbol`` (0 when flat)."""
        return self.portfolio.qty((exchange or self.exchange, symbol))

    def avg_cost(self, symbol: str, exchange: str | None = None) -> Decimal:
        """Average cost per unit of the position in ``symbol`` (0 when flat)."""
        position = self.portfolio.positions.get((exchange or self.exchange, symbol))
        return position.avg_cost if position is not None else Decimal(0)

    # -- kept by the strategy's hooks ---------------------------------------------------

    def record_candle(self, candle: Candle) -> None:
        """Append a closed candle; a candle not newer than the last one is ignored."""
        key = (candle.exchange, candle.symbol)
        window = self._candles.get(key)
        if window is None:
            window = self._candles[key] = deque(maxlen=self.candle_window)
        elif window and window[-1].open_time_ms >= candle.open_time_ms:
            return  # recorded already (a subclass hook calling super())
        window.append(candle)

    def record_trade(self, trade: Trade) -> None:
        """Append a trade to the tape (a no-op for one the engine recorded already)."""
        self.tape.record(trade)

    def record_order(self, order: Order) -> None:
        if order.strategy != self.name:
            return
        if order.is_open:
            self._orders[order.id] = order
        else:
            self._orders.pop(order.id, None)
