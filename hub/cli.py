"""``tickerml hub ...``: the hub's commands."""

from __future__ import annotations

from pathlib import Path

import click

from shared.config.base import load_config
from shared.config.hub import HubConfig


@click.group(name="hub")
def hub_group() -> None:
    """The PC hub: MQTT ingest, hub store, training and model publishing."""


@hub_group.command(name="check-config")
@click.argument("config_file", type=click.Path(path_type=Path))
def check_config(config_file: Path) -> None:
    """Validate a hub config file; errors name the file and the key path."""
    config = load_config(HubConfig, config_file)
    click.echo(f"{config_file}: ok (data_dir={config.data_dir})")
