"""``tickerml hub ...``: the hub's commands.

Each command is a thin layer over a library function in its own module.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
from pydantic import ValidationError

from hub.commands import DEFAULT_EXPIRES_IN_S, MAX_EXPIRES_IN_S
from hub.store.records import IngestCounts
from shared.cli_options import config_option
from shared.config.base import load_config
from shared.config.hub import HubConfig
from shared.logs import setup_logging
from shared.sync.messages import COMMAND_KINDS, CommandKind

if TYPE_CHECKING:
    from hub.store.store import HubStore

CONFIG_OPTION = config_option("hub")


def load_hub_config(config_file: Path) -> HubConfig:
    """The hub config through the one loader (errors name the file and key path)."""
    return load_config(HubConfig, config_file)


@click.group(name="hub")
def hub_group() -> None:
    """The PC hub: MQTT ingest, hub store, training and model publishing."""


@hub_group.command(name="check-config")
@CONFIG_OPTION
def check_config(config_file: Path) -> None:
    """Validate a hub config file; errors name the file and the key path."""
    config = load_hub_config(config_file)
    click.echo(f"{config_file}: ok (data_dir={config.data_dir})")


def _store(config: HubConfig, *, readonly: bool = False) -> HubStore:
    """The hub store; ``readonly`` for a command that only reads it (nothing migrated or
    created, works on a read-only mount; a missing store is refused)."""
    from hub.store.db import STORE_FILE
    from hub.store.store import HubStore

    if readonly:
        return HubStore(Path(config.data_dir) / STORE_FILE, readonly=True)
    return HubStore.in_dir(config.data_dir)


def _utc(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@hub_group.command(name="run")
@CONFIG_OPTION
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: until SIGINT/SIGTERM).",
)
def run_command(config_file: Path, duration: float | None) -> None:
    """Run the MQTT ingest: store every agent's batches in <data_dir>/hub.db, acknowledge
    each after its durable commit, keep statuses, command results and dead letters, and
    log a status line (batches, rows/s, dead letters) every ingest.status_interval_s."""
    from hub.ingest.service import IngestService
    from hub.store.db import STORE_FILE, open_store

    config = load_hub_config(config_file)
    # The store is checked (created, migrated) before the log file is made, so a refused
    # store leaves nothing new behind.
    open_store(Path(config.data_dir) / STORE_FILE).close()
    setup_logging(config.logging, Path(config.data_dir))
    service = IngestService(config)
    service.run(duration)
    click.echo(f"ingest stopped: {service.status_line()}")


@hub_group.command(name="agents")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the fleet as JSON.")
def agents_command(config_file: Path, as_json: bool) -> None:
    """Show the fleet: per agent online/offline, last seen, backlog and lag (rows and
    seconds), versions, feed health, trading paused, dropped rows and dead letters (kept,
    and refused beyond the dead-letter budget), messages dropped over the rate limit, its
    database epochs and the conflicting rows the hub kept."""
    from hub.fleet import fleet_status

    config = load_hub_config(config_file)
    with _store(config, readonly=True) as store:
        fleet = fleet_status(store, config.ingest, now_ns=time.time_ns())
    if as_json:
        click.echo(json.dumps([agent.to_dict() for agent in fleet], indent=2))
        return
    from shared.cli_tables import OutputTable, label, number, print_tables, text

    table = OutputTable(
        [label("agent"), label("state"), number("last seen"),
         text("versions (agent/model/spec)"), number("backlog"), number("lag rows"),
         number("lag s"), number("books"), text("stale"), number("paused"), number("dropped"),
         number("dead"), number("limited"), number("epoch"), number("conflicts")],
        title=f"fleet ({len(fleet)} agent(s))",
    )
    for a in fleet:
        age = "-" if a.last_seen_age_s is None else f"{a.last_seen_age_s:.0f}s ago"
        table.add_row(
            a.agent_id,
            ("online" if a.online else "offline")
            + (f" (disk full since {_utc(a.store_full_since_ns)})"
               if a.store_full_since_ns is not None else ""),
            age,
            f"{a.agent_version or '-'}/{a.model_version or '-'}/{(a.feature_spec or '-')[:12]}",
            str(a.backlog_rows), str(a.lag_rows), f"{a.lag_s:.1f}",
            f"{a.feeds_synced}/{a.feeds_total}", ", ".join(a.stale_feeds) or "-",
            "yes" if a.trading_paused else "no", str(a.dropped_rows),
            # Kept now, and (+n) refused beyond the dead-letter budget, only counted.
            str(a.dead_letters) + (f" (+{a.dead_letters_dropped})" if a.dead_letters_dropped
                                   else ""),
            str(a.rate_limited),
            # A second epoch: the agent's database was replaced (a new series).
            f"{(a.epoch or '-')[:8]} ({len(a.epochs)})", str(a.conflicts),
        )
    print_tables(table)


@hub_group.command(name="command")
@CONFIG_OPTION
@click.argument("agent")
@click.argument("kind", type=click.Choice(COMMAND_KINDS))
@click.option("--symbol", default=None, help="The symbol the command is about (e.g. BTC/USDT).")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the agent's answer.",
)
@click.option(
    "--expires-in",
    "expires_in_s",
    type=click.FloatRange(min=1, max=MAX_EXPIRES_IN_S),
    default=DEFAULT_EXPIRES_IN_S,
    show_default=True,
    help="Seconds the command stays valid: the broker keeps it that long for an agent "
    "that is away, and an agent that gets it later answers 'expired' without running it.",
)
def command_command(
    config_file: Path, agent: str, kind: str, symbol: str | None, wait_s: float,
    expires_in_s: float,
) -> None:
    """Send a command to one agent and print its answer. Exits 0 when the agent did it,
    1 when it refused, failed or expired it, 3 when no answer came within --wait, 4 when
    the hub store shows the agent offline: the command is then queued for it (printed
    with the time the agent was last heard from) and `hub run` records the answer when
    the agent is back. The command and the answer are recorded in the hub store. Uses
    the operator's identity, `command_mqtt` (see docs/broker.md)."""
    from hub.commands import agent_absence, command_mqtt, new_command, send_command

    config = load_hub_config(config_file)
    mqtt = command_mqtt(config)
    args = {"symbol": symbol} if symbol else {}
    try:
        command = new_command(agent, cast(CommandKind, kind), args, expires_in_s=expires_in_s)
    except ValidationError as exc:
        raise click.BadParameter(str(exc.errors()[0]["msg"]), param_hint="AGENT") from None
    with _store(config) as store:
        absence = agent_absence(store, agent, config.ingest, now_ns=time.time_ns())
        # An agent that is away answers when it is back, not within --wait: say so at once.
        outcome = send_command(mqtt, store, command, wait_s=0 if absence else wait_s)
    result = outcome.result
    if result is None and absence is not None:
        if absence.state == "offline":
            why = f"offline since {_utc(absence.since_ns)} UTC (its last status)"
        else:
            why = (f"not heard from since {_utc(absence.since_ns)} UTC (over "
                   f"ingest.offline_after_s = {absence.offline_after_s:g} s)")
        click.echo(
            f"{agent} {kind} {command.command_id}: queued: agent {why}; kept for it until "
            f"{_utc(command.expires_ns)} UTC, its answer recorded by `hub run`"
        )
        sys.exit(4)
    if result is None:
        why = f"no answer within {wait_s:g}s"
        if outcome.dropped is not None:
            why = (f"no answer: the connection dropped while waiting ({outcome.dropped}; "
                   "another `hub command` with the same identity takes it over: run one at "
                   "a time); it was sent, and `hub run` records its answer")
        click.echo(f"{agent} {kind} {command.command_id}: {why}")
        sys.exit(3)
    detail = f" ({result.detail})" if result.detail else ""
    click.echo(f"{agent} {kind} {command.command_id}: {result.outcome}{detail}")
    if not outcome.ok:
        sys.exit(1)


