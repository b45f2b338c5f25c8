"""The hub's config file (``hub.yaml``)."""

from __future__ import annotations

from pydantic import Field

from shared.config.base import ConfigModel
from shared.config.logging import LoggingConfig
from shared.config.mqtt import MqttConfig


class IngestConfig(ConfigModel):
    """Taking the agents' batches into the hub store."""

    max_batch_bytes: int = Field(
        64_000_000, gt=0, description="Largest batch accepted, uncompressed (bytes)."
    )
    max_payload_bytes: int = Field(
        16_000_000, gt=0, description="Largest MQTT payload accepted, compressed (bytes)."
    )
    commit_max_batches: int = Field(
        64, gt=0, description="Most batches committed (then acknowledged) in one transaction."
    )
    offline_after_s: float = Field(
        90.0, gt=0,
        description="An agent not heard from this long shows offline even without its last will.",
    )


class HubConfig(ConfigModel):
    """Everything the PC hub needs to know."""

    data_dir: str = Field("var/hub", description="Folder for the hub store, registry and logs.")
    mqtt: MqttConfig = Field(
        default_factory=MqttConfig, description="The broker; the hub's identity is 'hub'."
    )
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="MQTT ingest.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
