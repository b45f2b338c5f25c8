"""``tickerml news harvest``: one harvest now, and its report.

A thin layer over :class:`edge.news.harvest.Harvester` (the scheduler runs the
same harvest every ``news.interval_s`` while collecting).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from edge.news.report import HarvestReport
from shared.cli_options import config_option


def _when(ns: int) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def print_report(report: HarvestReport) -> None:
    """The report as a table, one row per source, then the totals."""
    from rich.console import Console

    from shared.cli_tables import OutputTable, label, number, print_tables, text

    table = OutputTable(
        [label("source"), label("status"), text("note"), number("http"), number("entries"),
         number("new"), number("dupes")],
        title="news harvest",
    )
    for s in report.sources:
        if s.status in ("error", "skipped"):
            # The row already names the source; the error's "name (url): " prefix is for logs.
            error = (s.error or "").removeprefix(f"{s.name} ({s.url}): ")
            note = f"{error} (retry after {_when(s.next_try_ns)} UTC)".strip()
        else:
            note = s.problem or ""
        table.add_row(s.name, s.status, note, s.http_status or None, s.entries, s.new,
                      s.duplicates)
    console = Console()
    print_tables(table, console=console)
    seconds = (report.finished_ns - report.started_ns) / 1e9
    console.print(
        f"{report.new} new, {report.duplicates} duplicates, {report.not_modified} not modified, "
        f"{report.skipped} backing off, {report.errors} failed ({seconds:.1f} s)"
    )


@click.command(name="harvest")
@config_option("edge", help="Edge config file (its news: section; see config/edge.example.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def harvest_command(config_file: Path, as_json: bool) -> None:
    """Harvest every news source once: conditional GET, parse, dedupe, tag and store
    new articles, then print per source its status, new articles, duplicates and
    errors. A source backing off after failures is skipped until due. Exits 1 when
    every source tried failed."""
    from edge.news.harvest import Harvester
    from edge.store.writer import StoreWriter, database_path
    from shared.clock import LiveClock
    from shared.config.base import load_config
    from shared.config.edge import EdgeConfig

    config = load_config(EdgeConfig, config_file)
    path = database_path(config.data_dir, config.store)
    with StoreWriter(path, config.store, name="news-writer") as writer:
        report = Harvester(config, writer, path, LiveClock()).harvest_once()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    tried = [s for s in report.sources if s.status != "skipped"]
    if tried and all(s.status == "error" for s in tried):
        raise SystemExit(1)
