"""Backtest metrics against figures worked out by hand."""

from __future__ import annotations

import itertools
import math
import statistics
from decimal import Decimal

import pytest

from shared.trading.metrics import (
    MIN_RATIO_DAYS,
    buy_and_hold,
    compute_metrics,
    max_drawdown,
    round_trips,
    sharpe_ratio,
    sortino_ratio,
    trade_stats,
)
from shared.trading.types import Fill, Liquidity

DAY_NS = 86_400 * 1_000_000_000
DAY_S = 86_400.0


def fill(side: str, price: str, qty: str, fee: str, ts: int, symbol: str = "BTC/USDT") -> Fill:
    return Fill(
        order_id=ts, strategy="s", exchange="x", symbol=symbol, side=side,  # type: ignore[arg-type]
        price=Decimal(price), qty=Decimal(qty), fee=Decimal(fee),
        liquidity=Liquidity.TAKER, ts_ns=ts,
    )


# Daily equity 100 -> 110 -> 99 -> 121: returns +10 %, -10 %, +2/9.
CURVE = [100.0, 110.0, 99.0, 121.0]
TIMES = [i * DAY_NS for i in range(4)]
# A week of it: the same three returns, then +10 %, -10 %, +2/9, +10 % (7 daily returns).
WEEK = [100.0, 110.0, 99.0, 121.0, 133.1, 119.79, 146.41, 161.051]
WEEK_TIMES = [i * DAY_NS for i in range(8)]


def week_returns() -> list[float]:
    return [b / a - 1 for a, b in itertools.pairwise(WEEK)]


def test_sharpe_of_a_daily_curve_matches_the_hand_computation() -> None:
    r = week_returns()
    expected = statistics.mean(r) / statistics.stdev(r) * math.sqrt(365)

    m = compute_metrics(WEEK_TIMES, WEEK, [0.0] * 8, [], [], DAY_S)

    assert m.sharpe == pytest.approx(expected, rel=1e-12)
    assert m.ratio_days == 7


def test_sortino_uses_the_downside_deviation_over_every_period() -> None:
    # Only the two -10 % days are below 0: downside = sqrt(2 * 0.01 / 7).
    r = week_returns()
    expected = statistics.mean(r) / math.sqrt(2 * 0.01 / 7) * math.sqrt(365)

    m = compute_metrics(WEEK_TIMES, WEEK, [0.0] * 8, [], [], DAY_S)

    assert m.sortino == pytest.approx(expected, rel=1e-12)


def test_sharpe_and_sortino_come_from_utc_day_closes_not_from_every_sample() -> None:
    """Tried: the week's curve sampled every minute, each day wiggling ±1 % around a
    level that moves from one day's close to the next (a sample at midnight holds
    the day before's close). Kept: the ratios of the 7 daily closes, annualized by
    sqrt(365): the minutes' wiggles, which per-minute returns annualized by
    sqrt(525600) would blow up, take no part."""
    times, equity = [], []
    for day in range(7):
        for minute in range(1440):
            times.append(day * DAY_NS + minute * 60 * 10**9)
            wiggle = 0.01 if minute % 2 else -0.01
            equity.append(WEEK[day] * (1 + wiggle) if minute else WEEK[day])
    times.append(7 * DAY_NS)
    equity.append(WEEK[7])
    r = week_returns()

    m = compute_metrics(times, equity, [0.0] * len(times), [], [], 60.0)

    assert m.ratio_days == 7
    assert m.sharpe == pytest.approx(
        statistics.mean(r) / statistics.stdev(r) * math.sqrt(365), rel=1e-9
    )
    assert m.sortino == pytest.approx(
        statistics.mean(r) / math.sqrt(2 * 0.01 / 7) * math.sqrt(365), rel=1e-9
    )


def test_a_window_shorter_than_a_week_of_days_has_no_sharpe_or_sortino() -> None:
    """Tried: three days of a curve that moves. Kept: no Sharpe, no Sortino (the
    report says n/a, needs 7 days), and the three daily returns are counted."""
    m = compute_metrics(TIMES, CURVE, [0.0] * 4, [], [], DAY_S)

    assert (m.sharpe, m.sortino, m.ratio_days) == (None, None, 3)
    assert MIN_RATIO_DAYS == 7


def test_buy_and_hold_is_the_price_path_on_the_grid_from_the_first_price() -> None:
    """Tried: prices 100 at the start, 120 a day later, 90 then 110. Kept: the curve on
    the grid holds the last price at or before each sample over the first, and its
    return, drawdown and (under a week) no Sharpe."""
    grid = [0, DAY_NS, 2 * DAY_NS, 3 * DAY_NS]

    base = buy_and_hold(grid, [0, DAY_NS - 5, 2 * DAY_NS + 1, 3 * DAY_NS],
                        [100.0, 120.0, 90.0, 110.0])

    assert base is not None
    assert base.curve == [1.0, 1.2, 1.2, 1.1]
    assert base.total_return == pytest.approx(0.1)
    assert base.max_drawdown == pytest.approx(1 - 1.1 / 1.2)
    assert base.sharpe is None and base.ratio_days == 3
    assert buy_and_hold(grid, [], []) is None


