"""Performance figures of a backtest: returns, risk ratios, drawdown, trades.

Definitions (stated here once; the report and docs/operations.md quote them):

- The **equity curve** is sampled on a fixed grid of ``period_s`` seconds
  (the backtest runner samples every bar in a candle backtest and every 60 s of
  event time otherwise): sample *i* is the equity after every event up to and
  including its time.
- **Daily returns** (what the ratios are computed from, as freqtrade and
  quantstats do): the curve resampled to UTC day closes, the close of a day
  being its last sample (a sample at midnight closes the day before: it holds
  the events up to midnight), the starting equity before the first, and
  ``r_d = close_d / close_(d-1) - 1``. Per-minute returns annualized by
  ``sqrt(525600)`` blow any trading cost or autocorrelation up into a ratio
  of -60 or +60 that means nothing.
- **Sharpe** = ``mean(r) / std(r, ddof=1) * sqrt(365)`` (crypto trades every
  day), risk-free rate 0. **Sortino** = ``mean(r) / downside * sqrt(365)`` with
  ``downside = sqrt(mean(min(r, 0)^2))`` over *all* days (target return 0).
  Both are ``None`` with fewer than ``MIN_RATIO_DAYS`` daily returns (the
  report says "n/a (needs ≥ 7 days)") and where undefined (no variation, no
  losing day).
- **Total return** = ``end / start - 1``; **CAGR** =
  ``(end / start) ** (year / duration) - 1`` with a 365-day year and the
  duration from the first to the last sample.
- **Max drawdown** = the largest ``1 - e_i / max(e_0..e_i)``.
- **Exposure** = the mean over samples of marked positions / equity;
  **time in market** = the fraction of samples holding any position.
- **Turnover** = traded notional (buys and sells) / mean equity.
- **Trades** are round trips built from fills: a trip opens when a flat
  position is bought and closes when it is flat again (spot portfolios are long
  only). Its PnL is sell notional - buy notional - every fee of its fills.
  **Win rate** = trips with PnL > 0 / closed trips; **profit factor** = gross
  profit / gross loss (``None`` with no losing trip).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np

from shared.trading.portfolio import EXACT
from shared.trading.types import Fill

SECONDS_PER_YEAR = 365 * 86_400
"""Crypto trades every day of the year, so a year is 365 days of 24 hours."""
DAYS_PER_YEAR = 365
DAY_NS = 86_400 * 1_000_000_000
MIN_RATIO_DAYS = 7
"""Daily returns a Sharpe or Sortino needs: below a week of them it is noise."""

ZERO = Decimal(0)


@dataclass(slots=True)
class RoundTrip:
    """One trade: from flat, through every fill, back to flat."""

    strategy: str
    exchange: str
    symbol: str
    entry_ns: int
    exit_ns: int | None
    """``None`` while the position is still open (end of the backtest)."""
    qty: Decimal
    """Largest position held during the trip (base units)."""
    bought: Decimal = ZERO
    """Quote spent on buys."""
    sold: Decimal = ZERO
    """Quote received for sells."""
    buy_qty: Decimal = ZERO
    sell_qty: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0
    entry_order_id: int | None = None
    """The order of the trip's first fill."""
    exit_order_id: int | None = None
    """The order of the fill that made it flat (``None`` while open): why it ended."""

    @property
    def closed(self) -> bool:
        return self.exit_ns is not None

    @property
    def entry_price(self) -> Decimal:
        """Average buy price."""
        with localcontext(EXACT):
            return self.bought / self.buy_qty if self.buy_qty else ZERO

    @property
    def exit_price(self) -> Decimal:
        """Average sell price (0 while nothing was sold)."""
        with localcontext(EXACT):
            return self.sold / self.sell_qty if self.sell_qty else ZERO

    @property
    def pnl(self) -> Decimal:
        """Net PnL in quote currency; for an open trip, only what was realized so far."""
        with localcontext(EXACT):
            return self.sold - self.bought - self.fees if self.closed else -self.fees

    @property
    def return_fraction(self) -> float:
        """PnL over the quote spent on buys."""
        return float(self.pnl / self.bought) if self.bought else 0.0

    def as_row(self) -> dict[str, object]:
        """A flat row for CSV, JSON and tables (decimals as exact strings)."""
        return {
            "strategy": self.strategy,
            "exchange": self.exchange,
            "symbol": self.symbol,
            "entry_ns": self.entry_ns,
            "exit_ns": self.exit_ns,
            "qty": str(self.qty),
            "entry_price": str(self.entry_price),
            "exit_price": str(self.exit_price) if self.closed else None,
            "fees": str(self.fees),
            "pnl": str(self.pnl) if self.closed else None,
            "return": self.return_fraction if self.closed else None,
            "fills": self.fills,
        }


