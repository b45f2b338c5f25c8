"""The backtest runner: deterministic, on a fixed equity grid, through the real engine."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest

from edge.simulator.capture import write_capture
from edge.simulator.params import instrument_for
from edge.trading.sources import capture_events
from shared.config.trading import BrokerConfig, RiskConfig, StrategyConfig
from shared.marketdata import Candle
from shared.trading.backtest import (
    CANDLE,
    Backtest,
    BacktestConfig,
    BacktestResult,
    Event,
    candle_close_ns,
    merge_events,
)
from shared.trading.types import Instrument
from tests.shared.trading.test_backtest_reference import candles_of, load_rows

EXCHANGE, SYMBOL = "binanceus", "BTC/USDT"
KINDS = ("imbalance", "market_maker", "mean_reversion", "trend", "fallback")


def sim_instrument() -> Instrument:
    spec = instrument_for(SYMBOL)
    return Instrument(
        EXCHANGE, SYMBOL, Decimal(1).scaleb(-spec.price_decimals),
        Decimal(1).scaleb(-spec.size_decimals),
    )


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "binanceus.jsonl"
    write_capture(path, EXCHANGE, messages=12_000, seed=5, symbols=(SYMBOL,))
    return path


def book_backtest(capture: Path) -> BacktestResult:
    # A first pass for the window only: a yielded book is live, so each run replays anew.
    times = [ts for ts, _, _ in capture_events([capture], EXCHANGE, SYMBOL, 0, 2**62)]
    config = BacktestConfig(
        strategies=[
            StrategyConfig(name=kind, kind=kind, exchange=EXCHANGE, symbols=[SYMBOL])
            for kind in KINDS
        ],
        instruments={(EXCHANGE, SYMBOL): sim_instrument()},
        start_ns=times[0], end_ns=times[-1],
    )
    return Backtest(config).run(capture_events([capture], EXCHANGE, SYMBOL, times[0], times[-1]))


def candle_backtest(candles: list[Candle]) -> BacktestResult:
    events: list[Event] = [(candle_close_ns(c), CANDLE, c) for c in candles]
    config = BacktestConfig(
        strategies=[
            StrategyConfig(name="trend", kind="trend", exchange=EXCHANGE, symbols=[SYMBOL]),
            StrategyConfig(
                name="meanrev", kind="mean_reversion", exchange=EXCHANGE, symbols=[SYMBOL]
            ),
        ],
        instruments={(EXCHANGE, SYMBOL): Instrument(
            EXCHANGE, SYMBOL, Decimal("0.01"), Decimal("0.00001")
        )},
        start_ns=events[0][0] - 60_000_000_000, end_ns=events[-1][0],
        broker=BrokerConfig(candle_slippage_bps=3.0),
        risk=RiskConfig(),
        candle_mode=True,
    )
    return Backtest(config).run(events)


def test_a_book_backtest_run_twice_gives_the_same_fills_bit_for_bit(capture: Path) -> None:
    first = book_backtest(capture)
    second = book_backtest(capture)

    assert sum(len(r.fills) for r in first.runs.values()) > 0, "nothing traded"
    for name in KINDS:
        assert first.runs[name].fills == second.runs[name].fills
        assert first.runs[name].final.equity == second.runs[name].final.equity
        assert first.runs[name].equity == second.runs[name].equity
    assert first.stats == second.stats


@pytest.mark.real_data
def test_a_candle_backtest_run_twice_gives_the_same_fills_bit_for_bit(real_data: Path) -> None:
    candles = candles_of(load_rows(real_data))[: 3 * 1440]

    first = candle_backtest(candles)
    second = candle_backtest(candles)

    assert first.mode == "candles"
    assert len(first.runs["trend"].fills) > 10
    for name in ("trend", "meanrev"):
        a, b = first.runs[name], second.runs[name]
        assert a.fills == b.fills
        assert [str(f.price) + str(f.qty) + str(f.fee) for f in a.fills] == [
            str(f.price) + str(f.qty) + str(f.fee) for f in b.fills
        ]
        assert a.final.equity == b.final.equity
        assert a.metrics == b.metrics


@pytest.mark.real_data
def test_a_candle_fill_is_stamped_at_the_open_of_the_bar_whose_prices_it_got(
    real_data: Path,
) -> None:
    """Tried: three days of real candles through trend and mean reversion (brackets,
    stops, exits), each bar an event at its close. Kept: every fill carries the open
    time of a bar whose range holds its price, and each market order's fill is that
    bar's open moved by the slippage: stamped and priced by the same bar, not the bar
    before's close."""
    candles = candles_of(load_rows(real_data))[: 3 * 1440]
    by_open = {c.open_time_ms * 1_000_000: c for c in candles}

    result = candle_backtest(candles)

    fills = [f for run in result.runs.values() for f in run.fills]
    assert len(fills) > 20
    for f in fills:
        bar = by_open[f.ts_ns]
        assert bar.low <= f.price <= bar.high, (f, bar)
    entries = [f for f in result.runs["trend"].fills if f.side == "buy"]
    tick = Decimal("0.01")
    for f in entries:
        bar = by_open[f.ts_ns]
        slipped = (bar.open * Decimal("1.0003") / tick).to_integral_value(ROUND_CEILING) * tick
        assert f.price == min(slipped, bar.high), (f, bar)


def test_the_equity_curve_sits_on_a_fixed_grid_and_ends_at_the_final_equity(
    capture: Path,
) -> None:
    result = book_backtest(capture)

    for run in result.runs.values():
        steps = {b - a for a, b in zip(run.times_ns, run.times_ns[1:], strict=False)}
        assert steps == {60_000_000_000}
        assert run.times_ns[0] == result.start_ns
        assert run.times_ns[-1] >= (result.last_event_ns or 0)
        assert run.equity[0] == float(run.config.starting_balance)
        assert run.equity[-1] == float(run.final.equity)


def test_events_outside_the_window_are_not_replayed() -> None:
    candle = Candle(EXCHANGE, SYMBOL, 0, *(Decimal(100),) * 4, Decimal(1), 1)
    events: list[Event] = [
        (candle_close_ns(candle) + i * 60_000_000_000, CANDLE, candle) for i in range(10)
    ]
    config = BacktestConfig(
        strategies=[StrategyConfig(name="t", kind="trend", exchange=EXCHANGE, symbols=[SYMBOL])],
        instruments={(EXCHANGE, SYMBOL): sim_instrument()},
        start_ns=events[2][0], end_ns=events[5][0], candle_mode=True,
    )

    result = Backtest(config).run(events)

    assert result.events == 4
    assert (result.first_event_ns, result.last_event_ns) == (events[2][0], events[5][0])


def test_merge_keeps_time_order_and_source_order_on_ties() -> None:
    a: list[Event] = [(1, 0, "a1"), (3, 0, "a3"), (5, 0, "a5")]
    b: list[Event] = [(1, 1, "b1"), (4, 1, "b4")]

    merged = [payload for _, _, payload in merge_events(a, b)]

    assert merged == ["a1", "b1", "a3", "b4", "a5"]


def test_a_config_naming_a_market_without_an_instrument_is_refused() -> None:
    with pytest.raises(ValueError, match="no instrument for binanceus:ETH/USDT"):
        BacktestConfig(
            strategies=[
                StrategyConfig(name="t", kind="trend", exchange=EXCHANGE, symbols=["ETH/USDT"])
            ],
            instruments={(EXCHANGE, SYMBOL): sim_instrument()},
            start_ns=0, end_ns=1,
        )
