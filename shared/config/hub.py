"""The hub's config file (``hub.yaml``)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.config.base import ConfigModel
from shared.config.feeds import BackoffConfig
from shared.config.logging import LoggingConfig
from shared.config.mqtt import MqttConfig


class AgentRateConfig(ConfigModel):
    """How much one agent may send: a token bucket per agent id in the topic.

    A message beyond it is counted and dropped unread (and acknowledged to the broker,
    so it is not delivered again); an honest agent never comes near it (a full-speed
    drain of 5,000-row batches is ~40 messages/s, ~5 MB/s).
    """

    messages_per_s: float = Field(
        200.0, gt=0, description="Messages per second one agent may send, sustained."
    )
    burst_messages: int = Field(
        1_000, ge=1, description="Messages one agent may send at once above the sustained rate."
    )
    bytes_per_s: float = Field(
        32_000_000, gt=0, description="Payload bytes per second one agent may send, sustained."
    )
    burst_bytes: int = Field(
        64_000_000, gt=0,
        description="Payload bytes one agent may send at once; at least "
        "ingest.max_payload_bytes, so a largest batch can always pass.",
    )


class DeadLetterConfig(ConfigModel):
    """How many refused messages the hub keeps, per agent and in all."""

    window_s: float = Field(
        60.0, gt=0, description="The budget's window: each agent's budget starts over after it."
    )
    max_per_window: int = Field(
        100, ge=0,
        description="Dead letters kept per agent per window; beyond it a refusal is "
        "counted, its payload dropped, and only the first of each reason kept as a sample.",
    )
    max_bytes_per_window: int = Field(
        4_000_000, ge=0,
        description="Payload bytes kept in dead letters per agent per window (each keeps "
        "at most 64 KiB); beyond it as for max_per_window.",
    )
    max_sample_reasons: int = Field(
        16, ge=0,
        description="Beyond the budget, at most this many reasons per agent per window get "
        "their one sample kept (reasons differing only in numbers are one reason).",
    )
    max_age_s: float = Field(
        7 * 86_400.0, gt=0, description="Dead letters older than this are deleted (seconds)."
    )
    max_total_bytes: int = Field(
        100_000_000, gt=0,
        description="Most payload bytes kept in all dead letters; the oldest go first.",
    )
    prune_interval_s: float = Field(
        60.0, gt=0, description="How often the hub deletes dead letters past max_age_s or "
        "max_total_bytes (and once at start)."
    )


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
        "(MQTT v5 Receive Maximum): the broker holds the rest. mosquitto 2.0 stops holding "
        "to it once the hub acknowledges, so a flood is bounded by rate_limit instead.",
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
    rate_limit: AgentRateConfig = Field(
        default_factory=AgentRateConfig, description="What one agent may send."
    )
    dead_letters: DeadLetterConfig = Field(
        default_factory=DeadLetterConfig, description="Dead-letter budget and retention."
    )

    @model_validator(mode="after")
    def _largest_batch_passes_the_rate_limit(self) -> Self:
        if self.rate_limit.burst_bytes < self.max_payload_bytes:
            raise ValueError(
                f"rate_limit.burst_bytes ({self.rate_limit.burst_bytes}) is below "
                f"max_payload_bytes ({self.max_payload_bytes}): the largest batch could "
                "never pass"
            )
        return self


class HubConfig(ConfigModel):
    """Everything the PC hub needs to know."""

    data_dir: str = Field("var/hub", description="Folder for the hub store, registry and logs.")
    mqtt: MqttConfig = Field(
        default_factory=MqttConfig, description="The broker; the hub's identity is 'hub'."
    )
    command_mqtt: MqttConfig | None = Field(
        None,
        description="How `hub command` reaches the broker: the operator's own identity "
        "(provisioning's `hub-cli` certificate). The broker gives each identity one "
        "connection, so a command sent with the hub's certificate would take over the "
        "running ingest's. Needed whenever `mqtt` has an identity (a certificate or a "
        "username); unset, a broker without identities (a loopback demo) is reached "
        "through `mqtt`.",
    )
    ingest: IngestConfig = Field(default_factory=IngestConfig, description="MQTT ingest.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
