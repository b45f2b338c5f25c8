"""Backtest reports: a terminal summary, ``--json`` figures, and a report folder with
the trade list as CSV, the equity and price charts as PNG and one HTML page.

The page is rendered from a jinja2 template shipped with the package
(``templates/report.html.j2``); the rows it shows come from
:mod:`edge.trading.report_tables`, the charts from :mod:`edge.trading.charts`.

The folder is written whole or not at all: into a temporary folder beside it,
renamed into place at the end, so a Ctrl-C (or a crash) during the run or the
writing leaves no half-written report, and no temporary folder either.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import math
import os
import shutil
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from edge.trading.report_tables import (
    BASELINE_METHOD,
    HTML_TRADES,
    RATIO_METHOD,
    TRADE_COLUMNS,
    ReportData,
    all_trade_rows,
    baseline,
    baseline_json,
    baseline_rows,
    breaker_events,
    exit_counts,
    human,
    human_time,
    human_trade,
    iso,
    ratio_text,
    rejection_rows,
)
from shared.cli_tables import OutputTable, number, print_tables, text
from shared.errors import OperationalError
from shared.trading.backtest import BacktestResult
from shared.trading.metrics import Baseline, Metrics

CANDLE_NOTE = (
    "Candle-only backtest: orders decided on a candle's close fill at the next candle's "
    "open plus {slippage} bps slippage, stamped at that open; no order book, no queue "
    "position, no partial fills."
)
SNAPSHOT_NOTE = (
    "Book snapshots + trades: the book is the stored top-N levels every few seconds, "
    "stale in between; fills are coarser than a raw replay."
)
RAW_NOTE = "Raw replay: every recorded message through the real feed parsers (exact books)."

FIGURES: list[tuple[str, str, str]] = [
    ("total_return", "total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
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

REPORT_FILES = ("trades.csv", "equity.png", "price.png", "report.html")
"""What a report folder holds: an existing folder holding only these is replaced."""
TEMPLATE = "report.html.j2"


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
    window: tuple[int, int] | None = None
    """``--from`` and ``--to`` as asked (the replay runs on to the close of the last
    candle opening by ``--to``); ``None``: the result's own window."""


def fmt(value: object, kind: str) -> str:
    """A figure as text (see :func:`edge.trading.report_tables.human`)."""
    return human(value, kind)


def figure(metrics: Metrics, key: str, kind: str) -> str:
    """One figure of a strategy for people; Sharpe and Sortino say n/a when too short."""
    value = getattr(metrics, key)
    if kind == "ratio":
        return ratio_text(value, metrics.ratio_days)
    return human(value, kind)


def window(result: BacktestResult, meta: ReportMeta) -> tuple[int, int]:
    return meta.window if meta.window is not None else (result.start_ns, result.end_ns)


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
    result: BacktestResult, meta: ReportMeta, files: Mapping[str, str],
    data: ReportData | None = None,
) -> dict[str, Any]:
    """Every figure, per strategy, ready for ``json.dumps``."""
    data = data if data is not None else ReportData()
    rows = all_trade_rows(result, data)
    exits = exit_counts(rows)
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
            "exit_reasons": exits.get(name, {}),
            "open_trade": any(not t.closed for t in run.trips),
        }
    start, end = window(result, meta)
    base = baseline(result, data)
    return {
        "exchange": meta.exchange,
        "symbol": meta.symbol,
        "mode": result.mode,
        "source": meta.source,
        "candle_only": result.mode == "candles",
        "store": meta.store,
        "instrument": meta.instrument,
        "from": iso(start),
        "to": iso(end),
        "first_event": iso(result.first_event_ns),
        "last_event": iso(result.last_event_ns),
        "events": result.events,
        "notes": meta.notes,
        "definitions": f"{RATIO_METHOD} {BASELINE_METHOD}",
        "buy_and_hold": baseline_json(base),
        "breaker_events": [
            {k: v for k, v in event.items() if k != "ts_ns"} for event in breaker_events(data)
        ],
        "strategies": strategies,
        "files": dict(files),
    }


def print_summary(
    result: BacktestResult, meta: ReportMeta, console: Console, data: ReportData | None = None
) -> None:
    """A rich table of every strategy's figures, buy and hold beside them, the notes."""
    data = data if data is not None else ReportData()
    start, end = window(result, meta)
    title = (
        f"backtest {meta.exchange}:{meta.symbol} {human_time(start)} → {human_time(end)} "
        f"({result.mode}, {result.events:,} events)"
    )
    console.print(f"[bold]{title}[/bold]")
    table = OutputTable([text("figure"), *(number(name) for name in result.runs)])
    for key, label, kind in FIGURES:
        table.add_row(label, *(figure(r.metrics, key, kind) for r in result.runs.values()))
    table.add_row(
        "rejections", *(f"{sum(r.rejections.values()):,}" for r in result.runs.values())
    )
    base = baseline(result, data)
    versus = OutputTable(
        [text(""), number("return"), number("max drawdown"), number("Sharpe")],
        title="against buy and hold",
    )
    for row in baseline_rows(result, base):
        versus.add_row(row["name"], row["return"], row["max_drawdown"], row["sharpe"])
    print_tables(table, versus, console=console)
    for event in breaker_events(data):
        console.print(
            f"[red]{event['strategy']}: {event['event']} at {human_time(event['ts_ns'])}: "
            f"{event['detail']}[/red]"
        )
    for note in [*meta.notes, RATIO_METHOD]:
        console.print(f"[yellow]{note}[/yellow]")


