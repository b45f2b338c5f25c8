"""What a backtest report shows, as rows: trades, the buy-and-hold baseline, breaker
events and risk rejections, with figures formatted for people.

Machine rows (``trades.csv``, ``--json``) keep exact decimals and plain numbers;
the ``human_*`` functions are for the terminal and the HTML page: thousands
separators, percentages with 2 decimals, durations as ``1h 05m``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from edge.trading.price_tape import PriceTape
from shared.trading.backtest import BacktestResult, StrategyRun
from shared.trading.exits import END_OF_BACKTEST, exit_reason, latest_orders, order_tag
from shared.trading.metrics import MIN_RATIO_DAYS, Baseline, buy_and_hold
from shared.trading.risk import FLATTEN_TAG
from shared.trading.types import Order, Rejection

NA_RATIO = f"n/a (needs ≥ {MIN_RATIO_DAYS} days)"
RATIO_METHOD = (
    "Sharpe and Sortino come from daily returns (the equity at each UTC day's close), "
    "annualized by √365 since crypto trades every day, risk-free rate 0; below "
    f"{MIN_RATIO_DAYS} daily returns they are not given."
)
BASELINE_METHOD = (
    "Buy and hold: the starting balance in the base asset at the window's first price, "
    "held to the end, no fees."
)
HTML_TRADES = 1_000
"""Trades the page lists (every one is in trades.csv)."""


@dataclass
class ReportData:
    """What the report needs beyond the result: the ledger's order events and
    rejections, why each tripped breaker tripped, and the prices the backtest saw."""

    orders: Sequence[Order] = ()
    rejections: Sequence[Rejection] = ()
    breakers: Mapping[str, str] = field(default_factory=dict)
    """Strategy -> the risk manager's reason for pausing it (``RiskManager.paused``)."""
    tripped_ns: Mapping[str, int] = field(default_factory=dict)
    """Strategy -> when it was paused (``RiskManager.tripped_ns``)."""
    prices: PriceTape | None = None


# -- formats ---------------------------------------------------------------------------


def iso(ts_ns: int | None) -> str | None:
    """A time as ``2023-03-01T12:00:00Z`` (whole seconds, never rounded up)."""
    if ts_ns is None:
        return None
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_time(ts_ns: int | None) -> str:
    """A time as ``2023-03-01 12:00`` (UTC; seconds only when there are some)."""
    if ts_ns is None:
        return ""
    moment = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")


def human_duration(seconds: float | None) -> str:
    """``42s``, ``5m``, ``5m 30s``, ``1h 05m``, ``3d 04h``."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s"


def human(value: object, kind: str) -> str:
    """A figure as text: ``pct`` 12.34%, ``ratio``/``num`` 1.23, ``money`` 1,234.56,
    ``price`` 23,140.48 (at least 2 decimals, every digit kept), ``int`` 1,234;
    undefined (``None``) as —."""
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if kind == "pct":
        return f"{float(value):.2%}"  # type: ignore[arg-type]
    if kind in ("num", "ratio"):
        return f"{float(value):,.2f}"  # type: ignore[arg-type]
    if kind == "money":
        return f"{float(value):,.2f}"  # type: ignore[arg-type]
    if kind == "price":
        price = Decimal(str(value))
        exponent = price.as_tuple().exponent
        places = max(2, -exponent) if isinstance(exponent, int) else 2
        return f"{price:,.{places}f}"
    if kind == "int" and isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio_text(value: float | None, days: int) -> str:
    """A Sharpe or Sortino for people: n/a below a week of daily returns."""
    if days < MIN_RATIO_DAYS:
        return NA_RATIO
    return human(value, "ratio")


# -- trades ----------------------------------------------------------------------------

TRADE_COLUMNS = [
    "strategy", "exchange", "symbol", "entry", "exit", "duration", "duration_s", "qty",
    "entry_price", "exit_price", "fees", "pnl", "return", "exit_reason", "entry_tag",
    "exit_tag", "fills",
]


def trade_rows(
    run: StrategyRun, orders: Mapping[int, Order], end_ns: int, last_price: float | None
) -> list[dict[str, Any]]:
    """One row per round trip, exact decimals as strings (:data:`TRADE_COLUMNS` and
    the times in ns, ``entry_ns`` and ``exit_ns``).

    A trip still open at the end is ``end of backtest``: its exit is the end
    (``end_ns``, the last event) at the last price, and its P&L the position
    marked there, fees so far included and no exit fee (it was not sold).
    """
    rows = []
    for trip in run.trips:
        row = trip.as_row()
        reason = exit_reason(trip, orders)
        exit_ns = trip.exit_ns if trip.exit_ns is not None else end_ns
        seconds = (exit_ns - trip.entry_ns) / 1e9
        row.update(
            entry=iso(trip.entry_ns),
            exit=iso(exit_ns),
            duration=human_duration(seconds),
            duration_s=seconds,
            exit_reason=reason,
            entry_tag=order_tag(trip.entry_order_id, orders),
            exit_tag=order_tag(trip.exit_order_id, orders),
        )
        if reason == END_OF_BACKTEST and last_price is not None:
            held = trip.buy_qty - trip.sell_qty
            mark = Decimal(repr(last_price))
            pnl = trip.sold + held * mark - trip.bought - trip.fees
            row.update(exit_price=str(mark), pnl=str(pnl),
                       **{"return": float(pnl / trip.bought) if trip.bought else None})
        row["exit_ns"] = exit_ns
        rows.append(row)
    return rows


def human_trade(row: Mapping[str, Any]) -> dict[str, str]:
    """A trade row for the page."""
    def text(value: Any, kind: str) -> str:
        return "" if value is None else human(value, kind)

    return {
        "strategy": str(row["strategy"]),
        "entry": human_time(row["entry_ns"]),
        "exit": human_time(row["exit_ns"]),
        "duration": str(row["duration"]),
        "qty": str(row["qty"]),
        "entry_price": text(row["entry_price"], "price"),
        "exit_price": text(row["exit_price"], "price"),
        "fees": text(_float(row["fees"]), "money"),
        "pnl": text(_float(row["pnl"]), "money"),
        "return": text(row["return"], "pct"),
        "exit_reason": str(row["exit_reason"]),
        "exit_tag": str(row["exit_tag"] or ""),
    }


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)


def all_trade_rows(result: BacktestResult, data: ReportData) -> list[dict[str, Any]]:
    """Every strategy's trade rows, in strategy order."""
    orders = latest_orders(data.orders)
    end_ns = result.last_event_ns if result.last_event_ns is not None else result.start_ns
    last = data.prices.last() if data.prices is not None else None
    return [row for run in result.runs.values() for row in trade_rows(run, orders, end_ns, last)]


