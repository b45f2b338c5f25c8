"""The hub's config file (``hub.yaml``)."""

from __future__ import annotations

from pydantic import Field

from shared.config.base import ConfigModel
from shared.config.feeds import BackoffConfig
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
    receive_maximum: int = Field(
        256, ge=1, le=65535,
        description="Most messages the broker may hand the hub before it has stored them "
        "(MQTT v5 Receive Maximum): the broker holds the rest, which bounds the hub's memory.",
    )
    queue_bytes: int = Field(
        512_000_000, gt=0,
        description="Most payload bytes waiting for the writer; a batch past it is dropped "
        "unacknowledged and the agent sends it again.",
    )
    stale_feed_after_s: float = Field(
        60.0, gt=0,
        description="A book not updated this long (by its agent's last status) shows stale.",
    )
    status_interval_s: float = Field(
        30.0, gt=0,
        description="How often `hub run` logs its status line (batches, rows/s, dead letters).",
    )
    backoff: BackoffConfig = Field(
        default_factory=BackoffConfig, description="Reconnect backoff to the broker."
    )


class HubConfig(ConfigModel):
    """Everything the PC hub needs to know."""

    data_dir: str = Field("var/hub", description="Folder for the hub store, registry and logs.")
    mqtt: MqttConfig = Field(
        default_factory=MqttConfig, description="The broker; the hub's identity is 'hub'."
    )
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="MQTT ingest.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
