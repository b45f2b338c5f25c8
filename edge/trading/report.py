"""Backtest reports: a terminal summary, ``--json`` figures, the trade list as CSV,
the equity curve as PNG and one self-contained HTML page.

matplotlib is imported only inside :func:`write_equity_png`: the agent imports
this package for live trading and must not pay for a plotting stack it never uses.
"""

from __future__ import annotations

import base64
import csv
import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.trading.backtest import BacktestResult, StrategyRun
from shared.trading.metrics import Metrics

CANDLE_NOTE = (
    "Candle-only backtest: orders decided on a candle's close fill at the next candle's "
    "open plus {slippage} bps slippage; no order book, no queue position, no partial fills."
)
SNAPSHOT_NOTE = (
    "Book snapshots + trades: the book is the stored top-N levels every few seconds, "
    "stale in between; fills are coarser than a raw replay."
)
RAW_NOTE = "Raw replay: every recorded message through the real feed parsers (exact books)."

FIGURES: list[tuple[str, str, str]] = [
    ("total_return", "total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("max_drawdown", "max drawdown", "pct"),
    ("win_rate", "win rate", "pct"),
    ("profit_factor", "profit factor", "num"),
    ("exposure", "exposure", "pct"),
    ("time_in_market", "time in market", "pct"),
    ("turnover", "turnover", "num"),
    ("fees_paid", "fees paid", "money"),
    ("trades", "trades", "int"),
    ("end_equity", "final equity", "money"),
]
"""(metric field, label, format) in the order every report shows them."""


@dataclass
class ReportMeta:
    """What was run, for the report's header."""

    exchange: str
    symbol: str
    source: str
    """raw, snapshots or candles."""
    store: str
    instrument: str
    """Where the tick, lot and fees came from, with their values."""
    notes: list[str] = field(default_factory=list)


def fmt(value: object, kind: str) -> str:
    """A figure as text; undefined figures (``None``) as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if kind == "pct":
        return f"{float(value):.2%}"  # type: ignore[arg-type]
    if kind == "num":
        return f"{float(value):.3f}"  # type: ignore[arg-type]
    if kind == "money":
        return f"{float(value):,.2f}"  # type: ignore[arg-type]
    return str(value)


def iso(ts_ns: int | None) -> str | None:
    if ts_ns is None:
        return None
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_note(result: BacktestResult, source: str, slippage_bps: float) -> str:
    if result.mode == "candles":
        return CANDLE_NOTE.format(slippage=f"{slippage_bps:g}")
    return SNAPSHOT_NOTE if source == "snapshots" else RAW_NOTE


def _json_number(value: Any) -> Any:
    # JSON has no infinity or NaN: an unbounded figure is reported as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def metrics_dict(metrics: Metrics) -> dict[str, Any]:
    return {key: _json_number(value) for key, value in metrics.as_dict().items()}


def result_json(
    result: BacktestResult, meta: ReportMeta, files: Mapping[str, str]
) -> dict[str, Any]:
    """Every figure, per strategy, ready for ``json.dumps``."""
    strategies = {}
    for name, run in result.runs.items():
        strategies[name] = {
            "kind": run.config.kind,
            "starting_balance": str(run.config.starting_balance),
            "final_equity": str(run.final.equity),
            "realized": str(run.final.realized),
            "unrealized": str(run.final.unrealized),
            "fees": str(run.final.fees),
            "fills": len(run.fills),
            "rejections": run.rejections,
            "metrics": metrics_dict(run.metrics),
            "open_trade": any(not t.closed for t in run.trips),
        }
    return {
        "exchange": meta.exchange,
        "symbol": meta.symbol,
        "mode": result.mode,
        "source": meta.source,
        "candle_only": result.mode == "candles",
        "store": meta.store,
        "instrument": meta.instrument,
        "from": iso(result.start_ns),
        "to": iso(result.end_ns),
        "first_event": iso(result.first_event_ns),
        "last_event": iso(result.last_event_ns),
        "events": result.events,
        "notes": meta.notes,
        "definitions": (
            "Sharpe/Sortino: per-period simple returns of the equity curve sampled every "
            f"{_period(result)} s, annualized by sqrt(365*86400/period), risk-free 0"
        ),
        "strategies": strategies,
        "files": dict(files),
    }


def _period(result: BacktestResult) -> str:
    for run in result.runs.values():
        return f"{run.metrics.period_s:g}"
    return "?"


def print_summary(result: BacktestResult, meta: ReportMeta, console: Console) -> None:
    """A rich table of every strategy's figures, with the notes under it."""
    title = (
        f"backtest {meta.exchange}:{meta.symbol} {iso(result.start_ns)} → {iso(result.end_ns)} "
        f"({result.mode}, {result.events:,} events)"
    )
    table = Table(title=title)
    table.add_column("figure")
    for name in result.runs:
        table.add_column(name, justify="right")
    for key, label, kind in FIGURES:
        table.add_row(label, *(fmt(getattr(r.metrics, key), kind) for r in result.runs.values()))
    table.add_row("rejections", *(str(sum(r.rejections.values())) for r in result.runs.values()))
    console.print(table)
    for note in meta.notes:
        console.print(f"[yellow]{note}[/yellow]")


TRADE_COLUMNS = [
    "strategy", "exchange", "symbol", "entry", "exit", "qty", "entry_price", "exit_price",
    "fees", "pnl", "return", "fills",
]


def trade_rows(run: StrategyRun) -> list[dict[str, Any]]:
    rows = []
    for trip in run.trips:
        row = trip.as_row()
        row["entry"] = iso(trip.entry_ns)
        row["exit"] = iso(trip.exit_ns)
        rows.append({column: row.get(column) for column in TRADE_COLUMNS})
    return rows


def write_trades_csv(path: Path, result: BacktestResult) -> None:
    """Every strategy's round trips (an open one last, with no exit)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TRADE_COLUMNS)
        writer.writeheader()
        for run in result.runs.values():
            writer.writerows(trade_rows(run))


def write_equity_png(path: Path, result: BacktestResult, title: str) -> None:
    """Equity curves (top) and drawdowns (bottom) of every strategy."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a Pi or a CI runner
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for name, run in result.runs.items():
        times = np.asarray(run.times_ns, dtype="datetime64[ns]")
        equity = np.asarray(run.equity, dtype=np.float64)
        peaks = np.maximum.accumulate(equity)
        top.plot(times, equity, label=name, linewidth=1)
        bottom.plot(times, equity / peaks - 1.0, linewidth=1)
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


def write_html(path: Path, result: BacktestResult, meta: ReportMeta, png: Path | None) -> None:
    """One page with the figures, the notes, the plot (embedded) and the trade list."""
    e = html.escape
    runs = list(result.runs.values())
    head = "".join(f"<th>{e(r.config.name)}</th>" for r in runs)
    body = "".join(
        f"<tr><td>{e(label)}</td>"
        + "".join(f"<td>{e(fmt(getattr(r.metrics, key), kind))}</td>" for r in runs)
        + "</tr>"
        for key, label, kind in FIGURES
    )
    image = ""
    if png is not None and png.exists():
        data = base64.b64encode(png.read_bytes()).decode()
        image = f'<img alt="equity curve" src="data:image/png;base64,{data}">'
    trades_head = "".join(f"<th>{e(c)}</th>" for c in TRADE_COLUMNS)
    trades_body = "".join(
        "<tr>" + "".join(f"<td>{e('' if row[c] is None else str(row[c]))}</td>"
                         for c in TRADE_COLUMNS) + "</tr>"
        for run in runs
        for row in trade_rows(run)
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in meta.notes)
    title = f"Backtest {meta.exchange}:{meta.symbol}"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
td:first-child {{ text-align: left; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{e(title)}</h1>
<p>{e(str(iso(result.start_ns)))} → {e(str(iso(result.end_ns)))} · {result.mode} mode ·
source {e(meta.source)} · {result.events:,} events · store {e(meta.store)}</p>
<p>Instrument: {e(meta.instrument)}</p>
<ul>{notes}</ul>
<h2>Figures</h2>
<table><tr><th>figure</th>{head}</tr>{body}</table>
<h2>Equity curve</h2>
{image}
<h2>Trades</h2>
<table><tr>{trades_head}</tr>{trades_body}</table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def write_reports(
    out_dir: Path, result: BacktestResult, meta: ReportMeta, *, plot: bool = True
) -> dict[str, str]:
    """Trades CSV, equity PNG and HTML under ``out_dir``; returns what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    trades = out_dir / "trades.csv"
    write_trades_csv(trades, result)
    files["trades_csv"] = str(trades)
    png: Path | None = None
    if plot:
        png = out_dir / "equity.png"
        write_equity_png(png, result, f"{meta.exchange}:{meta.symbol} ({result.mode})")
        files["equity_png"] = str(png)
    page = out_dir / "report.html"
    write_html(page, result, meta, png)
    files["html"] = str(page)
    return files
