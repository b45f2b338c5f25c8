"""``tickerml news ...``: harvest, score, roll up and show the agent's news sentiment.

Thin layers over the library: ``harvest`` (:mod:`edge.news.harvest_cli`) and
``score`` (:mod:`edge.news.score_cli`) are loaded only when asked for, so the
group still works, and says why, when one of them cannot import; ``rollup``,
``run`` and ``show`` are here.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import signal
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from shared.cli import UnavailableCommand
from shared.cli_options import config_option

LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "harvest": ("edge.news.harvest_cli", "harvest_command"),
    "score": ("edge.news.score_cli", "score_command"),
}
"""Subcommand → (module, attribute), imported on first use."""

CONFIG_OPTION = config_option(
    "edge", help="Edge config file (its news: and store: sections)."
)


class NewsGroup(click.Group):
    """A click group whose ``harvest`` and ``score`` commands import on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in LAZY_COMMANDS:
            return command
        module, attribute = LAZY_COMMANDS[cmd_name]
        try:
            loaded = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            return _unavailable(cmd_name, exc)
        if not isinstance(loaded, click.Command):
            return _unavailable(cmd_name, TypeError(f"{module}.{attribute} is not a command"))
        return loaded


def _unavailable(name: str, exc: Exception) -> click.Command:
    """A stand-in that shows why ``name`` cannot load, in help and when run."""

    def stand_in() -> None:
        from shared.errors import OperationalError

        raise OperationalError(f"`tickerml news {name}` cannot load: {exc}")

    return UnavailableCommand(
        name=name,
        callback=stand_in,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        help=f"(unavailable: {exc})",
    )


@click.group(name="news", cls=NewsGroup)
def news_group() -> None:
    """Crypto news on the agent: harvest feeds, score sentiment (local LLM or the
    built-in scorer), roll it up per symbol and closed hour, and show the regime."""


def _load(config_file: Path) -> Any:
    from shared.config.base import load_config
    from shared.config.edge import EdgeConfig

    return load_config(EdgeConfig, config_file)


def _db_path(config: Any) -> Path:
    from edge.store.writer import database_path

    return database_path(config.data_dir, config.store)