def test_drawdown_total_return_and_cagr_of_the_daily_curve() -> None:
    m = compute_metrics(TIMES, CURVE, [0.0] * 4, [], [], DAY_S)

    assert m.max_drawdown == pytest.approx(0.1, rel=1e-12)  # 110 -> 99
    assert m.total_return == pytest.approx(0.21, rel=1e-12)
    assert m.cagr == pytest.approx(1.21 ** (365 / 3) - 1, rel=1e-12)
    assert m.duration_s == 3 * DAY_S
    assert m.samples == 4


def test_max_drawdown_takes_the_deepest_fall_from_any_peak() -> None:
    # Peaks 100 then 200; falls 100 -> 80 (20 %) and 200 -> 120 (40 %).
    assert max_drawdown([100, 80, 200, 150, 120, 210]) == pytest.approx(0.4)
    assert max_drawdown([1, 2, 3]) == 0.0


def test_ratios_are_undefined_without_variation_or_losses() -> None:
    import numpy as np

    flat = np.zeros(5)
    rising = np.array([0.01, 0.02, 0.01])

    assert sharpe_ratio(flat, 365) is None
    assert sortino_ratio(rising, 365) is None
    assert sharpe_ratio(np.array([0.01]), 365) is None


def test_round_trips_win_rate_and_profit_factor_by_hand() -> None:
    fills = [
        # +10 gross, fees 0.21: pnl 9.79
        fill("buy", "100", "1", "0.1", 1),
        fill("sell", "110", "1", "0.11", 2),
        # bought 100, sold 45 + 40 = 85, fees 0.185: pnl -15.185
        fill("buy", "50", "2", "0.1", 3),
        fill("sell", "45", "1", "0.045", 4),
        fill("sell", "40", "1", "0.04", 5),
        # +3, no fees
        fill("buy", "10", "1", "0", 6),
        fill("sell", "13", "1", "0", 7),
        # still open at the end: not a closed trade
        fill("buy", "20", "1", "0.02", 8),
    ]

    trips = round_trips(fills)
    count, win_rate, factor = trade_stats(trips)

    assert [t.pnl for t in trips if t.closed] == [
        Decimal("9.79"), Decimal("-15.185"), Decimal("3")
    ]
    assert trips[1].entry_price == Decimal("50")
    assert trips[1].exit_price == Decimal("42.5")
    assert trips[1].qty == Decimal("2")
    assert trips[1].fills == 3
    assert not trips[-1].closed and trips[-1].entry_ns == 8
    assert count == 3
    assert win_rate == pytest.approx(2 / 3)
    assert factor == pytest.approx((9.79 + 3) / 15.185)


def test_a_trip_scaling_in_closes_only_when_flat_again() -> None:
    fills = [
        fill("buy", "100", "1", "0", 1),
        fill("buy", "110", "1", "0", 2),
        fill("sell", "120", "1.5", "0", 3),
        fill("sell", "90", "0.5", "0", 4),
    ]

    (trip,) = round_trips(fills)

    assert trip.closed and trip.exit_ns == 4
    assert trip.qty == Decimal("2")
    assert trip.entry_price == Decimal("105")
    assert trip.pnl == Decimal("180") + Decimal("45") - Decimal("210")


def test_profit_factor_is_undefined_without_a_losing_trade() -> None:
    trips = round_trips([fill("buy", "1", "1", "0", 1), fill("sell", "2", "1", "0", 2)])

    assert trade_stats(trips) == (1, 1.0, None)


def test_exposure_turnover_and_fees_from_samples_and_fills() -> None:
    equity = [1000.0, 1000.0, 1010.0, 990.0]
    exposure = [0.0, 0.5, 0.5, 0.0]
    fills = [fill("buy", "100", "5", "0.5", 1), fill("sell", "98", "5", "0.49", 2)]

    m = compute_metrics(TIMES, equity, exposure, fills, round_trips(fills), DAY_S)

    assert m.exposure == pytest.approx(0.25)
    assert m.time_in_market == pytest.approx(0.5)
    assert m.turnover == pytest.approx((500 + 490) / 1000.0)
    assert m.fees_paid == pytest.approx(0.99)
    assert m.trades == 1 and m.win_rate == 0.0 and m.profit_factor == 0.0


def test_mismatched_curves_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        compute_metrics([0, 1], [1.0], [0.0], [], [], 60.0)
