"""``tickerml demo``: the click command over :func:`demo.stack.run_demo`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from demo.stack import run_demo


@click.command(name="demo")
@click.option(
    "--duration",
    type=float,
    default=45.0,
    show_default=True,
    help="Seconds the agents collect before the summary.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="Where the configs, certificates, databases and logs go.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Simulator seed.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary's tables (replay, rows stored, paper ledgers, news, "
              "commands, the edge-vs-hub comparison) as JSON; the live view and progress "
              "go to stderr.")
def demo_command(duration: float, data_dir: Path, seed: int, as_json: bool) -> None:
    """Run the whole loop offline: the market simulator, a TLS MQTT broker, the hub and
    two agents (Binance.US and Kraken wire formats) collecting exact books, trades and
    candles into SQLite, paper trading and syncing every row to the hub; midway the hub
    sends commands. Ends comparing each agent's tables with the hub's copy, replaying
    the captures (every Kraken checksum verified) and summarising the paper ledgers."""
    run_demo(Console(stderr=as_json), duration, data_dir, seed, as_json=as_json)
