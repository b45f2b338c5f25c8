"""``tickerml edge sync`` and ``tickerml edge sync-status``: a thin layer over
:class:`~edge.sync.client.SyncClient` and :func:`~edge.sync.outbox.table_backlog`.

``edge sync`` runs the sync client alone on the agent's database (cron, or
draining a backlog after the collector stopped); ``edge sync-status`` reads the
database only, and works while the collector runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from shared.cli_options import config_option
from shared.config.base import load_config
from shared.config.edge import EdgeConfig

_CONFIG = config_option("edge")


def status_rows(config: EdgeConfig, now_ns: int) -> list[dict[str, Any]]:
    """Per synced table: last id, acknowledged id, backlog rows, oldest unsynced age (s)."""
    from edge.store.cursors import read_cursors
    from edge.store.db import open_readonly
    from edge.store.writer import database_path
    from edge.sync.outbox import table_backlog

    path = database_path(config.data_dir, config.store)
    conn = open_readonly(path)
    try:
        backlog = table_backlog(conn, read_cursors(conn, config.sync.tables))
    finally:
        conn.close()
    return [
        {
            "table": table,
            "last_id": b.last_id,
            "acked_id": b.acked_id,
            "backlog_rows": b.rows,
            "oldest_unsynced_age_s": (
                round((now_ns - b.oldest_ns) / 1e9, 3) if b.oldest_ns is not None else None
            ),
        }
        for table, b in backlog.items()
    ]


@click.command(name="sync-status")
@_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def sync_status_command(config_file: Path, as_json: bool) -> None:
    """Per synced table: newest local id, the id the hub acknowledged, rows not yet
    acknowledged and the age of the oldest of them (reads while collecting)."""
    rows = status_rows(load_config(EdgeConfig, config_file), time.time_ns())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from shared.cli_tables import OutputTable, label, number, print_tables

    table = OutputTable(
        [label("table"), number("last id"), number("acked id"), number("backlog rows"),
         number("oldest unsynced")],
        title="sync backlog",
    )
    for row in rows:
        age = row["oldest_unsynced_age_s"]
        table.add_row(
            row["table"], row["last_id"], row["acked_id"], row["backlog_rows"],
            None if age is None else f"{age:.0f} s",
        )
    print_tables(table)


@click.command(name="sync")
@_CONFIG
@click.option(
    "--until-drained", is_flag=True,
    help="Stop once every table is acknowledged up to its newest row.",
)
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), default=None,
    help="Stop after this many seconds (default: until drained with --until-drained, "
    "else until SIGINT/SIGTERM).",
)
def sync_command(config_file: Path, until_drained: bool, duration: float | None) -> None:
    """Run the sync to the hub alone on the agent's database (`tickerml edge run` syncs by
    itself when sync.enabled): for cron, or to drain a backlog. Prints progress; exits 1
    when --until-drained ran out of --duration first."""
    import signal

    from rich.console import Console

    from edge.store.db import open_store
    from edge.store.writer import StoreWriter, database_path
    from edge.sync.client import SyncClient
    from shared.clock import LiveClock
    from shared.logs import setup_logging

    config = load_config(EdgeConfig, config_file)
    path = database_path(config.data_dir, config.store)
    # Checked before the log file is made: a refused database leaves nothing new behind.
    open_store(path).close()
    setup_logging(config.logging, Path(config.data_dir))
    writer = StoreWriter(path, config.store)
    client = SyncClient(config, writer, path, LiveClock())
    stopped: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: stopped.append(s))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    console = Console(stderr=True, soft_wrap=True)
    started = time.monotonic()
    drained = False
    client.start()
    try:
        while not stopped:
            drained = until_drained and client.wait_drained(1.0)
            if not until_drained:
                time.sleep(1.0)
            c = client.counters()
            left = sum(b.rows for b in client.backlog().values())
            elapsed = time.monotonic() - started
            console.print(
                f"sync: {'connected' if client.connected else 'connecting'}, "
                f"{c.rows_acked} rows acknowledged ({c.rows_acked / elapsed:,.0f}/s), "
                f"{left} left, {c.batches_resent} re-sent, {c.publish_failures} failed"
            )
            if drained or (duration is not None and elapsed >= duration):
                break
    finally:
        client.stop()
        writer.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if until_drained and not drained:
        raise click.ClickException("not drained before the sync stopped")
