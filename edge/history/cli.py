"""The history commands: ``tickerml edge markets``, ``tickerml edge backfill`` and
``tickerml data import``.

A thin layer: options, progress bars and printing; the work is in
:mod:`edge.history.metadata`, :mod:`edge.history.backfill` and
:mod:`edge.history.importer`. ccxt is imported only when a command runs, so
``tickerml --help`` stays fast on a Pi.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from edge.history.formats import FORMAT_NAMES
from shared.cli_options import TIME, TIME_HELP, config_option
from shared.config.base import load_config
from shared.config.edge import EdgeConfig
from shared.errors import ConfigError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from edge.history.backfill import BackfillReport
    from edge.history.importer import ImportReport

_CONFIG = config_option("edge")


@contextmanager
def _progress() -> Iterator[Progress]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        yield progress


@click.command(name="markets")
@_CONFIG
@click.option("--exchange", "exchange_name", help="Only this exchange (default: all configured).")
@click.option("--refresh", is_flag=True, help="Fetch now, even if the cache is fresh.")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
def markets_command(
    config_file: Path, exchange_name: str | None, refresh: bool, as_json: bool
) -> None:
    """Show (and refresh when old) the cached ccxt market metadata of the configured
    symbols: tick size, lot size, minimum amount and notional, maker/taker fees.
    Public endpoints only; without network the cache is used and marked STALE."""
    from edge.history.metadata import load_market_metadata

    config = load_config(EdgeConfig, config_file)
    history = config.history
    exchanges = [e for e in config.exchanges if exchange_name in (None, e.name)]
    if not exchanges:
        raise ConfigError(f"{config_file}: no exchange {exchange_name!r} configured")
    cache_dir = Path(config.data_dir) / history.metadata_cache
    out: list[dict[str, object]] = []
    missing: list[str] = []
    for entry in exchanges:
        meta = load_market_metadata(
            entry.name, cache_dir, max_age_hours=history.metadata_max_age_hours,
            refresh=refresh, base_url=history.rest_base_urls.get(entry.name),
            timeout_s=history.rest_timeout_s,
        )
        if meta.warning:
            click.echo(f"warning: {meta.warning}", err=True)
        for symbol in entry.symbols:
            info = meta.markets.get(symbol)
            if info is None:
                missing.append(f"{entry.name} {symbol}")
                continue
            out.append({**info.to_json(), "fetched_at_ms": meta.fetched_at_ms,
                        "from_cache": meta.from_cache, "stale": meta.stale})
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        _print_markets(out)
    if missing:
        raise click.ClickException(
            "not listed by the exchange (check the symbols in the config): " + ", ".join(missing)
        )


def _print_markets(rows: list[dict[str, object]]) -> None:
    from datetime import UTC, datetime

    from shared.cli_tables import OutputTable, label, number, print_tables

    keys = ("tick_size", "lot_size", "min_amount", "min_notional", "maker_fee", "taker_fee")
    table = OutputTable(
        [label("exchange"), label("symbol"), *(number(k) for k in keys), number("fetched (UTC)")],
        title="market metadata",
    )
    for row in rows:
        fetched = datetime.fromtimestamp(int(str(row["fetched_at_ms"])) / 1000, UTC)
        when = fetched.strftime("%Y-%m-%d %H:%M") + (" STALE" if row["stale"] else "")
        cells = [None if row[k] is None else str(row[k]) for k in keys]
        table.add_row(str(row["exchange"]), str(row["symbol"]), *cells, when)
    print_tables(table)


@click.command(name="backfill")
@_CONFIG
@click.option("--exchange", "exchange_name", help="Only this exchange (default: all configured).")
@click.option("--symbol", help="Only this unified symbol, e.g. BTC/USDT (default: all).")
@click.option("--since", type=TIME, help=f"First minute ({TIME_HELP}; default: "
              "history.backfill_default_days ago).")
@click.option("--until", type=TIME, help=f"End, exclusive ({TIME_HELP}; default: the current "
              "minute).")
def backfill_command(
    config_file: Path,
    exchange_name: str | None,
    symbol: str | None,
    since: int | None,
    until: int | None,
) -> None:
    """Backfill 1-minute candles over ccxt REST (fetch_ohlcv) into the agent's
    database. Resumes from the last stored minute; missing minutes are re-fetched
    once and what the exchange has no candle for is reported as an exchange gap."""
    import time

    from edge.history.backfill import Backfiller
    from edge.history.metadata import public_exchange
    from edge.store.db import open_store
    from edge.store.writer import database_path
    from shared.config.feeds import BackoffConfig

    config = load_config(EdgeConfig, config_file)
    history = config.history
    targets = [
        (e.name, s) for e in config.exchanges for s in e.symbols
        if exchange_name in (None, e.name) and symbol in (None, s)
    ]
    if not targets and exchange_name and symbol:
        targets = [(exchange_name, symbol)]
    if not targets:
        raise ConfigError(f"{config_file}: nothing to backfill for those options")
    until_ms = (until if until is not None else time.time_ns()) // 1_000_000
    if since is not None:
        since_ms = since // 1_000_000
    else:
        since_ms = until_ms - int(history.backfill_default_days * 86_400_000)
    conn = open_store(database_path(config.data_dir, config.store))
    backoff = BackoffConfig(
        initial_s=history.backfill_retry_initial_s, max_s=history.backfill_retry_max_s
    )
    try:
        backfillers: dict[str, Backfiller] = {}
        with _progress() as progress:
            for name, sym in targets:
                if name not in backfillers:
                    # One ccxt instance per exchange: its markets load once and its
                    # rate limiter spaces the requests of every symbol.
                    exchange = public_exchange(
                        name, base_url=history.rest_base_urls.get(name),
                        timeout_s=history.rest_timeout_s,
                    )
                    backfillers[name] = Backfiller(
                        conn, exchange, page_limit=history.backfill_page_limit,
                        retries=history.backfill_retries, backoff=backoff,
                    )
                backfiller = backfillers[name]
                task = progress.add_task(f"{name} {sym}", total=None)

                def update(done: int, total: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=total)

                report = backfiller.run(sym, since_ms, until_ms, progress=update)
                progress.console.print(_backfill_summary(report))
    finally:
        conn.close()


def _backfill_summary(report: BackfillReport) -> str:
    from edge.history.backfill import iso_minute

    lines = [
        f"{report.exchange} {report.symbol}: {report.rows_added} rows added "
        f"({iso_minute(report.since_ms)} .. {iso_minute(report.until_ms)}, resumed from "
        f"{iso_minute(report.resumed_from_ms)}, {report.requests} requests, "
        f"{report.retries} retries)",
        f"  gaps found: {len(report.gaps_found)} "
        f"({sum(g.minutes for g in report.gaps_found)} min), re-fetched once: "
        f"{report.gap_rows_added} rows added",
        f"  exchange gaps (no candle on the exchange): {len(report.exchange_gaps)} "
        f"({report.exchange_gap_minutes} min)",
    ]
    lines += [f"    {gap}" for gap in report.exchange_gaps[:10]]
    if len(report.exchange_gaps) > 10:
        lines.append(f"    ... and {len(report.exchange_gaps) - 10} more")
    return "\n".join(lines)


@click.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True,
                                                                 dir_okay=False))
@click.option("--exchange", required=True,
              help="Exchange the data is from, as the agent names it (binance, binanceus, "
              "coinbase, kraken, kucoin; case and punctuation ignored, Binance.US is "
              "binanceus).")
@click.option("--exchange-unlisted", is_flag=True,
              help="Accept an --exchange the agent has no feed for (e.g. ftx), stored "
              "under that name.")
@click.option("--symbol", required=True,
              help="The market, in any usual spelling: BTC/USDT, BTCUSDT, btc-usdt, BTC_USDT; "
              "the exchange's own codes too (Kraken's XBT/USD). Stored as unified BASE/QUOTE.")
@click.option("--timeframe", default=None,
              help="Interval of the candle files (1m, 5m, 15m, 1h, 1d...); default: read "
              "off their open times. Candles longer than 1m go to the candles_tf table "
              "(kept on the agent, not synced).")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(FORMAT_NAMES),
              help="File layout; auto detects it from the contents.")
@click.option("--db", "db_path", type=click.Path(path_type=Path),
              help="Database file (default: the one named by the config).")
@_CONFIG
@click.option("--strict", is_flag=True, help="Stop at the first bad row instead of counting it.")
def import_command(
    files: tuple[Path, ...],
    exchange: str,
    exchange_unlisted: bool,
    symbol: str,
    timeframe: str | None,
    fmt: str,
    db_path: Path | None,
    config_file: Path,
    strict: bool,
) -> None:
    """Import trades and candles from files (ccxt and freqtrade CSV/JSON, Binance
    and Kraken exports; gzip too). Trades also build 1-minute candles with the live
    candle builder; candle files of 5m, 1h, 1d... go to candles_tf. Re-importing a
    file adds nothing. Bad rows are reported by file and line and counted; the exit
    status is 1 when there were any."""
    from edge.history.importer import StrictStop, import_files
    from edge.history.names import resolve_market
    from edge.store.db import open_store
    from shared.candles import timeframe_ms

    if timeframe is not None:
        try:
            timeframe_ms(timeframe)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--timeframe") from None
    market = resolve_market(exchange, symbol, unlisted=exchange_unlisted)
    if (market.exchange, market.symbol) != (exchange, symbol):
        click.echo(f"importing as {market.exchange} {market.symbol}")

    batch_rows = 10_000
    if db_path is None:
        from edge.store.writer import database_path

        config = load_config(EdgeConfig, config_file)
        db_path = database_path(config.data_dir, config.store)
        batch_rows = config.history.import_batch_rows
    conn = open_store(db_path)
    try:
        with _progress() as progress:
            tasks = {
                path: progress.add_task(path.name, total=path.stat().st_size) for path in files
            }

            def update(path: Path, done: int, total: int) -> None:
                progress.update(tasks[path], completed=done, total=total)

            report = import_files(
                conn, files, exchange=market.exchange, symbol=market.symbol, fmt=fmt,
                batch_rows=batch_rows, strict=strict, progress=update, timeframe=timeframe,
            )
    except StrictStop as exc:
        # Exit 1 like bad rows without --strict: the data had problems, the command ran.
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    _print_import(report)
    if report.bad_rows:
        raise click.exceptions.Exit(1)


def _print_import(report: ImportReport) -> None:
    for f in report.files:
        line = f"{f.path}: {f.format}, {f.rows_read} rows read"
        if f.kind == "trades":
            line += f", {f.trades_added} trades added"
            if f.trades_not_stored:
                line += f" ({f.trades_not_stored} used for candles only: no id or side in file)"
        elif f.timeframe != "1m":
            line += f", {f.timeframe} candles, {f.candles_added} added (candles_tf)"
        else:
            line += f", {f.candles_added} candles added"
        line += f", {f.bad_rows} bad rows"
        click.echo(line)
        for problem in f.problems:
            click.echo(f"  {problem}", err=True)
        if f.bad_rows > len(f.problems):
            click.echo(f"  ... and {f.bad_rows - len(f.problems)} more bad rows", err=True)
    if report.candles_built:
        click.echo(
            f"candles built from trades: {report.candles_built} "
            f"({report.built_candles_added} added, {report.late_trades} late trades not applied)"
        )