def exit_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Strategy -> exit reason -> trades."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        per = counts.setdefault(str(row["strategy"]), {})
        per[str(row["exit_reason"])] = per.get(str(row["exit_reason"]), 0) + 1
    return counts


# -- baseline --------------------------------------------------------------------------


def baseline(result: BacktestResult, data: ReportData) -> Baseline | None:
    """Buy and hold on the strategies' equity grid, from the prices the backtest saw."""
    if data.prices is None or not result.runs:
        return None
    times, prices = data.prices.series()
    grid = next(iter(result.runs.values())).times_ns
    return buy_and_hold(grid, times, prices)


def baseline_rows(result: BacktestResult, base: Baseline | None) -> list[dict[str, str]]:
    """Each strategy, then buy and hold: return, max drawdown, Sharpe, for people."""
    rows = [
        {
            "name": name,
            "return": human(run.metrics.total_return, "pct"),
            "max_drawdown": human(run.metrics.max_drawdown, "pct"),
            "sharpe": ratio_text(run.metrics.sharpe, run.metrics.ratio_days),
        }
        for name, run in result.runs.items()
    ]
    if base is not None:
        rows.append({
            "name": "buy and hold",
            "return": human(base.total_return, "pct"),
            "max_drawdown": human(base.max_drawdown, "pct"),
            "sharpe": ratio_text(base.sharpe, base.ratio_days),
        })
    return rows


def baseline_json(base: Baseline | None) -> dict[str, Any] | None:
    if base is None:
        return None
    return {
        "first_price": base.first_price,
        "last_price": base.last_price,
        "total_return": base.total_return,
        "max_drawdown": base.max_drawdown,
        "sharpe": base.sharpe,
        "sortino": base.sortino,
        "ratio_days": base.ratio_days,
    }


# -- risk ------------------------------------------------------------------------------


def breaker_events(data: ReportData) -> list[dict[str, Any]]:
    """Each tripped circuit breaker: when, who, why, and what it sold (the flatten
    orders sent: none when the strategy was flat)."""
    flattens = latest_orders(o for o in data.orders if o.tag == FLATTEN_TAG)
    events = []
    for strategy, why in sorted(data.breakers.items()):
        ts = data.tripped_ns.get(strategy)
        sold = [o for o in flattens.values() if o.strategy == strategy]
        events.append({
            "strategy": strategy, "ts_ns": ts, "time": iso(ts),
            "event": "circuit breaker tripped", "detail": why,
            "flatten": ", ".join(
                f"sold {o.filled_qty} {o.symbol} at {o.avg_price}" if o.filled_qty
                else f"flatten {o.symbol}: {o.status}" for o in sold
            ) or "flat: nothing to sell",
        })
    return sorted(events, key=lambda e: (e["ts_ns"] is None, e["ts_ns"] or 0, e["strategy"]))


def rejection_rows(data: ReportData) -> list[dict[str, Any]]:
    """Per strategy and reason: how many, the first and last time, the first detail."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for rejection in data.rejections:
        key = (rejection.strategy, rejection.reason)
        group = groups.get(key)
        if group is None:
            groups[key] = {
                "strategy": rejection.strategy, "reason": rejection.reason, "count": 1,
                "first": human_time(rejection.ts_ns), "last": human_time(rejection.ts_ns),
                "detail": rejection.detail,
            }
        else:
            group["count"] += 1
            group["last"] = human_time(rejection.ts_ns)
    return [groups[key] for key in sorted(groups)]