def round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """Round trips from fills in execution order; an open trip comes last for its market."""
    open_trips: dict[tuple[str, str, str], tuple[RoundTrip, Decimal]] = {}
    done: list[RoundTrip] = []
    with localcontext(EXACT):
        for fill in fills:
            key = (fill.strategy, fill.exchange, fill.symbol)
            entry = open_trips.get(key)
            if entry is None:
                if fill.side == "sell":
                    # Selling what no trip bought (a position seeded before the
                    # backtest) is not a trade this backtest made.
                    continue
                trip = RoundTrip(
                    fill.strategy, fill.exchange, fill.symbol, fill.ts_ns, None, ZERO,
                    entry_order_id=fill.order_id,
                )
                held = ZERO
            else:
                trip, held = entry
            notional = fill.qty * fill.price
            trip.fills += 1
            trip.fees += fill.fee
            if fill.side == "buy":
                held += fill.qty
                trip.bought += notional
                trip.buy_qty += fill.qty
                trip.qty = max(trip.qty, held)
            else:
                held -= fill.qty
                trip.sold += notional
                trip.sell_qty += fill.qty
            if held <= 0:
                trip.exit_ns = fill.ts_ns
                trip.exit_order_id = fill.order_id
                done.append(trip)
                open_trips.pop(key, None)
            else:
                open_trips[key] = (trip, held)
    done.extend(trip for trip, _ in open_trips.values())
    return done


@dataclass(frozen=True, slots=True)
class Metrics:
    """The figures of one strategy's backtest (see the module docstring)."""

    start_equity: float
    end_equity: float
    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    win_rate: float | None
    profit_factor: float | None
    exposure: float
    time_in_market: float
    turnover: float
    fees_paid: float
    trades: int
    """Closed round trips."""
    period_s: float
    samples: int
    duration_s: float
    ratio_days: int = 0
    """Daily returns behind Sharpe and Sortino (``None`` below ``MIN_RATIO_DAYS``)."""

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def daily_returns(times_ns: Sequence[int], equity: Sequence[float]) -> np.ndarray:
    """Returns between UTC day closes of a sampled curve (see the module docstring).

    The first sample is the opening value; each later one belongs to the day it
    closes, ``(t - 1) // DAY_NS``, so a sample at midnight is the day before's
    close. A window starting mid-day makes the first return a part day.
    """
    times = np.asarray(times_ns, dtype=np.int64)
    values = np.asarray(equity, dtype=np.float64)
    if values.size < 2:
        return np.empty(0, dtype=np.float64)
    days = (times[1:] - 1) // DAY_NS
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True)) + 1
    closes = np.concatenate(([values[0]], values[last_of_day]))
    return closes[1:] / closes[:-1] - 1.0


def daily_ratios(
    times_ns: Sequence[int], equity: Sequence[float]
) -> tuple[float | None, float | None, int]:
    """(Sharpe, Sortino, daily returns used): both ``None`` below ``MIN_RATIO_DAYS``."""
    returns = daily_returns(times_ns, equity)
    if returns.size < MIN_RATIO_DAYS:
        return None, None, int(returns.size)
    return (
        sharpe_ratio(returns, DAYS_PER_YEAR),
        sortino_ratio(returns, DAYS_PER_YEAR),
        int(returns.size),
    )


