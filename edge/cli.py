"""``tickerml edge ...`` and ``tickerml data ...``: the agent's commands.

Each command is a thin layer over a library function in its own module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from shared.cli_options import config_option
from shared.config.base import load_config
from shared.config.edge import EdgeConfig

CONFIG_OPTION = config_option("edge")

NO_MARKET_DATA_EXIT = 3
"""``edge run``'s exit status when the whole run received no market data."""


def load_edge_config(config_file: Path) -> EdgeConfig:
    """The edge config through the one loader (errors name the file and key path)."""
    return load_config(EdgeConfig, config_file)


@click.group(name="edge")
def edge_group() -> None:
    """The Raspberry Pi agent: feeds, books, store, replay, simulator."""


@click.group(name="data")
def data_group() -> None:
    """Historical data: import trades and candles from files."""


@edge_group.command(name="check-config")
@CONFIG_OPTION
def check_config(config_file: Path) -> None:
    """Validate an edge config file and check what `tickerml edge run` would refuse
    (unknown exchanges, nothing to collect, missing TLS or other named files, a
    strategy on a market not collected); every problem is printed as `error: FILE:
    key.path: message` (or `warning: ...`), and any error exits 2."""
    from edge.agent.checks import check_runnable

    config = load_edge_config(config_file)
    problems = check_runnable(config)
    for problem in problems:
        click.echo(problem.line(str(config_file)), err=True)
    if any(p.severity == "error" for p in problems):
        raise click.exceptions.Exit(2)
    pairs = sum(len(e.symbols) for e in config.exchanges)
    click.echo(
        f"{config_file}: ok (agent {config.agent_id}, {len(config.exchanges)} exchange(s), "
        f"{pairs} symbol(s))"
    )


@edge_group.command(name="replay")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--strict", is_flag=True,
              help="Exit 1 when a symbol's book had data but was never built (e.g. a "
              "Binance or KuCoin .ws file without its .http snapshot), or a checksum "
              "failed, or a book crossed.")
def replay_command(files: tuple[Path, ...], as_json: bool, strict: bool) -> None:
    """Replay recorded traffic (cryptofeed or TickerML captures) through the real
    parsers and books, and print per exchange and symbol: whether its book was built,
    messages, level updates, checksums verified / failed, sequence gaps, resyncs and
    crossed books."""
    from edge.replay import replay_files, report_rows, unhealthy

    rows = report_rows(replay_files(list(files)))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_replay(rows)
    problems = unhealthy(rows)
    if strict and problems:
        raise click.ClickException(
            "replay --strict: " + "; ".join(problems)
            + " (a book that waits for a snapshot needs the capture's .http file too)"
        )


def _print_replay(rows: list[dict[str, Any]]) -> None:
    from shared.cli_tables import OutputTable, label, number, print_tables

    columns = [
        ("messages", "msgs"),
        ("level_updates", "levels"),
        ("snapshots", "snaps"),
        ("checksums_ok", "cksum ok"),
        ("checksums_failed", "cksum fail"),
        ("gaps", "gaps"),
        ("resyncs", "resyncs"),
        ("crossed", "crossed"),
        ("malformed", "malformed"),
        ("trades", "trades"),
    ]
    table = OutputTable(
        [label("exchange"), label("symbol"), label("book"),
         *(number(header) for _, header in columns)],
        title="replay",
    )
    for row in rows:
        table.add_row(
            row["exchange"], row["symbol"], row["book"], *(row[key] for key, _ in columns)
        )
    print_tables(table)


