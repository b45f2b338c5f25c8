"""The report's PNGs: equity and drawdown per strategy (with buy and hold), and the
price with every trade's entry and exit.

matplotlib is imported inside the functions: the agent imports this package for
live trading and must not pay for a plotting stack it never uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.trading.backtest import BacktestResult
from shared.trading.metrics import Baseline

MAX_POINTS = 20_000
"""Price points drawn at most (a year of minutes is 525,600): every n-th is kept."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on a Pi or a CI runner
    import matplotlib.pyplot as plt

    return plt


def write_equity_png(
    path: Path, result: BacktestResult, title: str, base: Baseline | None = None
) -> None:
    """Equity curves (top) and drawdowns (bottom) of every strategy; buy and hold
    dashed, scaled to the first strategy's starting balance."""
    import numpy as np

    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for name, run in result.runs.items():
        times = np.asarray(run.times_ns, dtype="datetime64[ns]")
        equity = np.asarray(run.equity, dtype=np.float64)
        peaks = np.maximum.accumulate(equity)
        top.plot(times, equity, label=name, linewidth=1)
        bottom.plot(times, equity / peaks - 1.0, linewidth=1)
    if base is not None and result.runs:
        first = next(iter(result.runs.values()))
        times = np.asarray(first.times_ns, dtype="datetime64[ns]")
        curve = np.asarray(base.curve, dtype=np.float64) * float(first.config.starting_balance)
        top.plot(times, curve, label="buy and hold", linewidth=1, linestyle="--", color="grey")
    top.set_title(title)
    top.set_ylabel("equity")
    top.legend(loc="best")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_price_png(
    path: Path,
    times_ns: Sequence[int],
    prices: Sequence[float],
    trades: Sequence[Mapping[str, Any]],
    title: str,
) -> None:
    """The price the backtest saw, each trade's entry (▲) and exit (▼) on it, one
    colour per strategy; ``trades`` are :func:`edge.trading.report_tables.trade_rows`."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5))
    step = max(1, len(prices) // MAX_POINTS)
    ax.plot(
        np.asarray(times_ns[::step], dtype="datetime64[ns]"),
        np.asarray(prices[::step], dtype=np.float64), linewidth=0.8, color="#555555",
        label="price",
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    strategies = list(dict.fromkeys(str(t["strategy"]) for t in trades))
    for i, name in enumerate(strategies):
        colour = colours[i % len(colours)]
        own = [t for t in trades if t["strategy"] == name]
        entries = [(t["entry_ns"], float(t["entry_price"])) for t in own]
        exits = [(t["exit_ns"], float(t["exit_price"])) for t in own if t["exit_price"]]
        for points, marker, label in ((entries, "^", "entries"), (exits, "v", "exits")):
            if points:
                xs, ys = zip(*points, strict=True)
                ax.scatter(
                    np.asarray(xs, dtype="datetime64[ns]"), ys, marker=marker, s=28,
                    color=colour, edgecolors="black", linewidths=0.4, zorder=3,
                    label=f"{name} {label}",
                )
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