@hub_group.command(name="import-db")
@CONFIG_OPTION
@click.argument("edge_db", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--agent", "agent_id", required=True,
              help="The agent whose database it is: its rows are stored under this id, "
              "exactly as its sync would store them.")
@click.option("--metadata", "metadata_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="The agent's market-metadata cache (tick, lot, fees) to "
              "copy into <data_dir>/markets; default: the markets folder beside EDGE_DB, "
              "when there is one.")
@click.option("--chunk-rows", type=click.IntRange(min=1), default=5_000, show_default=True,
              help="Rows read and committed at a time.")
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
def import_db_command(
    config_file: Path, edge_db: Path, agent_id: str, metadata_dir: Path | None,
    chunk_rows: int, as_json: bool,
) -> None:
    """Copy an agent's database (opened read-only) into the hub store through the same
    commit on (agent, the database's epoch, table, local id) as the MQTT sync, so
    importing twice, or rows the agent already synced, adds nothing; print rows read,
    added, already present and conflicting (other content under the same key) per
    table. The agent's market metadata is copied too, for backtests on the hub store."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hub.store.importer import check_agent_id, import_db, open_agent_db
    from shared.markets import CACHE_DIR

    config = load_hub_config(config_file)
    # Refused before the hub store is opened: a mistyped path must not leave a hub.db.
    check_agent_id(agent_id)
    open_agent_db(edge_db).close()
    if metadata_dir is None and (edge_db.parent / CACHE_DIR).is_dir():
        metadata_dir = edge_db.parent / CACHE_DIR
    console = Console(stderr=True)
    with _store(config) as store, Progress(
        TextColumn("import {task.fields[table]}"), BarColumn(), MofNCompleteColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("import", total=None, table="")

        def progress(table: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, table=table)

        report = import_db(
            store, edge_db, agent_id, markets_dir=metadata_dir, chunk_rows=chunk_rows,
            progress=progress,
        )
    if as_json:
        click.echo(json.dumps({
            "path": str(report.path), "agent_id": report.agent_id, "epoch": report.epoch,
            "tables": {t.table: {"read": t.read, "added": t.added, "already": t.already,
                                 "conflicts": t.conflicts, "present": t.present}
                       for t in report.tables},
            "markets": {m.exchange: {"markets": m.markets, "copied": m.copied}
                        for m in report.markets},
        }, indent=2))
        return
    from shared.cli_tables import OutputTable, label, number, print_tables

    table = OutputTable(
        [label("table"), number("read"), number("added"), number("already present"),
         number("conflicts")],
        title=f"{edge_db} -> {store.path} as {agent_id} (epoch {report.epoch})",
    )
    for t in report.tables:
        if t.present:
            table.add_row(t.table, t.read, t.added, t.already, t.conflicts)
        else:
            table.add_row(t.table, None, None, "(not in the agent's database)", None)
    print_tables(table)
    if report.markets_from is None:
        click.echo("market metadata: no markets folder beside the database and no --metadata; "
                   "backtests on the hub store infer tick and lot from stored prices")
    for m in report.markets:
        done = "copied" if m.copied else "kept the hub's (as new or newer)"
        click.echo(f"market metadata {m.exchange}: {m.markets} markets, fetched "
                   f"{_utc(m.fetched_at_ms * 1_000_000)} UTC: {done} -> {report.markets_to}")


@hub_group.command(name="dead-letters")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True,
    help="Show at most this many, newest first.",
)
@click.option(
    "--counts", "show_counts", is_flag=True,
    help="Show instead, per agent, what the ingest refused in all, how many it kept, "
    "dropped over the dead-letter budget, dropped unread over the rate limit, and "
    "retained messages it saw again.",
)
def dead_letters_command(
    config_file: Path, as_json: bool, limit: int, show_counts: bool
) -> None:
    """List the messages the hub refused, newest first, with the reason for each; and
    what was refused beyond what is kept (the dead-letter budget, ingest.dead_letters)
    or dropped over the rate limit (ingest.rate_limit)."""
    config = load_hub_config(config_file)
    with _store(config, readonly=True) as store:
        letters = store.dead_letters(limit=limit)
        counts = store.ingest_counts()
        kept = store.dead_letter_counts()
    if show_counts:
        _print_counts(counts, kept, as_json=as_json)
        return
    if as_json:
        click.echo(json.dumps([letter.to_dict() for letter in letters], indent=2))
        return
    from shared.cli_tables import OutputTable, label, number, print_tables, text

    table = OutputTable(
        [number("id"), label("received (UTC)"), label("agent"), text("topic"), number("bytes"),
         text("reason")],
        title=f"dead letters (newest {len(letters)})",
    )
    for d in letters:
        table.add_row(d.id, _utc(d.received_ns), d.agent_id, d.topic, d.payload_bytes, d.reason)
    print_tables(table)
    total = sum(counts.values(), IngestCounts())
    if total.dropped or total.rate_limited or total.retained_repeats:
        click.echo(
            f"refused in all: {total.refused}, kept now: {sum(kept.values())}, not kept "
            f"(over the dead-letter budget): {total.dropped}, dropped unread (over the rate "
            f"limit): {total.rate_limited}; per agent: `hub dead-letters --counts`"
        )


def _print_counts(
    counts: dict[str | None, IngestCounts], kept: dict[str | None, int], *, as_json: bool
) -> None:
    agents = sorted(set(counts) | set(kept), key=lambda a: (a is None, a or ""))
    if as_json:
        click.echo(json.dumps([
            {"agent_id": agent, "kept": kept.get(agent, 0),
             **counts.get(agent, IngestCounts()).to_dict()} for agent in agents
        ], indent=2))
        return
    from shared.cli_tables import OutputTable, label, number, print_tables

    table = OutputTable(
        [label("agent"), number("refused"), number("kept now"), number("not kept (budget)"),
         number("bytes not kept"), number("rate-limited"), number("bytes rate-limited"),
         number("retained repeats")],
        title="refused per agent (since the store began)",
    )
    for agent in agents:
        c = counts.get(agent, IngestCounts())
        table.add_row(agent or "(no valid agent)", c.refused, kept.get(agent, 0), c.dropped,
                      c.dropped_bytes, c.rate_limited, c.rate_limited_bytes, c.retained_repeats)
    print_tables(table)