def _agent_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options of ``tickerml edge run`` (and of its alias ``edge collect``)."""
    options = [
        CONFIG_OPTION,
        click.option(
            "--duration",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Stop after this many seconds (default: until SIGINT/SIGTERM).",
        ),
        click.option(
            "--capture",
            "capture_file",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="Also record every raw message to this TickerML capture file (.gz "
            "compresses); with several exchanges, one file each, named FILE.<exchange>.ext.",
        ),
        click.option(
            "--status-every",
            type=click.FloatRange(min=0, min_open=True),
            default=60.0,
            show_default=True,
            help="Seconds between status lines in the log.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_agent(
    config_file: Path, duration: float | None, capture_file: Path | None, status_every: float
) -> None:
    from edge.agent import run_agent
    from edge.agent.checks import check_runnable, errors_of
    from edge.store.db import open_store
    from edge.store.lock import StoreLock
    from edge.store.writer import database_path
    from shared.logs import setup_logging

    config = load_edge_config(config_file)
    source = str(config_file)
    failure = errors_of(check_runnable(config), source)
    if failure is not None:
        raise failure
    db = database_path(config.data_dir, config.store)
    # Locked before anything touches the database, so a second agent changes nothing.
    lock = StoreLock.acquire(db)
    try:
        # The database is checked (created, migrated) before the log file is made, so
        # a refused database leaves nothing new behind.
        open_store(db).close()
        setup_logging(config.logging, Path(config.data_dir))
    except BaseException:
        lock.release()
        raise
    try:
        summary = run_agent(
            config, duration_s=duration, capture_path=capture_file,
            status_interval_s=status_every, source=source, lock=lock,
        )
    finally:
        lock.release()  # the service released it already, unless it failed to start
    click.echo(summary.line())
    if not summary.received_market_data:
        click.echo(
            f"error: {source}: no market data in {summary.duration_s:.1f} s: no book synced "
            f"and no trade arrived ({summary.messages} messages, sockets "
            f"{summary.connections_up}/{summary.connections} ever up); check that each "
            "exchange's ws_url and rest_url reach the exchange or the simulator (the log "
            "names the connection errors)",
            err=True,
        )
        raise click.exceptions.Exit(NO_MARKET_DATA_EXIT)


@edge_group.command(name="run")
@_agent_options
def run_command(
    config_file: Path, duration: float | None, capture_file: Path | None, status_every: float
) -> None:
    """Run the agent until stopped: live order books, trades, candles and feed events
    from every configured exchange into its SQLite store and, as configured, paper
    trading on those books, the news jobs and the sync to the hub.

    One agent per database: a second one on the same store exits 2 naming the
    first's pid (the lock is the file beside the database, DB.lock). When it stops it
    prints the run's figures: messages and their average rate, books synced at best
    and at the stop, sockets that were up, reconnects, rows written. Exit status 3:
    the whole run received no market data (no book synced, no trade), e.g. every
    ws_url points nowhere."""
    _run_agent(config_file, duration, capture_file, status_every)


@edge_group.command(name="collect")
@_agent_options
def collect_command(
    config_file: Path, duration: float | None, capture_file: Path | None, status_every: float
) -> None:
    """An alias of `tickerml edge run`, its former name: the same agent, the same
    options."""
    click.echo("note: `tickerml edge collect` is an alias of `tickerml edge run`", err=True)
    _run_agent(config_file, duration, capture_file, status_every)


@edge_group.command(name="prune")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print rows deleted per table as JSON.")
def prune_command(config_file: Path, as_json: bool) -> None:
    """Delete rows older than store.retention allows (in small chunks, safe while
    collecting) and print the rows deleted per table. Ids are never reused; with
    sync.enabled, rows the hub has not acknowledged are kept."""
    import time

    from edge.store.cursors import read_cursors
    from edge.store.db import open_store, require_database
    from edge.store.retention import prune
    from edge.store.writer import database_path

    config = load_edge_config(config_file)
    # Refused like `edge stats`: pruning a database that is not there would make one.
    path = require_database(database_path(config.data_dir, config.store))
    conn = open_store(path)
    try:
        # While syncing, rows the hub has not acknowledged are kept whatever their age.
        synced = read_cursors(conn, config.sync.tables) if config.sync.enabled else None
        deleted = prune(
            conn, config.store.retention, time.time_ns(),
            chunk_rows=config.store.prune_chunk_rows, pause_s=0.01, synced_up_to=synced,
        )
    finally:
        conn.close()
    if as_json:
        click.echo(json.dumps(deleted, indent=2))
        return
    for table, count in deleted.items():
        click.echo(f"{table}: {count} deleted")


@edge_group.command(name="stats")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def stats_command(config_file: Path, as_json: bool) -> None:
    """Row counts, id ranges and last timestamps of the agent's store, per table and
    per exchange and symbol, plus feed events by kind (reads while collecting)."""
    from datetime import UTC, datetime

    from edge.store.db import open_readonly
    from edge.store.stats import store_summary
    from edge.store.writer import database_path

    config = load_edge_config(config_file)
    path = database_path(config.data_dir, config.store)
    conn = open_readonly(path)
    try:
        summary = store_summary(conn)
    finally:
        conn.close()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    from shared.cli_tables import OutputTable, label, number, print_tables

    def when(ns: int | None) -> str:
        if ns is None:
            return "-"
        return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")

    tables = OutputTable(
        [label("table"), number("rows"), number("min id"), number("max id"),
         number("max id ever"), number("last (UTC)")],
        title=f"store {path}",
    )
    for t in summary["tables"]:
        tables.add_row(
            t["table"], t["rows"], t["min_id"], t["max_id"], t["max_id_ever"], when(t["last_ns"]),
        )
    symbols = OutputTable(
        [label("table"), label("exchange"), label("symbol"), number("rows"), label("last (UTC)")],
        title="per exchange and symbol",
    )
    for s in summary["symbols"]:
        symbols.add_row(s["table"], s["exchange"], s["symbol"], s["rows"], when(s["last_ns"]))
    events = OutputTable([label("exchange"), label("kind"), number("count")], title="feed events")
    for e in summary["events"]:
        events.add_row(e["exchange"], e["kind"], e["count"])
    print_tables(tables, symbols, events)


@edge_group.command(name="simulate")
@config_option(
    "edge", required=False,
    help="Edge config file whose `simulator:` section to use (default: built-in defaults).",
)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="TCP port (0: any free port; default 8765).")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same market).")
@click.option(
    "--symbols", default=None, help="Comma-separated unified symbols, e.g. BTC/USDT,ETH/USDT."
)
@click.option("--speed", type=float, default=None, help="Simulated seconds per wall-clock second.")
@click.option(
    "--capture",
    "capture_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Write a capture file offline (no sockets) instead of serving.",
)
@click.option(
    "--exchange",
    type=click.Choice(["binanceus", "binance", "kraken"]),
    default="binanceus",
    show_default=True,
    help="Exchange wire format of the --capture file.",
)
@click.option(
    "--messages",
    type=int,
    default=100_000,
    show_default=True,
    help="Messages in the --capture file.",
)
@click.option(
    "--depth", type=int, default=10, show_default=True, help="Kraken book depth (--capture)."
)
def simulate_command(
    config_file: Path | None,
    host: str | None,
    port: int | None,
    seed: int | None,
    symbols: str | None,
    speed: float | None,
    capture_file: Path | None,
    exchange: str,
    messages: int,
    depth: int,
) -> None:
    """Run the market simulator: Binance and Kraken WebSocket + REST on loopback,
    from a seeded order-flow model; prints the URLs to put in edge.yaml. With
    --capture, write simulated traffic to a capture file for `tickerml edge replay`."""
    import asyncio
    import contextlib

    from shared.config.simulator import SimulatorConfig

    base = load_edge_config(config_file).simulator if config_file else SimulatorConfig()
    overrides = {
        "host": host,
        "port": port,
        "seed": seed,
        "speed": speed,
        "symbols": [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None,
    }
    config = SimulatorConfig.model_validate(
        {**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    )
    if capture_file is not None:
        from edge.simulator.capture import write_capture

        count = write_capture(
            capture_file,
            exchange,
            messages=messages,
            seed=config.seed,
            symbols=config.symbols,
            depth=depth,
        )
        click.echo(f"{capture_file}: {count} {exchange} messages (seed {config.seed})")
        return

    from edge.simulator.server import SimulatorUrls, run_simulator

    def ready(urls: SimulatorUrls) -> None:
        click.echo(
            f"simulator listening (seed {config.seed}, symbols {', '.join(config.symbols)})\n"
            "edge.yaml:\n"
            "  exchanges:\n"
            "    - name: binanceus\n"
            f"      symbols: {config.symbols}\n"
            f"      ws_url: {urls.binance_ws}\n"
            f"      rest_url: {urls.binance_rest}\n"
            "    - name: kraken\n"
            f"      symbols: {config.symbols}\n"
            f"      ws_url: {urls.kraken_ws}\n"
            "  history:  # ccxt REST: edge markets, edge backfill\n"
            f"    rest_base_urls: {{binanceus: {urls.binance_rest}, "
            f"kraken: {urls.kraken_rest}}}\n"
            "Ctrl-C stops it."
        )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_simulator(config, on_ready=ready))


def _register_history_commands() -> None:
    """Market metadata, backfill and file import live in edge/history/cli.py."""
    from edge.history.cli import backfill_command, import_command, markets_command

    edge_group.add_command(markets_command)
    edge_group.add_command(backfill_command)
    data_group.add_command(import_command)


_register_history_commands()


def _register_sync_commands() -> None:
    """The sync to the hub's commands live in edge/sync/cli.py."""
    from edge.sync.cli import sync_command, sync_status_command

    edge_group.add_command(sync_command)
    edge_group.add_command(sync_status_command)


_register_sync_commands()
