"""``tickerml hub ...``: the hub's commands.

Each command is a thin layer over a library function in its own module.
"""

from __future__ import annotations

from pathlib import Path

import click

from shared.config.base import load_config
from shared.config.hub import HubConfig

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=Path("hub.yaml"),
    show_default=True,
    help="Hub config file (see config/hub.example.yaml).",
)


def load_hub_config(config_file: Path) -> HubConfig:
    """Load and validate the hub config (errors name the file and key path)."""
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
