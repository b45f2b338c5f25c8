"""The agent's sync to the hub (edge ``sync:`` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from shared.config.base import ConfigModel
from shared.config.feeds import BackoffConfig
from shared.config.mqtt import MqttConfig
from shared.sync.tables import TABLES


class SyncConfig(ConfigModel):
    """Streaming the agent's rows to the hub through the broker."""

    enabled: bool = Field(False, description="Sync to the hub while collecting.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="The broker.")
    tables: list[str] = Field(
        default_factory=lambda: list(TABLES), description="Tables to sync (default: all)."
    )
    batch_rows: int = Field(5000, gt=0, le=100_000, description="Most rows in one batch.")
    batch_bytes: int = Field(
        1_000_000, ge=10_000, le=64_000_000,
        description="Most uncompressed row bytes in one batch (approximate).",
    )
    batch_interval_s: float = Field(
        1.0, gt=0, description="How often new rows are looked for when caught up (seconds)."
    )
    max_inflight: int = Field(
        8, ge=1, le=256, description="Batches sent and not yet acknowledged, at most."
    )
    ack_timeout_s: float = Field(
        30.0, gt=0, description="A batch not acknowledged this long is sent again."
    )
    status_interval_s: float = Field(
        15.0, gt=0, description="How often the retained status is refreshed (seconds)."
    )
    disk_budget_mb: float = Field(
        2048.0, gt=0,
        description="Database size at which the budget policy acts on the unsynced backlog (MiB).",
    )
    budget_policy: Literal["drop_oldest", "keep"] = Field(
        "drop_oldest",
        description="At the budget: 'drop_oldest' deletes the oldest unsynced rows of "
        "droppable_tables and records each drop in sync_drops (synced to the hub); 'keep' "
        "deletes nothing and only records that the budget is exceeded.",
    )
    droppable_tables: list[str] = Field(
        default_factory=lambda: ["raw_messages", "book_snapshots"],
        description="Tables whose oldest unsynced rows may go when the budget is reached.",
    )
    backoff: BackoffConfig = Field(
        default_factory=BackoffConfig, description="Reconnect backoff to the broker."
    )

    @field_validator("tables", "droppable_tables")
    @classmethod
    def _known(cls, tables: list[str]) -> list[str]:
        for table in tables:
            if table not in TABLES:
                raise ValueError(f"unknown table {table!r} (synced tables: {', '.join(TABLES)})")
        return tables
