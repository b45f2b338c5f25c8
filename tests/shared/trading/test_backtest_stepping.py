"""A backtest driven from outside: step by step, to chosen times, and the features hook.

Every stepped run is checked against a straight :meth:`Backtest.run` over the
same simulator capture replayed through the real feed: the same fills, order
events, rejections, equity curves and final portfolios, compared by ``repr``
(exact Decimal digits), so bit for bit.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.simulator.capture import write_capture
from edge.trading.sources import capture_events
from shared.book import OrderBook
from shared.config.trading import StrategyConfig
from shared.marketdata import Candle, Trade
from shared.trading.backtest import Backtest, BacktestConfig, BacktestResult
from shared.trading.memory_ledger import MemoryLedger
from shared.trading.strategy import Intents, Strategy, StrategyParams, StrategyRegistry
from tests.shared.trading.test_backtest import EXCHANGE, KINDS, SYMBOL, sim_instrument

NS = 1_000_000_000

Fingerprint = tuple[Any, ...]


@dataclass(frozen=True)
class Capture:
    path: Path
    start_ns: int
    end_ns: int

    def events(self) -> Any:
        # A yielded book is the feed's live book: every run replays the file anew.
        return capture_events([self.path], EXCHANGE, SYMBOL, self.start_ns, self.end_ns)


def simulated(tmp_path_factory: pytest.TempPathFactory, messages: int) -> Capture:
    path = tmp_path_factory.mktemp("sim") / "binanceus.jsonl"
    write_capture(path, EXCHANGE, messages=messages, seed=5, symbols=(SYMBOL,))
    times = [ts for ts, _, _ in capture_events([path], EXCHANGE, SYMBOL, 0, 2**62)]
    return Capture(path, times[0], times[-1])


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    """About nine minutes of market."""
    return simulated(tmp_path_factory, 8_000)


@pytest.fixture(scope="module")
def short_capture(tmp_path_factory: pytest.TempPathFactory) -> Capture:
    """About three minutes: short enough to replay for every example hypothesis makes."""
    return simulated(tmp_path_factory, 3_000)


def config(capture: Capture, kinds: tuple[str, ...] = KINDS) -> BacktestConfig:
    return BacktestConfig(
        strategies=[
            StrategyConfig(name=kind, kind=kind, exchange=EXCHANGE, symbols=[SYMBOL])
            for kind in kinds
        ],
        instruments={(EXCHANGE, SYMBOL): sim_instrument()},
        start_ns=capture.start_ns, end_ns=capture.end_ns,
    )


def loaded(capture: Capture) -> tuple[Backtest, MemoryLedger]:
    ledger = MemoryLedger()
    backtest = Backtest(config(capture), ledger=ledger)
    backtest.load(capture.events())
    return backtest, ledger


def fingerprint(result: BacktestResult, ledger: MemoryLedger) -> Fingerprint:
    """Everything a run produced, in order, to the last digit."""
    runs = {
        name: (repr(run.final), run.times_ns, run.equity, run.exposure, run.rejections)
        for name, run in result.runs.items()
    }
    return (
        [repr(fill) for fill in ledger.fills],
        [repr(order) for order in ledger.orders],
        [repr(rejection) for rejection in ledger.rejections],
        runs, result.stats, result.events, result.first_event_ns, result.last_event_ns,
    )


def straight_run(capture: Capture) -> Fingerprint:
    ledger = MemoryLedger()
    result = Backtest(config(capture), ledger=ledger).run(capture.events())
    assert len(ledger.fills) >= 10 and len(ledger.orders) > 100, "the run should trade"
    return fingerprint(result, ledger)


@pytest.fixture(scope="module")
def straight(capture: Capture) -> Fingerprint:
    return straight_run(capture)


@pytest.fixture(scope="module")
def short_straight(short_capture: Capture) -> Fingerprint:
    return straight_run(short_capture)


# -- stepping gives what a straight run gives -------------------------------------------------


def test_stepping_one_event_at_a_time_gives_the_straight_runs_fills_orders_and_portfolios(
    capture: Capture, straight: Fingerprint
) -> None:
    backtest, ledger = loaded(capture)

    handled: list[int] = []
    while (event := backtest.step()) is not None:
        handled.append(event[0])
        assert backtest.clock.time_ns() == event[0]
    result = backtest.result()

    assert backtest.at_end
    assert handled == sorted(handled) and len(handled) == result.events
    assert fingerprint(result, ledger) == straight


def test_stepping_to_irregular_times_gives_the_straight_runs_fills_orders_and_portfolios(
    capture: Capture, straight: Fingerprint
) -> None:
    backtest, ledger = loaded(capture)
    span = capture.end_ns - capture.start_ns
    # On the first event, twice at one time, a millisecond on, then uneven jumps
    # (some landing between events, some past several minutes of them).
    offsets = [0, 0, 1_000_000, 7 * NS + 3, 7 * NS + 3, span // 3, span // 3 + 1, span - 1]
    times = [capture.start_ns + offset for offset in offsets]

    counts = [backtest.step_until(ts) for ts in times]
    assert not backtest.at_end  # the last event is still to come
    counts.append(backtest.step_until(capture.end_ns))
    result = backtest.result()

    assert counts[0] >= 1 and counts[1] == 0 and counts[4] == 0  # the same time again: nothing
    assert sum(counts) == result.events
    assert backtest.at_end
    assert fingerprint(result, ledger) == straight


@settings(max_examples=20, deadline=None)
@given(plan=st.lists(st.tuples(st.integers(0, 40 * NS), st.integers(0, 3)), max_size=10))
def test_any_mix_of_steps_and_step_untils_gives_the_straight_run(
    short_capture: Capture, short_straight: Fingerprint, plan: list[tuple[int, int]]
) -> None:
    """``plan``: (how far on to step_until, then how many single steps), in turn."""
    backtest, ledger = loaded(short_capture)

    at = short_capture.start_ns
    for gap, steps in plan:
        at += gap
        backtest.step_until(at)
        for _ in range(steps):
            backtest.step()
        at = max(at, backtest.clock.time_ns())
    while backtest.step() is not None:
        pass

    assert fingerprint(backtest.result(), ledger) == short_straight


def test_finishing_early_is_a_backtest_that_ends_there(capture: Capture) -> None:
    middle = (capture.start_ns + capture.end_ns) // 2
    backtest, ledger = loaded(capture)
    backtest.step_until(middle)
    early = backtest.result()
    short = Capture(capture.path, capture.start_ns, middle)
    ledger_short = MemoryLedger()
    expected = Backtest(config(short), ledger=ledger_short).run(short.events())

    assert not backtest.at_end
    assert early.last_event_ns is not None and early.last_event_ns <= middle
    assert fingerprint(early, ledger) == fingerprint(expected, ledger_short)
    assert backtest.result() is early  # finished once


# -- errors ----------------------------------------------------------------------------------


def test_stepping_after_the_result_says_the_backtest_is_finished(capture: Capture) -> None:
    backtest, _ = loaded(capture)
    backtest.step_until(capture.start_ns + 10 * NS)
    result = backtest.result()

    with pytest.raises(ValueError, match=f"finished at {result.runs['trend'].times_ns[-1]}"):
        backtest.step()
    with pytest.raises(ValueError, match="finished at"):
        backtest.step_until(capture.end_ns)
    with pytest.raises(ValueError, match="build a new one"):
        backtest.run(capture.events())


def test_step_until_refuses_to_go_back_naming_both_times(capture: Capture) -> None:
    backtest, _ = loaded(capture)
    start, later = capture.start_ns, capture.start_ns + 30 * NS

    with pytest.raises(ValueError, match=rf"step_until\({start - 1}\).* at {start} already"):
        backtest.step_until(start - 1)  # the clock starts at the backtest's start
    backtest.step_until(later)

    with pytest.raises(ValueError, match=rf"step_until\({later - 1}\).* at {later} already"):
        backtest.step_until(later - 1)

    event = backtest.step()  # past ``later``: the clock is now ahead of it
    assert event is not None and event[0] > later
    with pytest.raises(ValueError, match=rf"step_until\({later}\).* at {event[0]} already"):
        backtest.step_until(later)


def test_stepping_needs_events_and_takes_them_once(capture: Capture) -> None:
    backtest = Backtest(config(capture))

    with pytest.raises(ValueError, match=r"load\(events\) first"):
        backtest.step()
    backtest.load(capture.events())
    with pytest.raises(ValueError, match="has its events already"):
        backtest.load(capture.events())


# -- the features hook -----------------------------------------------------------------------


class Series:
    """A feature provider over values stamped in time: the latest one at or before ``now_ns``."""

    def __init__(self, stamps: list[int]) -> None:
        self.stamps = stamps
        self.asked: list[int] = []

    def __call__(self, now_ns: int, exchange: str, symbol: str) -> object:
        self.asked.append(now_ns)
        if (exchange, symbol) != (EXCHANGE, SYMBOL):
            return None
        i = bisect.bisect_right(self.stamps, now_ns)
        return self.stamps[i - 1] if i else None


class ReadsFeatures(Strategy[StrategyParams]):
    """Reads the features hook in every hook, keeping (clock time, what it read)."""

    kind = "reads_features"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[tuple[int, object]] = []

    def _read(self) -> Intents:
        self.seen.append((self.clock.time_ns(), self.ctx.features(EXCHANGE, SYMBOL)))
        return None

    def on_book(self, book: OrderBook) -> Intents:
        return self._read()

    def on_trade(self, trade: Trade) -> Intents:
        return self._read()

    def on_candle(self, candle: Candle) -> Intents:
        return self._read()

    def on_time(self, now_ns: int) -> Intents:
        return self._read()


def reader_backtest(capture: Capture, features: Series | None) -> tuple[Backtest, ReadsFeatures]:
    registry = StrategyRegistry()
    registry.register(ReadsFeatures)
    backtest = Backtest(
        BacktestConfig(
            strategies=[StrategyConfig(
                name="reader", kind="reads_features", exchange=EXCHANGE, symbols=[SYMBOL]
            )],
            instruments={(EXCHANGE, SYMBOL): sim_instrument()},
            start_ns=capture.start_ns, end_ns=capture.end_ns,
        ),
        registry=registry, features=features,
    )
    (strategy,) = backtest.engine.strategies
    assert isinstance(strategy, ReadsFeatures)
    return backtest, strategy


def test_a_strategy_reads_the_features_known_at_the_event_it_handles_never_later(
    capture: Capture,
) -> None:
    # A value every 2.5 s of market time, the first before the replay starts.
    stamps = list(range(capture.start_ns - NS, capture.end_ns + 10 * NS, 2_500_000_000))
    series = Series(stamps)
    backtest, reader = reader_backtest(capture, series)
    backtest.load(capture.events())

    while (event := backtest.step()) is not None:
        read_now = reader.seen[-1]
        # What the hooks read while this event was handled: at its time, as of its time.
        assert read_now[0] == event[0]
        assert read_now[1] == max(s for s in stamps if s <= event[0])
    backtest.result()

    assert series.asked == [t for t, _ in reader.seen]  # asked at the clock's time, each read
    assert all(isinstance(value, int) and value <= t for t, value in reader.seen)
    assert len({value for _, value in reader.seen}) > 10  # it moved on with the replay
    assert stamps[-1] not in {value for _, value in reader.seen}  # nothing from the future


def test_without_a_provider_the_features_hook_reads_none(capture: Capture) -> None:
    backtest, reader = reader_backtest(capture, None)
    backtest.load(capture.events())

    backtest.step_until(capture.start_ns + 5 * NS)

    assert reader.seen and {value for _, value in reader.seen} == {None}


def test_a_stepped_run_with_features_matches_a_straight_one(capture: Capture) -> None:
    stamps = list(range(capture.start_ns, capture.end_ns, 1_700_000_000))
    straight, straight_reader = reader_backtest(capture, Series(stamps))
    straight.run(capture.events())
    stepped, stepped_reader = reader_backtest(capture, Series(stamps))
    stepped.load(capture.events())

    t = capture.start_ns
    while not stepped.at_end:
        t += 3_300_000_000
        stepped.step_until(t)
    stepped.result()

    assert stepped_reader.seen == straight_reader.seen


def test_the_event_step_until_reads_ahead_is_the_next_one_handled(capture: Capture) -> None:
    times = [ts for ts, _, _ in capture.events()]
    backtest, _ = loaded(capture)

    handled = backtest.step_until(times[0])
    event = backtest.step()

    assert handled == times.count(times[0])
    assert event is not None and event[0] == times[handled] > times[0]
