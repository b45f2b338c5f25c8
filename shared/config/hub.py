"""The hub's config file (``hub.yaml``)."""

from __future__ import annotations

from pydantic import Field

from shared.config.base import ConfigModel
from shared.config.logging import LoggingConfig


class HubConfig(ConfigModel):
    """Everything the PC hub needs to know."""

    data_dir: str = Field("var/hub", description="Folder for the hub store, registry and logs.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
