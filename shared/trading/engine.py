"""The trading loop shared by live paper trading and backtests.

Market events come in (book updates, trades, closed candles, timer ticks); each
goes to the broker first (so resting orders fill against what just happened),
then to every strategy. What a strategy returns goes through the risk manager to
the broker; every order change, fill and rejection goes to the ledger; every
fill updates the strategy's own portfolio.

A strategy that raises is isolated: the exception is recorded as a rejection
with reason ``strategy_error``, the strategy is paused after
``max_strategy_errors`` consecutive errors, and the others go on.
Time comes only from the injected clock, so a replay makes the same trades.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, cast

from shared.book import OrderBook
from shared.clock import Clock
from shared.marketdata import Candle, Trade
from shared.trading.context import TradeTape
from shared.trading.portfolio import Portfolio, is_valid_mark
from shared.trading.types import (
    NO_UPDATE,
    CancelIntent,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    OrderUpdate,
    Rejection,
)

log = logging.getLogger("shared.trading")

Key = tuple[str, str]
"""(exchange, symbol)."""

Intent = OrderIntent | CancelIntent


class BrokerLike(Protocol):
    """What the engine needs of the paper broker (``shared.trading.broker``)."""

    def submit(self, order: Order) -> OrderUpdate: ...
    def cancel(self, order_id: int, reason: str) -> OrderUpdate: ...
    def on_book(self, book: OrderBook) -> OrderUpdate: ...
    def on_trade(self, trade: Trade) -> OrderUpdate: ...
    def on_candle(self, candle: Candle) -> OrderUpdate: ...
    def on_time(self, now_ns: int) -> OrderUpdate: ...
    def open_orders(self, strategy: str | None = None) -> list[Order]: ...


class PortfolioLike(Protocol):
    """What the engine needs of a strategy's portfolio (``shared.trading.portfolio``)."""

    strategy: str

    def apply(self, fill: Fill) -> None: ...
    def update_mark(self, key: Key, price: Decimal) -> None: ...


class RiskLike(Protocol):
    """What the engine needs of the risk manager (``shared.trading.risk``)."""

    def check(
        self,
        intent: OrderIntent,
        portfolio: PortfolioLike,
        book: OrderBook | None,
        instrument: Instrument,
        open_orders: Sequence[Order],
    ) -> Order | Rejection: ...

    def after_fill(self, portfolio: PortfolioLike, fill: Fill) -> list[Intent]: ...
    def on_time(self, portfolios: Iterable[PortfolioLike], now_ns: int) -> list[Intent]: ...


class StrategyLike(Protocol):
    """What the engine needs of a strategy (``shared.trading.strategy.Strategy``)."""

    name: str

    def on_book(self, book: OrderBook) -> Sequence[Intent] | None: ...
    def on_trade(self, trade: Trade) -> Sequence[Intent] | None: ...
    def on_candle(self, candle: Candle) -> Sequence[Intent] | None: ...
    def on_fill(self, fill: Fill) -> Sequence[Intent] | None: ...
    def on_order(self, order: Order) -> None: ...
    def on_time(self, now_ns: int) -> Sequence[Intent] | None: ...


class LedgerLike(Protocol):
    """Where everything the broker and risk manager did is recorded."""

    def record(self, update: OrderUpdate) -> None: ...


@dataclass
class EngineStats:
    events: int = 0
    intents: int = 0
    orders: int = 0
    fills: int = 0
    rejections: int = 0
    strategy_errors: dict[str, int] = field(default_factory=dict)


Handler = Callable[[Any], Sequence[Intent] | None]


class Gate(Protocol):
    """What holds a hook back: the engine calls it only once its clock reads ``next_book_ns``."""

    @property
    def next_book_ns(self) -> int: ...


Hook = tuple[str, Handler, Gate | None]
"""(strategy name, bound hook, gate or None): one row of the engine's dispatch tables."""

