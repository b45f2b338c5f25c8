"""``tickerml backtest``: stored market data through the live paper-trading engine.

A thin layer: :mod:`shared.readers` reads the stores (an agent database or the
hub store) and :mod:`edge.trading.sources` replays raw messages,
:mod:`shared.trading.backtest` runs the events, :mod:`edge.trading.report` writes
what came out.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
import yaml

from shared.cli_options import TIME, TIME_END, TIME_HELP, config_option
from shared.errors import ConfigError, OperationalError


def _day(ns: int) -> str:
    # Whole seconds: a float would round --to's last nanosecond up into the next day.
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%d")


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    """``k=v`` pairs; each value is read as a YAML scalar (``12``, ``0.5``, ``null``, ``true``)."""
    params: dict[str, Any] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--param")
        try:
            params[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise click.BadParameter(f"{item!r}: {exc}", param_hint="--param") from None
    return params


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not a number", param_hint=option) from None
    if not value.is_finite() or value < 0:
        raise click.BadParameter(f"{text!r} must be a finite number >= 0", param_hint=option)
    return value


@click.command(name="backtest")
@click.option("--strategy", "strategies", multiple=True, required=True,
              help="Strategy kind (trend, mean_reversion, ...) or the name of a strategy in "
              "the config's trading.strategies; repeat to run several side by side.")
@click.option("--symbol", required=True, help="Unified symbol, e.g. BTC/USDT.")
@click.option("--exchange", required=True, help="Exchange name as stored, e.g. binanceus.")
@click.option("--from", "start_ns", type=TIME, required=True, help=f"Start: {TIME_HELP}.")
@click.option("--to", "end_ns", type=TIME_END, required=True,
              help="End, inclusive (a bare date: the whole day); every candle opening by "
              f"then is replayed, the last one at its close: {TIME_HELP}.")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Edge or hub store (SQLite) to read; default: the config's store.")
@click.option("--agent", default=None,
              help="Hub store: read this agent's rows only. Without it a hub store gives "
              "every agent's candles and trades, each once (per exchange, symbol and minute "
              "or trade id), and books (raw messages, snapshots) from the one agent that has "
              "them in the window; several is an error asking for --agent. On an agent "
              "database it must be that agent (checked against -c's agent_id).")
@click.option("--metadata-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Market-metadata cache (tick, lot, fees) to read; default: -c's "
              "history.metadata_cache for an agent database, else the markets folder beside "
              "the store (a hub's data_dir/markets, filled by hub import-db).")
@config_option(
    "edge", required=False,
    help="Edge config: its store, trading.strategies/broker/risk and market metadata.",
)
@click.option("--capture", "captures", multiple=True, type=click.Path(path_type=Path),
              help="Capture files to replay instead of the store's raw messages (repeatable).")
@click.option("--source", type=click.Choice(["auto", "raw", "snapshots", "candles"]),
              default="auto", show_default=True,
              help="Event source; auto takes the most detailed one with data in the window.")
@click.option("--timeframe", default="1m", show_default=True,
              help="Candle timeframe the strategies see (1m, 5m, 15m, 1h, 4h, 1d): the "
              "store's own candles of it (data import), else 1-minute candles resampled "
              "into it, complete buckets only.")
@click.option("--param", "params", multiple=True, help="Strategy parameter key=value (repeatable).")
@click.option("--balance", default="10000", show_default=True,
              help="Starting paper balance per strategy, in quote currency.")
@click.option("--fee", default=None, help="Maker and taker fee as a fraction (0.001 = 0.1%), "
              "overriding market metadata.")
@click.option("--slippage-bps", type=click.FloatRange(min=0), default=None,
              help="Candle mode: slippage added to the next open (default: broker config).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Folder for trades.csv, equity.png, price.png and "
              "report.html (default: backtests/<exchange>_<symbol>_<from>_<to>); written "
              "whole at the end (an earlier report there is replaced), nothing on Ctrl-C.")
@click.option("--no-plot", is_flag=True, help="Skip the PNGs (and the charts in the HTML).")
def backtest_command(
    strategies: tuple[str, ...], symbol: str, exchange: str, start_ns: int, end_ns: int,
    db_path: Path | None, agent: str | None, metadata_dir: Path | None,
    config_file: Path | None, captures: tuple[Path, ...], source: str, timeframe: str,
    params: tuple[str, ...],
    balance: str, fee: str | None, slippage_bps: float | None, as_json: bool,
    out_dir: Path | None, no_plot: bool,
) -> None:
    """Replay stored books, trades and candles (edge or hub store) through the same
    broker, risk manager and strategies as live paper trading, deterministically,
    and report total return, CAGR, Sharpe and Sortino (from daily returns), max
    drawdown, win rate, profit factor, exposure, turnover, fees, buy and hold over
    the same window, the trades with their exit reasons, breaker trips and risk
    rejections, the equity curve and the price with entries and exits."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from edge.trading import sources
    from edge.trading.price_tape import PriceTape
    from edge.trading.report import (
        ReportMeta,
        check_out_dir,
        print_summary,
        result_json,
        source_note,
        write_reports,
    )
    from edge.trading.report_tables import ReportData
    from shared.readers import stores
    from shared.readers.sources import SourceKind, available, book_agent, choose_source
    from shared.readers.timeframes import stored_timeframe_count, timeframe_candle_events
    from shared.trading.backtest import Backtest, merge_events
    from shared.trading.memory_ledger import MemoryLedger

    if end_ns <= start_ns:
        raise click.BadParameter("the end is not after the start (--from)", param_hint="--to")
    timeframe = _timeframe(timeframe)
    if out_dir is None:
        stamp = f"{_day(start_ns)}_{_day(end_ns)}"
        out_dir = Path("backtests") / f"{exchange}_{symbol.replace('/', '-')}_{stamp}"
    check_out_dir(out_dir)  # before the run, not after it
    config, store = _resolve_store(config_file, db_path, captures)
    conn = _open_readonly(store) if store is not None else None
    where = f"{store or 'captures'} {exchange}:{symbol}"
    notes: list[str] = []
    try:
        store_kind: stores.StoreKind | None = None
        if conn is not None:
            store_kind = stores.store_kind(conn, str(store))
            own_agent = getattr(config, "agent_id", None)
            agent = stores.check_agent(conn, agent, where=str(store), own_agent=own_agent)
        elif agent is not None:
            raise click.UsageError("--agent names whose rows to read: give --db or -c too")
        if captures:
            kind: SourceKind = "raw"
            events = sources.capture_events(list(captures), exchange, symbol, start_ns, end_ns)
            if conn is not None:
                events = merge_events(events, timeframe_candle_events(
                    conn, exchange, symbol, start_ns, end_ns, agent, timeframe=timeframe,
                ))
        else:
            assert conn is not None
            counts = available(conn, exchange, symbol, start_ns, end_ns, agent)
            if timeframe != "1m":
                counts["candles"] += stored_timeframe_count(
                    conn, exchange, symbol, start_ns, end_ns, timeframe
                )
            kind = choose_source(counts, source, where)
            books_from = book_agent(
                conn, kind, exchange, symbol, start_ns, end_ns, agent, where=str(store)
            )
            if books_from != agent:
                notes.append(
                    f"Hub store: every row is agent {books_from}'s, the only agent with {kind} "
                    f"of {exchange}:{symbol} in the window."
                )
                agent = books_from
            events = sources.store_events(
                conn, kind, exchange, symbol, start_ns, end_ns, agent, timeframe=timeframe
            )
        if store_kind == "hub" and agent is None:
            notes.append("Hub store: every agent's candles and trades, each counted once.")
        if timeframe != "1m":
            notes.append(
                f"Candles: {timeframe}, the store's own where it has them, else resampled "
                "from 1-minute candles (complete buckets only)."
            )
        bt_config, instrument_note = _backtest_config(
            config, conn, strategies, exchange, symbol, start_ns, end_ns, timeframe=timeframe,
            metadata_dir=_metadata_dir(metadata_dir, config, store, store_kind), agent=agent,
            candle_mode=kind == "candles",
            params=parse_params(params),
            balance=_positive(_decimal(balance, "--balance"), "--balance"),
            fee=None if fee is None else _decimal(fee, "--fee"),
            slippage_bps=slippage_bps,
        )
        ledger = MemoryLedger()
        backtest = Backtest(bt_config, ledger=ledger)
        tape = PriceTape(exchange, symbol)
        console = Console(stderr=True)
        with Progress(
            TextColumn("backtest"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[events]:,} events"), TimeRemainingColumn(),
            console=console, transient=True, disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task("backtest", total=end_ns - start_ns, events=0)

            def progress(done: int, ts_ns: int) -> None:
                bar.update(task, completed=ts_ns - start_ns, events=done)

            result = backtest.run(tape.watch(events), progress=progress)
    except sqlite3.DatabaseError as exc:
        raise OperationalError(f"{store}: cannot read the store ({exc})") from None
    finally:
        if conn is not None:
            conn.close()
    store_note = str(store) if store is not None else ", ".join(map(str, captures))
    if store_kind == "hub":
        store_note += f" (hub store, agent {agent})" if agent else " (hub store, every agent)"
    meta = ReportMeta(
        exchange=exchange, symbol=symbol, source=kind, store=store_note,
        instrument=instrument_note,
        notes=[source_note(result, kind, bt_config.broker.candle_slippage_bps), *notes],
        window=(start_ns, end_ns),
    )
    if result.events == 0:
        meta.notes.append("No events in the window: the figures describe an idle portfolio.")
    data = ReportData(
        orders=ledger.orders, rejections=ledger.rejections,
        breakers=dict(backtest.risk.paused), tripped_ns=dict(backtest.risk.tripped_ns),
        prices=tape,
    )
    files = write_reports(out_dir, result, meta, plot=not no_plot, data=data)
    if as_json:
        click.echo(json.dumps(result_json(result, meta, files, data), indent=2))
        return
    print_summary(result, meta, Console(), data)
    for label, path in files.items():
        click.echo(f"{label}: {path}")


def _timeframe(text: str) -> str:
    """``--timeframe`` in its one spelling (``60m`` is ``1h``); usage error otherwise."""
    from shared.candles import timeframe_ms, timeframe_name

    try:
        return timeframe_name(timeframe_ms(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeframe") from None


def _positive(value: Decimal, option: str) -> Decimal:
    if value <= 0:
        raise click.BadParameter("must be > 0", param_hint=option)
    return value



def _resolve_store(
    config_file: Path | None, db_path: Path | None, captures: tuple[Path, ...]
) -> tuple[Any, Path | None]:
    """(edge config or None, store file or None); errors name the file or option."""
    config = None
    if config_file is not None:
        from edge.cli import load_edge_config

        config = load_edge_config(config_file)
    if db_path is not None:
        if not db_path.exists():
            raise OperationalError(f"{db_path}: no such store (--db)")
        return config, db_path
    if config is not None:
        from edge.store.writer import database_path

        path = database_path(config.data_dir, config.store)
        if not path.exists():
            raise OperationalError(
                f"{config_file}: store.path points to {path}, which does not exist"
            )
        return config, path
    if captures:
        return None, None
    raise click.UsageError("give --db PATH, -c edge.yaml or --capture FILE")


def _metadata_dir(
    option: Path | None, config: Any, store: Path | None, store_kind: str | None
) -> Path | None:
    """Where the market metadata is: ``--metadata-dir``, else the agent's own cache
    (``-c``, on an agent database), else the ``markets`` folder beside the store."""
    from shared.markets import CACHE_DIR

    if option is not None:
        return option
    if config is not None and store_kind != "hub":
        return Path(config.data_dir) / config.history.metadata_cache
    return store.parent / CACHE_DIR if store is not None else None


def _open_readonly(path: Path) -> sqlite3.Connection:
    # Read-only: a backtest may run while the agent writes (WAL lets both).
    from edge.store.db import connect

    return connect(path, readonly=True)


def _strategy_configs(
    config: Any, names: tuple[str, ...], exchange: str, symbol: str,
    params: dict[str, Any], balance: Decimal,
) -> list[Any]:
    """A configured strategy by name (scoped to the symbol), else a kind with ``params``."""
    from shared.config.trading import StrategyConfig

    trading = getattr(config, "trading", None)
    configured = {s.name: s for s in trading.strategies} if trading is not None else {}
    out = []
    for name in names:
        found = configured.get(name)
        if found is not None:
            merged = {**found.params, **params}
            out.append(found.model_copy(update={
                "exchange": exchange, "symbols": [symbol], "params": merged,
            }))
        else:
            out.append(StrategyConfig(
                name=name, kind=name, exchange=exchange, symbols=[symbol],
                starting_balance=balance, params=params,
            ))
    return out


def _backtest_config(
    config: Any, conn: sqlite3.Connection | None, names: tuple[str, ...], exchange: str,
    symbol: str, start_ns: int, end_ns: int, *, candle_mode: bool, params: dict[str, Any],
    balance: Decimal, fee: Decimal | None, slippage_bps: float | None,
    metadata_dir: Path | None = None, agent: str | None = None, timeframe: str = "1m",
) -> tuple[Any, str]:
    """The backtest's config and a line saying where the instrument came from.

    The instrument is the market metadata's in ``metadata_dir`` when it knows the
    market, else inferred from the stored prices and sizes (``agent``'s on a hub store).
    The replay runs on past ``end_ns`` to the close of the last ``timeframe`` candle
    opening by then (:func:`shared.readers.timeframes.replay_end_ns`).
    """
    from shared.config.trading import BrokerConfig, RiskConfig
    from shared.markets import cached_instrument
    from shared.readers.instruments import inferred_instrument
    from shared.readers.timeframes import replay_end_ns
    from shared.trading.backtest import BacktestConfig

    trading = getattr(config, "trading", None)
    broker = trading.broker if trading is not None else BrokerConfig()
    risk = trading.risk if trading is not None else RiskConfig()
    if slippage_bps is not None:
        broker = broker.model_copy(update={"candle_slippage_bps": slippage_bps})
    instrument = None
    origin = "inferred from stored prices and sizes"
    if metadata_dir is not None:
        instrument = cached_instrument(metadata_dir, exchange, symbol)
        origin = f"market metadata {metadata_dir}"
    if instrument is None:
        if conn is None:
            raise OperationalError(
                f"no market metadata for {exchange}:{symbol} and no store to infer tick and "
                "lot from: give -c edge.yaml (after `tickerml edge markets`), --metadata-dir "
                "or --db"
            )
        instrument = inferred_instrument(conn, exchange, symbol, agent=agent)
        origin = "inferred from stored prices and sizes"
    if fee is not None:
        from dataclasses import replace

        instrument = replace(instrument, maker_fee=fee, taker_fee=fee)
        origin += ", fee from --fee"
    note = (
        f"tick {instrument.tick_size}, lot {instrument.lot_size}, maker {instrument.maker_fee}, "
        f"taker {instrument.taker_fee} ({origin})"
    )
    strategies = _strategy_configs(config, names, exchange, symbol, params, balance)
    try:
        bt = BacktestConfig(
            strategies=strategies, instruments={(exchange, symbol): instrument},
            start_ns=start_ns, end_ns=replay_end_ns(end_ns, timeframe),
            broker=broker, risk=risk,
            candle_mode=candle_mode,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return bt, note