def _hour(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:00")


@news_group.command(name="rollup")
@CONFIG_OPTION
@click.option("--all", "everything", is_flag=True,
              help="Look for missing hours in all of history, not only the last 7 days.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def rollup_command(config_file: Path, everything: bool, as_json: bool) -> None:
    """Roll up every closed hour that has scored news and no row yet (one row per
    symbol and hour, '*' for market-wide), then exit: the hourly job, for cron.
    Running it again writes nothing new."""
    from edge.news.rollup import roll_up
    from edge.store.writer import StoreWriter
    from shared.clock import LiveClock

    config = _load(config_file)
    path = _db_path(config)
    with StoreWriter(path, config.store, name="news-writer") as writer:
        report = roll_up(
            path, writer, LiveClock(), config.news, since_ns=0 if everything else None
        )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    if not report.rows:
        click.echo("rollup: nothing to roll up (every closed hour with news has its row)")
        return
    assert report.latest_hour_ns is not None
    click.echo(
        f"rollup: {report.rows} row(s) over {report.hours} hour(s) for "
        f"{', '.join(report.symbols)}; latest hour {_hour(report.latest_hour_ns)} UTC"
    )


@news_group.command(name="run")
@CONFIG_OPTION
@click.option("--duration", type=float, default=None,
              help="Stop after this many seconds (default: until SIGINT/SIGTERM).")
def run_command(config_file: Path, duration: float | None) -> None:
    """Run the news jobs alone, for an agent that does not run `tickerml edge
    run`: harvest and score every news.interval_s (first cycle after a few
    seconds), roll up at minute 1 of every hour. A failing job is logged and
    retried at its next time. Runs whatever news.enabled says."""
    from edge.news.jobs import CYCLE_JOB, ROLLUP_JOB, NewsJobs
    from edge.store.writer import StoreWriter
    from shared.clock import LiveClock

    config = _load(config_file)
    path = _db_path(config)
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Only the main thread may set handlers; elsewhere --duration still stops it.
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        with StoreWriter(path, config.store, name="news-writer") as writer:
            jobs = NewsJobs(config, writer, path, LiveClock())
            jobs.start()
            click.echo(
                f"news: cycle every {jobs.interval_s:.0f} s, roll-up hourly; writing {path}",
                err=True,
            )
            try:
                stop.wait(duration)
            finally:
                jobs.shutdown()
    finally:
        for handled, handler in previous.items():
            signal.signal(handled, handler)
    for job in (CYCLE_JOB, ROLLUP_JOB):
        line = f"{job}: {jobs.runs[job]} run(s), {jobs.failures[job]} failed"
        if job in jobs.last_error:
            line += f" (last error: {jobs.last_error[job]})"
        click.echo(line)


def _read_rows(path: Path, since_ns: int, symbol: str | None) -> list[Any]:
    from edge.store.db import open_readonly
    from shared.errors import OperationalError
    from shared.features.sentiment import COLUMNS, HourlySentiment

    if not path.exists():
        raise OperationalError(f"{path}: no database yet (run `tickerml news harvest` first)")
    conn = open_readonly(path)
    try:
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM news_sentiment_hourly WHERE hour_start_ns >= ?"
            + (" AND symbol = ?" if symbol else "")
            + " ORDER BY hour_start_ns, symbol"
        )
        params: tuple[Any, ...] = (since_ns, symbol) if symbol else (since_ns,)
        rows = conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        raise OperationalError(f"{path}: {exc} (an older database? run a harvest)") from exc
    finally:
        conn.close()
    return [HourlySentiment.from_row(row) for row in rows]


@news_group.command(name="show")
@CONFIG_OPTION
@click.option("--symbol", default=None, help="Only this symbol (BTC, ETH, or * for market-wide).")
@click.option("--hours", type=click.IntRange(min=1), default=24, show_default=True,
              help="Closed hours to list, newest last.")
@click.option("--json", "as_json", is_flag=True, help="Print rows and regimes as JSON.")
def show_command(config_file: Path, symbol: str | None, hours: int, as_json: bool) -> None:
    """Show the latest hourly sentiment rows (articles, mean, weighted score,
    dispersion, negative and LLM shares, regime) and each symbol's current regime:
    the latest row's, or quiet when no news came within news.regime_hours."""
    from shared.clock import LiveClock
    from shared.features.sentiment import COLUMNS, HOUR_NS

    config = _load(config_file)
    now = LiveClock().time_ns()
    current_hour = now // HOUR_NS * HOUR_NS
    wanted = symbol.strip().upper() if symbol else None
    rows = _read_rows(_db_path(config), current_hour - hours * HOUR_NS, wanted)
    fresh_from = current_hour - config.news.regime_hours * HOUR_NS
    regimes: dict[str, dict[str, Any]] = {}
    for row in rows:
        fresh = row.hour_start_ns >= fresh_from
        regimes[row.symbol] = {
            "regime": row.regime if fresh else "quiet",
            "regime_score": row.regime_score if fresh else 0.0,
            "hour_start_ns": row.hour_start_ns,
        }
    if as_json:
        click.echo(json.dumps({
            "rows": [dict(zip(COLUMNS, r.as_row(), strict=True)) for r in rows],
            "regimes": regimes,
        }, indent=2))
        return
    if not rows:
        click.echo(f"no hourly sentiment in the last {hours} hour(s)"
                   + (f" for {wanted}" if wanted else ""))
        return
    _print_rows(rows, regimes)


def _print_rows(rows: list[Any], regimes: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console

    from shared.cli_tables import OutputTable, label, number, print_tables

    table = OutputTable(
        [label("hour"), label("symbol"), number("articles"), number("mean"), number("weighted"),
         number("disp."), number("neg."), number("llm"), label("regime"),
         number("regime score")],
        title="news sentiment per hour (UTC)",
    )
    for r in rows:
        table.add_row(
            _hour(r.hour_start_ns), r.symbol, r.articles, f"{r.mean:+.2f}",
            f"{r.weighted:+.2f}", f"{r.dispersion:.2f}", f"{r.negative_share:.0%}",
            f"{r.llm_share:.0%}", r.regime, f"{r.regime_score:+.2f}",
        )
    console = Console()
    print_tables(table, console=console)
    for name, regime in sorted(regimes.items()):
        shown = "market" if name == "*" else name
        console.print(f"{shown}: {regime['regime']} ({regime['regime_score']:+.2f})")