_NOOP = "__tickerml_noop__"
"""Set on a hook that does nothing (the strategy base's): the engine never calls it."""

_RECORDS_ONLY = "__tickerml_records_only__"
"""Set on a hook that only records its argument in the context (the base ``on_trade``)."""

_UNRECORDED = "__tickerml_unrecorded__"
"""Set on a subclass hook wrapped to record its argument first: the hook unwrapped."""

_NOBODY: frozenset[str] = frozenset()


def _hooks(
    strategies: Sequence[StrategyLike], hook: str, tape: TradeTape | None = None
) -> list[Hook]:
    """The dispatch table of ``hook``: a row for every strategy whose ``hook`` does something.

    Only ``on_book`` is gated: by the strategy itself when it has a ``next_book_ns``;
    every other row's gate is None.
    """
    out: list[Hook] = []
    for strategy in strategies:
        handler = _handler(strategy, hook, tape)
        if handler is None:
            continue
        gated = hook == "on_book" and hasattr(strategy, "next_book_ns")
        out.append((strategy.name, handler, cast(Gate, strategy) if gated else None))
    return out


def _handler(strategy: StrategyLike, hook: str, tape: TradeTape | None) -> Handler | None:
    """The callable the engine calls for ``strategy``'s ``hook``; None when a call does nothing.

    A strategy whose context reads ``tape`` sees every trade there, recorded by
    the engine: its base ``on_trade`` (which would only record it again) is never
    called, and an overriding one is called without its recording wrapper.
    """
    handler: Handler = getattr(strategy, hook)
    if hook == "on_trade" and tape is not None and (
        getattr(getattr(strategy, "ctx", None), "tape", None) is tape
    ):
        if getattr(handler, _RECORDS_ONLY, False):
            return None
        unrecorded = getattr(handler, _UNRECORDED, None)
        return handler if unrecorded is None else types.MethodType(unrecorded, strategy)
    return None if getattr(handler, _NOOP, False) else handler


def _by_strategy(hooks: list[Hook]) -> dict[str, list[Hook]]:
    """A table keyed by strategy: for the hooks that go to one strategy (its orders, fills)."""
    return {row[0]: [row] for row in hooks}