def sharpe_ratio(returns: np.ndarray, periods_per_year: float) -> float | None:
    """Annualized Sharpe of per-period returns (risk-free 0, sample std)."""
    if returns.size < 2:
        return None
    std = float(np.std(returns, ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return None
    return float(np.mean(returns)) / std * math.sqrt(periods_per_year)


def sortino_ratio(returns: np.ndarray, periods_per_year: float) -> float | None:
    """Annualized Sortino: downside deviation against 0 over every period."""
    if returns.size < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return float(np.mean(returns)) / downside * math.sqrt(periods_per_year)


def max_drawdown(equity: Sequence[float]) -> float:
    """Largest fall from a running peak, as a fraction of that peak."""
    values = np.asarray(equity, dtype=np.float64)
    if values.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        drops = np.where(peaks > 0, 1.0 - values / peaks, 0.0)
    return float(np.max(drops))


def cagr(start: float, end: float, duration_s: float) -> float | None:
    """Compound annual growth rate; ``None`` for no duration or a wiped-out account."""
    if duration_s <= 0 or start <= 0 or end <= 0:
        return None
    try:
        value = math.pow(end / start, SECONDS_PER_YEAR / duration_s) - 1.0
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def trade_stats(trips: Sequence[RoundTrip]) -> tuple[int, float | None, float | None]:
    """(closed trips, win rate, profit factor)."""
    closed = [t for t in trips if t.closed]
    if not closed:
        return 0, None, None
    pnls = [t.pnl for t in closed]
    wins = sum(1 for p in pnls if p > 0)
    gross_profit = sum((p for p in pnls if p > 0), ZERO)
    gross_loss = -sum((p for p in pnls if p < 0), ZERO)
    factor = float(gross_profit / gross_loss) if gross_loss > 0 else None
    return len(closed), wins / len(closed), factor


def compute_metrics(
    times_ns: Sequence[int],
    equity: Sequence[float],
    exposure: Sequence[float],
    fills: Sequence[Fill],
    trips: Sequence[RoundTrip],
    period_s: float,
    *,
    start_equity: float | None = None,
) -> Metrics:
    """Every figure from a uniformly sampled equity curve, its fills and round trips.

    ``start_equity`` defaults to the first sample (the starting balance when the
    runner records one at the start time, as it does).
    """
    if len(times_ns) != len(equity) or len(equity) != len(exposure):
        raise ValueError("times, equity and exposure must have the same length")
    if not equity:
        raise ValueError("an equity curve needs at least one sample")
    start = float(equity[0]) if start_equity is None else start_equity
    end = float(equity[-1])
    duration_s = (times_ns[-1] - times_ns[0]) / 1e9
    sharpe, sortino, days = daily_ratios(times_ns, equity)
    exposures = np.asarray(exposure, dtype=np.float64)
    traded = sum((f.qty * f.price for f in fills), ZERO)
    mean_equity = float(np.mean(np.asarray(equity, dtype=np.float64)))
    n_trades, win_rate, factor = trade_stats(trips)
    return Metrics(
        start_equity=start,
        end_equity=end,
        total_return=end / start - 1.0 if start else 0.0,
        cagr=cagr(start, end, duration_s),
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_drawdown(equity),
        win_rate=win_rate,
        profit_factor=factor,
        exposure=float(np.mean(exposures)),
        time_in_market=float(np.mean(exposures > 0)),
        turnover=float(traded) / mean_equity if mean_equity > 0 else 0.0,
        fees_paid=float(sum((f.fee for f in fills), ZERO)),
        trades=n_trades,
        period_s=period_s,
        samples=len(equity),
        duration_s=duration_s,
        ratio_days=days,
    )


@dataclass(frozen=True, slots=True)
class Baseline:
    """Buy and hold over the same window: the quote balance in the base asset at the
    window's first price, held to the end, no fees; sampled on the strategies' grid."""

    first_price: float
    last_price: float
    curve: list[float]
    """Value per grid sample, as a multiple of the start (1.0 at the start)."""
    total_return: float
    max_drawdown: float
    sharpe: float | None
    sortino: float | None
    ratio_days: int


def buy_and_hold(
    times_ns: Sequence[int], price_ns: Sequence[int], prices: Sequence[float]
) -> Baseline | None:
    """The baseline on the grid ``times_ns``: at each sample the last price at or
    before it (the first price before any); ``None`` without prices."""
    if len(prices) == 0 or len(times_ns) == 0:
        return None
    price_times = np.asarray(price_ns, dtype=np.int64)
    values = np.asarray(prices, dtype=np.float64)
    at = np.searchsorted(price_times, np.asarray(times_ns, dtype=np.int64), side="right") - 1
    curve = values[np.maximum(at, 0)] / values[0]
    sharpe, sortino, days = daily_ratios(times_ns, curve.tolist())
    return Baseline(
        first_price=float(values[0]),
        last_price=float(values[-1]),
        curve=curve.tolist(),
        total_return=float(curve[-1] - 1.0),
        max_drawdown=max_drawdown(curve.tolist()),
        sharpe=sharpe,
        sortino=sortino,
        ratio_days=days,
    )
