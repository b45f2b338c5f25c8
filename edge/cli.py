"""``tickerml edge ...`` and ``tickerml data ...``: the agent's commands.

Each command is a thin layer over a library function in its own module.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from shared.config.base import load_config
from shared.config.edge import EdgeConfig

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=Path("edge.yaml"),
    show_default=True,
    help="Edge config file (see config/edge.example.yaml).",
)


def load_edge_config(config_file: Path) -> EdgeConfig:
    """Load and validate the edge config (errors name the file and key path)."""
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
    """Validate an edge config file; errors name the file and the key path."""
    config = load_edge_config(config_file)
    pairs = sum(len(e.symbols) for e in config.exchanges)
    click.echo(
        f"{config_file}: ok (agent {config.agent_id}, {len(config.exchanges)} exchange(s), "
        f"{pairs} symbol(s))"
    )


@edge_group.command(name="replay")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def replay_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Replay recorded traffic (cryptofeed or TickerML captures) through the real
    parsers and books, and print per exchange and symbol: messages, level updates,
    checksums verified / failed, sequence gaps, resyncs and crossed books."""
    from edge.replay import replay_files, report_rows

    rows = report_rows(replay_files(list(files)))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

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
    table = Table(title="replay")
    table.add_column("exchange")
    table.add_column("symbol")
    for _, header in columns:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(row["exchange"], row["symbol"], *(str(row[key]) for key, _ in columns))
    Console().print(table)
