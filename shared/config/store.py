"""SQLite store config (edge)."""

from __future__ import annotations

from pydantic import Field

from shared.config.base import ConfigModel
from shared.config.feeds import BackoffConfig


class RetentionConfig(ConfigModel):
    """How long each kind of row is kept on the Pi (days; 0 keeps forever)."""

    book_snapshots_days: float = Field(7, ge=0, description="Order-book snapshots kept (days).")
    trades_days: float = Field(30, ge=0, description="Trade prints kept (days).")
    candles_days: float = Field(0, ge=0, description="1-minute candles kept (days; 0: forever).")
    feed_events_days: float = Field(30, ge=0, description="Feed events kept (days).")
    raw_messages_hours: float = Field(
        6, ge=0, description="Raw-message capture kept (hours), when capture is on."
    )


class StoreConfig(ConfigModel):
    """The agent's SQLite database and its single batched writer."""

    path: str = Field("edge.db", description="Database file, relative to data_dir unless absolute.")
    snapshot_interval_s: float = Field(
        5.0, gt=0, description="Seconds between stored order-book snapshots, per symbol."
    )
    snapshot_levels: int = Field(20, gt=0, le=1000, description="Levels a side in each snapshot.")
    commit_interval_s: float = Field(
        1.0, gt=0, description="The writer commits at most this often (seconds): SD-card wear."
    )
    commit_max_rows: int = Field(
        20_000, gt=0, description="...or sooner when this many rows are waiting."
    )
    queue_max_rows: int = Field(
        500_000, gt=0, description="Rows buffered in memory before producers are slowed."
    )
    queue_max_bytes: int = Field(
        64_000_000,
        gt=0,
        description="Approximate bytes buffered in memory before producers are slowed (a Pi's "
        "RAM is small; raw messages and snapshots are large rows).",
    )
    disk_full_backoff: BackoffConfig = Field(
        default_factory=BackoffConfig,
        description="Delays between the writer's retries while the disk is full (the rows "
        "wait in memory up to queue_max_rows / queue_max_bytes, then the oldest market data "
        "goes).",
    )
    raw_capture: bool = Field(False, description="Also store every raw exchange message.")
    candle_close_grace_s: float = Field(
        2.0,
        ge=0,
        description="A quiet symbol's candle is closed on a timer this many seconds after its "
        "minute ends, so trades stamped just before the minute's end still count.",
    )
    prune_chunk_rows: int = Field(
        5_000,
        gt=0,
        description="Retention deletes at most this many rows per transaction, so the writer "
        "never waits long for the lock.",
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="Retention per row kind."
    )
