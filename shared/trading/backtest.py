"""Deterministic backtests: stored market events through the live trading engine.

Event sources (``edge.trading.sources`` reads them from a store) yield
``(ts_ns, kind, payload)`` in time order; :func:`merge_events` merges several
by time, ties kept in source order. :class:`Backtest` moves a
:class:`~shared.clock.ManualClock` to each event's time and hands the event to
the very :class:`~shared.trading.engine.TradingEngine`, paper broker, risk
manager and strategies the agent runs live. Nothing reads the wall clock and
nothing iterates an unordered collection, so the same events give the same
fills, bit for bit.

Two modes:

* **book** (raw captures replayed through the feeds, or stored snapshots):
  book updates and trades reach the broker, which walks the book and fills
  resting orders from the trade prints, exactly as live.
* **candles** (``candle_mode``): only closed 1-minute candles. The broker fills
  what was decided on a candle's close at the next candle's open, plus the
  configured slippage. Risk checks and strategy sizing see a one-level book at
  the decision candle's close on both sides (zero spread, stamped at the close),
  since a candle has no book; the report says the backtest was candle-only.

The equity curve is sampled on a fixed grid of ``sample_s`` (60 s by default,
one bar in a candle backtest): the sample at time *t* is every strategy's
equity after all events up to and including *t*. It starts at ``start_ns``
with the starting balances and ends at the first grid time at or after the
last event, so its last value is the final equity.

A backtest can also be driven from outside (what an RL environment or a
walk-forward stands on): :meth:`Backtest.load`, then :meth:`~Backtest.step` or
:meth:`~Backtest.step_until` as often as wanted, then :meth:`~Backtest.result`.
:meth:`~Backtest.run` is the same loop with nothing in between.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, cast

from shared.book import OrderBook
from shared.clock import ManualClock
from shared.config.trading import BrokerConfig, RiskConfig, StrategyConfig
from shared.marketdata import Candle
from shared.trading.broker import PaperBroker
from shared.trading.context import TradeTape
from shared.trading.engine import EngineStats, Key, LedgerLike, PortfolioLike, TradingEngine
from shared.trading.memory_ledger import MemoryLedger
from shared.trading.metrics import Metrics, RoundTrip, compute_metrics, round_trips
from shared.trading.portfolio import Portfolio, PortfolioState
from shared.trading.risk import RiskManager
from shared.trading.strategy import (
    FeatureProvider,
    StrategyContext,
    StrategyRegistry,
    build_strategy,
    features_at,
)
from shared.trading.types import Fill, Instrument, OrderUpdate

BOOK: Final = 0
TRADE: Final = 1
CANDLE: Final = 2

Event = tuple[int, int, object]
"""``(ts_ns, kind, payload)``: an :class:`OrderBook` (its state at ``ts_ns``), a
:class:`Trade` or a :class:`Candle` (at its close time)."""

NS = 1_000_000_000
MINUTE_NS = 60 * NS

Progress = Callable[[int, int], None]
"""``progress(events_done, ts_ns)``, called every ``progress_every`` events and at the end."""


def merge_events(*sources: Iterable[Event]) -> Iterator[Event]:
    """Events of every source in time order; equal times keep the sources' order.

    ``heapq.merge`` takes the next item of a source only after the previous one
    was consumed, so a source may yield a live, mutable book.
    """
    return heapq.merge(*sources, key=lambda event: event[0])


def candle_close_ns(candle: Candle) -> int:
    """When a 1-minute candle becomes known: the end of its minute."""
    return candle.open_time_ms * 1_000_000 + MINUTE_NS


@dataclass(frozen=True)
class BacktestConfig:
    """What to run: strategies, the markets they trade, the broker and risk models."""

    strategies: Sequence[StrategyConfig]
    instruments: Mapping[Key, Instrument]
    start_ns: int
    end_ns: int
    """Inclusive: events after it are not replayed."""
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    candle_mode: bool = False
    sample_s: float = 60.0
    """Equity-curve grid (Sharpe and Sortino come from its UTC day closes)."""
    tick_s: float = 1.0
    """Timer ticks (order arrival, circuit breakers, strategies' ``on_time``) at most this often."""

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ValueError("a backtest needs at least one strategy")
        names = [s.name for s in self.strategies]
        if len(set(names)) != len(names):
            raise ValueError(f"strategy names must be unique, got {names}")
        if self.end_ns < self.start_ns:
            raise ValueError(f"end {self.end_ns} is before start {self.start_ns}")
        if self.sample_s <= 0 or self.tick_s <= 0:
            raise ValueError("sample_s and tick_s must be > 0")
        for s in self.strategies:
            for symbol in s.symbols:
                if (s.exchange, symbol) not in self.instruments:
                    raise ValueError(
                        f"strategy {s.name!r}: no instrument for {s.exchange}:{symbol}"
                    )


class RecordingLedger:
    """Keeps every fill and counts rejections, forwarding each update to ``inner``."""

    def __init__(self, inner: LedgerLike | None = None) -> None:
        self.inner = inner
        self.fills: list[Fill] = []
        self.rejections: Counter[tuple[str, str]] = Counter()
        """(strategy, reason) -> count."""

    def record(self, update: OrderUpdate) -> None:
        if update.fills:
            self.fills += update.fills
        for rejection in update.rejections:
            self.rejections[(rejection.strategy, rejection.reason)] += 1
        if self.inner is not None:
            self.inner.record(update)


@dataclass
class StrategyRun:
    """One strategy's outcome."""

    config: StrategyConfig
    final: PortfolioState
    times_ns: list[int]
    equity: list[float]
    exposure: list[float]
    fills: list[Fill]
    trips: list[RoundTrip]
    metrics: Metrics
    rejections: dict[str, int]


@dataclass
class BacktestResult:
    """Every strategy's outcome and what was replayed."""

    mode: str
    """``candles`` or ``book``."""
    start_ns: int
    end_ns: int
    events: int
    first_event_ns: int | None
    last_event_ns: int | None
    runs: dict[str, StrategyRun]
    stats: EngineStats


Steps = Generator["Event | int", "int | None", int]
"""The replay in progress (see :meth:`Backtest._replay`)."""


class Backtest:
    """One backtest: a fresh engine with its broker, risk manager, portfolios and strategies.

    ``ledger`` also receives every update (a SQLite ledger keeps the run);
    by default an in-memory ledger does. ``registry`` resolves strategy kinds
    (the shipped ones by default). ``features``, when given, is what the
    strategies' ``ctx.features(exchange, symbol)`` asks, at the clock's time.

    Either :meth:`run` the events straight through, or :meth:`load` them and
    drive the replay with :meth:`step` and :meth:`step_until`, then call
    :meth:`result`. Time moves only with the events: stepping to a time with no
    event moves neither the clock nor the timer, which keeps a stepped run's
    trades the same as a straight one's.
    """

    def __init__(
        self,
        config: BacktestConfig,
        *,
        ledger: LedgerLike | None = None,
        registry: StrategyRegistry | None = None,
        features: FeatureProvider | None = None,
    ) -> None:
        self.config = config
        self.clock = ManualClock(config.start_ns)
        instruments = dict(config.instruments)
        self.broker = PaperBroker(
            self.clock, instruments, config.broker, candle_mode=config.candle_mode
        )
        self.risk = RiskManager(config.risk, self.clock, open_orders=self.broker.open_orders)
        self.portfolios: dict[str, Portfolio] = {
            s.name: Portfolio(s.name, s.starting_balance, quote=_quote(s))
            for s in config.strategies
        }
        self.ledger = RecordingLedger(ledger if ledger is not None else MemoryLedger())
        books: dict[Key, OrderBook] = {}
        tape = TradeTape()
        hook = features_at(features, self.clock)
        strategies = [
            build_strategy(
                s,
                StrategyContext.for_config(
                    s, self.clock, self.portfolios[s.name],
                    books=books, instruments=instruments, features=hook, tape=tape,
                ),
                registry,
            )
            for s in config.strategies
        ]
        portfolios: dict[str, PortfolioLike] = dict(self.portfolios)
        self.engine = TradingEngine(
            self.clock, self.broker, self.risk, strategies, portfolios, instruments,
            self.ledger, books=books, tape=tape,
        )
        self._candle_books: dict[Key, OrderBook] = {}
        self._sample_ns = int(config.sample_s * NS)
        self._tick_ns = int(config.tick_s * NS)
        self._times: list[int] = []
        self._equity: dict[str, list[float]] = {s.name: [] for s in config.strategies}
        self._exposure: dict[str, list[float]] = {s.name: [] for s in config.strategies}
        self._steps: Steps | None = None
        self._until: int | None = None
        self._result: BacktestResult | None = None
        # The replay's running state, written back by _replay when it ends or is closed.
        self._count = 0
        self._first: int | None = None
        self._last: int | None = None
        self._next_sample = config.start_ns + self._sample_ns
        self._at_end = False

    # -- driving it -----------------------------------------------------------------------

    def run(
        self, events: Iterable[Event], *, progress: Progress | None = None,
        progress_every: int = 10_000,
    ) -> BacktestResult:
        """Replay ``events`` (time-ordered) from ``start_ns`` through ``end_ns``."""
        self.load(events, progress=progress, progress_every=progress_every)
        self.step_until(self.config.end_ns)
        if progress is not None:
            progress(self._count, self._last if self._last is not None else self.config.start_ns)
        return self.result()

    def load(
        self, events: Iterable[Event], *, progress: Progress | None = None,
        progress_every: int = 10_000,
    ) -> None:
        """Take the (time-ordered) events that :meth:`step` and :meth:`step_until` handle.

        They are read lazily, at most one ahead of the last one handled, so a
        source may yield a live book.
        """
        if self._steps is not None or self._result is not None:
            raise ValueError("this backtest has its events already: build a new one to replay")
        self._sample(self.config.start_ns)
        self._steps = self._replay(events, progress, progress_every)
        next(self._steps)  # to the first yield: from now on a send may carry a limit

    def step(self) -> Event | None:
        """Handle the next event; returns it, or None when every event was handled."""
        try:
            return cast(Event, self._stepping().send(None))
        except StopIteration:
            return None

    def step_until(self, ts_ns: int) -> int:
        """Handle every event up to and including ``ts_ns``; returns how many there were.

        The first later event is read and kept for the next step. A time before
        where the backtest is already (the last event handled, or the last
        ``step_until`` time) raises ValueError.
        """
        steps = self._stepping()
        reached = self.clock.time_ns()
        if self._until is not None and self._until > reached:
            reached = self._until
        if ts_ns < reached:
            raise ValueError(
                f"step_until({ts_ns}) goes back in time: the backtest is at {reached} already"
            )
        self._until = ts_ns
        try:
            return cast(int, steps.send(ts_ns))
        except StopIteration as stop:
            return stop.value or 0  # no value: it had ended already

    @property
    def at_end(self) -> bool:
        """Every event was handled (the source ran out or went past ``end_ns``)."""
        return self._at_end

    def result(self) -> BacktestResult:
        """Finish and report; events not handled yet are not replayed.

        The equity curve ends at the first grid time at or after the last event
        handled. Called again, returns the same result.
        """
        if self._result is not None:
            return self._result
        if self._steps is None:
            self.load(())
        assert self._steps is not None
        self._steps.close()
        last = self._last
        if last is not None:
            # The last grid time at or after the last event carries the final equity.
            self._sample(self._sample_through(last, self._next_sample))
        self._result = self._report(self._count, self._first, last)
        return self._result

    # -- internals ----------------------------------------------------------------------

    def _stepping(self) -> Steps:
        if self._result is not None:
            raise ValueError(
                f"the backtest finished at {self._times[-1]} (result() was called): "
                "build a new one to replay again"
            )
        if self._steps is None:
            raise ValueError("no events to step through: load(events) first")
        return self._steps

    def _replay(self, events: Iterable[Event], progress: Progress | None, every: int) -> Steps:
        """The one loop every event goes through, whoever drives it.

        Sent None, it handles the next event and yields it. Sent a time, it
        handles every event up to that time and yields how many (returns it, when
        the events run out), holding the first later event back for the next
        send. Between sends it yields nothing, so a straight run costs no more
        than a plain loop. Its running state lives in locals, since this runs at
        100,000 events a second; it is written back when it ends or is closed.
        """
        start, end = self.config.start_ns, self.config.end_ns
        engine, clock = self.engine, self.clock
        on_book, on_trade = engine.on_book, engine.on_trade
        sample_ns, tick_ns = self._sample_ns, self._tick_ns
        next_sample = start + sample_ns
        next_tick = start
        count = 0
        first: int | None = None
        last: int | None = None
        now = clock.time_ns()
        # Per event: one comparison for the grid and the timer together (whichever is
        # due first), the clock moved only when time moves; the rest waits for its due time.
        next_due = min(next_sample + 1, next_tick)
        single, limit = _told((yield 0), end)
        mark = count  # events handled before this send
        try:
            for event in events:
                ts, kind, payload = event
                if ts < start:
                    continue
                if ts > end:
                    break
                while ts > limit:
                    single, limit = _told((yield count - mark), end)
                    mark = count
                if first is None:
                    first = ts
                last = ts
                if ts != now:
                    clock.set_ns(ts)
                    now = ts
                if ts >= next_due:
                    if ts > next_sample:
                        next_sample = self._sample_through(ts, next_sample)
                    if ts >= next_tick:
                        engine.on_time()
                        next_tick = ts - ts % tick_ns + tick_ns
                    next_due = min(next_sample + 1, next_tick)
                if kind == BOOK:
                    on_book(payload)  # type: ignore[arg-type]
                elif kind == TRADE:
                    on_trade(payload)  # type: ignore[arg-type]
                else:
                    self._on_candle(payload)  # type: ignore[arg-type]
                count += 1
                if progress is not None and count % every == 0:
                    progress(count, ts)
                if single:
                    single, limit = _told((yield event), end)
                    mark = count
            self._at_end = True
            return count - mark
        finally:
            self._count, self._first, self._last = count, first, last
            self._next_sample = next_sample

    def _on_candle(self, candle: Candle) -> None:
        if self.config.candle_mode:
            self._candle_book(candle)
        self.engine.on_candle(candle)

    def _candle_book(self, candle: Candle) -> None:
        """The zero-spread, one-level book a candle backtest sizes and checks against."""
        key = (candle.exchange, candle.symbol)
        book = self._candle_books.get(key)
        if book is None:
            book = self._candle_books[key] = OrderBook(candle.exchange, candle.symbol)
        price = _ticks(candle.close, book.price_decimals)
        # Ample size: the broker fills a candle backtest at the next open, not from this book.
        size = 10**18
        book.load_snapshot([(price, size)], [(price, size)])
        book.ts_recv_ns = book.ts_exchange_ns = self.clock.time_ns()
        self.engine.books[key] = book

    def _sample_through(self, ts: int, next_sample: int) -> int:
        """Record every grid time before ``ts``; returns the next one due."""
        sample_ns = self._sample_ns
        while next_sample < ts:
            self._sample(next_sample)
            next_sample += sample_ns
        return next_sample

    def _sample(self, ts: int) -> None:
        self._times.append(ts)
        for name, portfolio in self.portfolios.items():
            # equity() and exposure() only read: observe() would move the peak and
            # the daily budget, which belong to the risk manager's own schedule.
            self._equity[name].append(float(portfolio.equity()))
            self._exposure[name].append(float(portfolio.exposure()))

    def _report(self, count: int, first: int | None, last: int | None) -> BacktestResult:
        runs: dict[str, StrategyRun] = {}
        end_ns = self._times[-1]
        for config in self.config.strategies:
            name = config.name
            fills = [f for f in self.ledger.fills if f.strategy == name]
            trips = round_trips(fills)
            equity = self._equity[name]
            metrics = compute_metrics(
                self._times, equity, self._exposure[name], fills, trips, self.config.sample_s,
                start_equity=float(config.starting_balance),
            )
            rejections = {
                reason: n for (strategy, reason), n in sorted(self.ledger.rejections.items())
                if strategy == name
            }
            runs[name] = StrategyRun(
                config=config,
                final=_final_state(self.portfolios[name], end_ns),
                times_ns=list(self._times),
                equity=list(equity),
                exposure=list(self._exposure[name]),
                fills=fills,
                trips=trips,
                metrics=metrics,
                rejections=rejections,
            )
        return BacktestResult(
            mode="candles" if self.config.candle_mode else "book",
            start_ns=self.config.start_ns,
            end_ns=self.config.end_ns,
            events=count,
            first_event_ns=first,
            last_event_ns=last,
            runs=runs,
            stats=self.engine.stats,
        )


def run_backtest(
    config: BacktestConfig,
    events: Iterable[Event],
    *,
    progress: Progress | None = None,
    ledger: LedgerLike | None = None,
    registry: StrategyRegistry | None = None,
    features: FeatureProvider | None = None,
) -> BacktestResult:
    """Build a :class:`Backtest` and run ``events`` through it."""
    backtest = Backtest(config, ledger=ledger, registry=registry, features=features)
    return backtest.run(events, progress=progress)


def _told(sent: int | None, end_ns: int) -> tuple[bool, int]:
    """What a send to the replay asks: (one event only, handle events up to this time)."""
    return (True, end_ns) if sent is None else (False, sent)


def _final_state(portfolio: Portfolio, now_ns: int) -> PortfolioState:
    # state() samples the peak; the run is over, so nothing downstream depends on it.
    return portfolio.state(now_ns)


def _quote(config: StrategyConfig) -> str:
    return config.symbols[0].partition("/")[2] or "USDT"


def _ticks(value: Decimal, decimals: int) -> int:
    return int(value.scaleb(decimals).to_integral_value())