class TradingEngine:
    """Routes market events through broker, strategies, risk and ledger.

    The strategies are fixed at construction: each hook has a dispatch table (see
    :func:`_hooks`) of the strategies whose hook does something with it (a hook
    marked as a no-op by the strategy base class is never called), which is most
    of what a book event costs with several strategies attached, and one loop,
    :meth:`_dispatch`, hands every event to every table. A strategy with a
    ``next_book_ns`` attribute (:class:`~shared.trading.strategy.Strategy` has
    one, 0 by default) gets no ``on_book`` call while the engine's clock reads less
    than it.

    ``tape``, when given, is the :class:`~shared.trading.context.TradeTape` the
    strategies' contexts were built with: the engine records each trade in it once,
    before the strategies' ``on_trade`` hooks run, instead of every strategy's hook
    recording it into a window of its own.
    """

    def __init__(
        self,
        clock: Clock,
        broker: BrokerLike,
        risk: RiskLike,
        strategies: Sequence[StrategyLike],
        portfolios: dict[str, PortfolioLike],
        instruments: dict[Key, Instrument],
        ledger: LedgerLike,
        *,
        books: dict[Key, OrderBook] | None = None,
        tape: TradeTape | None = None,
        max_strategy_errors: int = 3,
    ) -> None:
        self.clock = clock
        self.broker = broker
        self.risk = risk
        self.strategies = list(strategies)
        self.portfolios = portfolios
        self.instruments = instruments
        self.ledger = ledger
        self.books: dict[Key, OrderBook] = books if books is not None else {}
        self.tape = tape
        self._record_trade = tape.record if tape is not None else None
        self.max_strategy_errors = max_strategy_errors
        self.paused: set[str] = set()
        self.stats = EngineStats()
        # Counted per (strategy, hook): a strategy whose on_candle always raises is
        # paused even though its on_book keeps succeeding in between.
        self._consecutive_errors: dict[tuple[str, str], int] = {}
        self._on_book = _hooks(self.strategies, "on_book")
        self._on_trade = _hooks(self.strategies, "on_trade", tape)
        self._on_candle = _hooks(self.strategies, "on_candle")
        self._on_time = _hooks(self.strategies, "on_time")
        self._on_fill = _by_strategy(_hooks(self.strategies, "on_fill"))
        self._on_order = _by_strategy(_hooks(self.strategies, "on_order"))
        self._marks = [p.update_mark for p in portfolios.values()]
        # Every trade marks every portfolio: with only real portfolios the price is
        # checked once and written to each one's marks, not checked once per portfolio.
        self._mark_dicts = (
            [p.marks for p in portfolios.values() if isinstance(p, Portfolio)]
            if all(type(p) is Portfolio for p in portfolios.values())  # no override to bypass
            else None
        )

    # -- market events ----------------------------------------------------------------

    def on_book(self, book: OrderBook) -> None:
        self.books[(book.exchange, book.symbol)] = book
        self.stats.events += 1
        update = self.broker.on_book(book)
        if update is not NO_UPDATE:
            self._handle(update)
        self._dispatch(self._on_book, "on_book", book, self.clock.time_ns())

    def on_trade(self, trade: Trade) -> None:
        self.stats.events += 1
        if self._record_trade is not None:
            self._record_trade(trade)
        dicts = self._mark_dicts
        if dicts is not None:  # _mark, inlined for the real portfolios: one call less a trade
            price = trade.price
            if is_valid_mark(price):
                key = (trade.exchange, trade.symbol)
                for marks in dicts:
                    marks[key] = price
        else:
            self._mark(trade.exchange, trade.symbol, trade.price)
        update = self.broker.on_trade(trade)
        if update is not NO_UPDATE:
            self._handle(update)
        if self._on_trade:  # often empty: the tape has the trade already
            self._dispatch(self._on_trade, "on_trade", trade)

    def on_candle(self, candle: Candle) -> None:
        self.stats.events += 1
        self._handle(self.broker.on_candle(candle))
        self._mark(candle.exchange, candle.symbol, candle.close)
        self._dispatch(self._on_candle, "on_candle", candle)

    def on_time(self) -> None:
        """A timer tick: pending orders arrive, breakers look at equity, strategies tick."""
        now = self.clock.time_ns()
        update = self.broker.on_time(now)
        if update is not NO_UPDATE:  # nothing due: the usual tick
            self._handle(update)
        ledger_tick = getattr(self.ledger, "on_time", None)
        if ledger_tick is not None:  # the SQLite ledger snapshots portfolios on a timer
            ledger_tick(now)
        intents = self.risk.on_time(self.portfolios.values(), now)
        if intents:
            self._intents(intents)
        if self._on_time:
            self._dispatch(self._on_time, "on_time", now, now)

    # -- plumbing ---------------------------------------------------------------------

    def _mark(self, exchange: str, symbol: str, price: Decimal) -> None:
        """The market's latest price for every portfolio (``PortfolioLike.update_mark``)."""
        key = (exchange, symbol)
        dicts = self._mark_dicts
        if dicts is None:
            for update_mark in self._marks:
                update_mark(key, price)
        elif is_valid_mark(price):
            for marks in dicts:
                marks[key] = price

    def _dispatch(
        self, hooks: list[Hook], hook: str, arg: object, now: int = 0,
        paused: AbstractSet[str] | None = None,
    ) -> None:
        """Hand ``arg`` to each strategy's ``hook``; what they return goes to risk and broker.

        Every hook of every strategy goes through here. A hook is skipped while its
        gate's ``next_book_ns`` is ahead of ``now`` (a comparison instead of a call
        that would return nothing) or while its strategy is in ``paused`` (the
        engine's own set unless told otherwise). ``now`` is the clock's time; only
        ``on_book``'s table has gates that can hold, so the other callers leave it
        out rather than read the clock for nothing.
        """
        if paused is None:
            paused = self.paused
        for name, handler, gate in hooks:
            if (gate is not None and now < gate.next_book_ns) or name in paused:
                continue
            try:
                intents = handler(arg)
            except Exception as exc:  # a strategy's bug must not stop the others
                self._strategy_error(name, exc, hook)
                continue
            if self._consecutive_errors:  # empty unless something failed: keeps this path cheap
                self._succeeded(name, hook)
            if intents:
                self._intents(intents)

    def _succeeded(self, name: str, hook: str) -> None:
        """A hook returned: its run of consecutive errors, if any, is over."""
        key = (name, hook)
        if self._consecutive_errors.get(key):
            self._consecutive_errors[key] = 0

    def _strategy_error(self, name: str, exc: Exception, hook: str) -> None:
        count = self._consecutive_errors.get((name, hook), 0) + 1
        self._consecutive_errors[(name, hook)] = count
        self.stats.strategy_errors[name] = self.stats.strategy_errors.get(name, 0) + 1
        log.warning("strategy %s %s raised %s: %s", name, hook, type(exc).__name__, exc)
        detail = f"{hook}: {type(exc).__name__}: {exc}"
        if count >= self.max_strategy_errors:
            self.paused.add(name)
            detail += f" (paused after {count} consecutive errors)"
        self._handle(
            OrderUpdate(
                rejections=[
                    Rejection(name, "", "", "strategy_error", detail, self.clock.time_ns())
                ]
            )
        )

    def _intents(self, intents: Iterable[Intent]) -> None:
        for intent in intents:
            self.stats.intents += 1
            if isinstance(intent, CancelIntent):
                self._handle(self.broker.cancel(intent.order_id, f"cancelled by {intent.strategy}"))
                continue
            key = (intent.exchange, intent.symbol)
            portfolio = self.portfolios.get(intent.strategy)
            instrument = self.instruments.get(key)
            if portfolio is None or instrument is None:
                reason = "unknown_strategy" if portfolio is None else "unknown_symbol"
                self._handle(
                    OrderUpdate(
                        rejections=[
                            Rejection(
                                intent.strategy, intent.exchange, intent.symbol, reason,
                                f"no portfolio or instrument for {intent.strategy} {key}",
                                self.clock.time_ns(),
                            )
                        ]
                    )
                )
                continue
            outcome = self.risk.check(
                intent, portfolio, self.books.get(key), instrument,
                self.broker.open_orders(intent.strategy),
            )
            if isinstance(outcome, Rejection):
                self._handle(OrderUpdate(rejections=[outcome]))
            else:
                self.stats.orders += 1
                self._handle(self.broker.submit(outcome))

    def _handle(self, update: OrderUpdate) -> None:
        if not (update.orders or update.fills or update.rejections):  # bool(update), uncalled
            return
        self.stats.fills += len(update.fills)
        self.stats.rejections += len(update.rejections)
        self.ledger.record(update)
        follow_ups: list[Intent] = []
        for fill in update.fills:
            portfolio = self.portfolios.get(fill.strategy)
            if portfolio is None:
                continue
            portfolio.apply(fill)
            follow_ups += self.risk.after_fill(portfolio, fill)
        for order in update.orders:
            hooks = self._on_order.get(order.strategy)
            if hooks is not None:
                # Even a paused strategy: its table of open orders must be right when it
                # resumes. on_order returns nothing (a Strategy's wrapper makes sure).
                self._dispatch(hooks, "on_order", order, 0, _NOBODY)
        for fill in update.fills:
            hooks = self._on_fill.get(fill.strategy)
            if hooks is not None:
                self._dispatch(hooks, "on_fill", fill)
        if follow_ups:
            self._intents(follow_ups)