def write_trades_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Every strategy's round trips (an open one last, ``end of backtest``)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TRADE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_html(
    path: Path,
    result: BacktestResult,
    meta: ReportMeta,
    data: ReportData,
    rows: list[dict[str, Any]],
    base: Baseline | None,
    images: Mapping[str, Path],
) -> None:
    """One self-contained page (the PNGs embedded), from the packaged template."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("edge.trading", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )
    start, end = window(result, meta)
    embedded = {
        name: base64.b64encode(png.read_bytes()).decode()
        for name, png in images.items() if png.exists()
    }
    page = env.get_template(TEMPLATE).render(
        title=f"Backtest {meta.exchange}:{meta.symbol}",
        start=human_time(start), end=human_time(end), result=result, meta=meta,
        events=f"{result.events:,}",
        strategies=list(result.runs),
        figures=[
            (label, [figure(r.metrics, key, kind) for r in result.runs.values()])
            for key, label, kind in FIGURES
        ],
        versus=baseline_rows(result, base),
        methods=[RATIO_METHOD, BASELINE_METHOD],
        images=embedded,
        breakers=[{**e, "time": human_time(e["ts_ns"])} for e in breaker_events(data)],
        rejections=[
            {**r, "count": f"{r['count']:,}"} for r in rejection_rows(data)
        ],
        exits=exit_counts(rows),
        trades=[human_trade(row) for row in rows[:HTML_TRADES]],
        trades_total=len(rows),
        trades_cut=max(0, len(rows) - HTML_TRADES),
    )
    path.write_text(page, encoding="utf-8")


def check_out_dir(out_dir: Path) -> None:
    """Refuse, before a run, an ``--out`` the report could not replace whole: a file,
    or a folder holding anything but an earlier report's files."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise OperationalError(f"{out_dir}: --out is not a folder; give a new folder's path")
    others = sorted(p.name for p in out_dir.iterdir() if p.name not in REPORT_FILES)
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise OperationalError(
            f"{out_dir}: --out holds other files ({shown}); the report replaces its folder "
            "whole, so give a new or empty folder (or an earlier report's)"
        )


def write_reports(
    out_dir: Path, result: BacktestResult, meta: ReportMeta, *, plot: bool = True,
    data: ReportData | None = None,
) -> dict[str, str]:
    """trades.csv, equity.png, price.png and report.html in ``out_dir``, all or nothing.

    Written into a temporary folder beside ``out_dir`` (``.NAME.PID.tmp``), which
    then takes its name (an earlier report there is replaced); an exception or a
    KeyboardInterrupt on the way removes the temporary folder and leaves ``out_dir``
    as it was. The renames run with Ctrl-C held back until they are done.
    """
    check_out_dir(out_dir)
    data = data if data is not None else ReportData()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = _sibling(out_dir, "tmp"), _sibling(out_dir, "old")
    try:
        shutil.rmtree(tmp, ignore_errors=True)  # a killed run's, had it this pid
        tmp.mkdir()
        _write_into(tmp, result, meta, data, plot)
        with _interrupts_deferred():
            _install(tmp, old, out_dir)
    except BaseException:
        with _interrupts_deferred():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = {"trades_csv": "trades.csv"}
    if plot:
        files["equity_png"] = "equity.png"
        if (out_dir / "price.png").exists():
            files["price_png"] = "price.png"
    files["html"] = "report.html"
    return {label: str(out_dir / name) for label, name in files.items()}


def _write_into(
    folder: Path, result: BacktestResult, meta: ReportMeta, data: ReportData, plot: bool
) -> None:
    from edge.trading import charts

    rows = all_trade_rows(result, data)
    write_trades_csv(folder / "trades.csv", rows)
    base = baseline(result, data)
    images: dict[str, Path] = {}
    if plot:
        images["equity"] = folder / "equity.png"
        charts.write_equity_png(
            images["equity"], result, f"{meta.exchange}:{meta.symbol} ({result.mode})", base
        )
        times, prices = data.prices.series() if data.prices is not None else ((), ())
        if len(prices):
            images["price"] = folder / "price.png"
            charts.write_price_png(
                images["price"], times, prices, rows, f"{meta.exchange}:{meta.symbol}"
            )
    write_html(folder / "report.html", result, meta, data, rows, base, images)


def _sibling(out_dir: Path, kind: str) -> Path:
    """A hidden folder beside ``out_dir``, this process's own (named before it exists,
    so an interrupt cannot leave one behind unnamed)."""
    return out_dir.parent / f".{out_dir.name}.{os.getpid()}.{kind}"


def _install(tmp: Path, old: Path, out_dir: Path) -> None:
    """``tmp`` takes ``out_dir``'s name; an earlier report there is moved to ``old``
    first and removed once the new one is in place (put back if that fails)."""
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    shutil.rmtree(old, ignore_errors=True)
    os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """A Ctrl-C inside waits for the end of the block (then raises as usual), so the
    renames and the clean-up they need are never cut in half. Main thread only
    (where Python handles signals); elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
