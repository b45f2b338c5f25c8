"""The store writer's counters (:meth:`edge.store.writer.StoreWriter.stats`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class WriterStats:
    """What the writer has done so far (``stats()`` returns a fresh copy)."""

    rows_written: dict[str, int] = field(default_factory=dict)
    rows_ignored: dict[str, int] = field(default_factory=dict)
    """Rows an ``INSERT OR IGNORE`` skipped as duplicates."""
    commits: int = 0
    commit_seconds_total: float = 0.0
    commit_seconds_max: float = 0.0
    commit_seconds_last: float = 0.0
    commits_per_s: float = 0.0
    """Commit rate over the last minute (or since start, if younger)."""
    pending_rows: int = 0
    """Entries not committed yet (a ``put_many`` group counts one): queued, or in the
    commit under way (or being retried, on a full disk)."""
    pending_bytes: int = 0
    backpressure_waits: int = 0
    """Times a producer found the queue full and had to wait."""
    dropped_rows: int = 0
    """Rows given up: after waiting for room (the disk could not keep up), or the
    oldest market data beyond the bound while the disk was full."""
    dropped_by_table: dict[str, int] = field(default_factory=dict)
    """:attr:`dropped_rows` per table."""
    failed: str | None = None
    disk_full_since_ns: int | None = None
    """When the disk was found full (the writer's clock), while it still is."""
    disk_full_reason: str | None = None
    """What SQLite (or the OS) said, while the disk is full."""
    disk_full_dropped: int = 0
    """Rows dropped since the disk filled (0 when it is not full)."""
    disk_full_spells: int = 0
    """Times the disk has filled since the writer started."""
    disk_full_retries: int = 0
    """Commits tried on a full disk and failed, over all spells."""

    @property
    def commit_seconds_mean(self) -> float:
        return self.commit_seconds_total / self.commits if self.commits else 0.0

    @property
    def total_written(self) -> int:
        return sum(self.rows_written.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_written": dict(self.rows_written),
            "rows_ignored": dict(self.rows_ignored),
            "commits": self.commits,
            "commits_per_s": round(self.commits_per_s, 3),
            "commit_seconds_mean": round(self.commit_seconds_mean, 6),
            "commit_seconds_max": round(self.commit_seconds_max, 6),
            "commit_seconds_last": round(self.commit_seconds_last, 6),
            "pending_rows": self.pending_rows,
            "pending_bytes": self.pending_bytes,
            "backpressure_waits": self.backpressure_waits,
            "dropped_rows": self.dropped_rows,
            "dropped_by_table": dict(self.dropped_by_table),
            "failed": self.failed,
            "disk_full_since_ns": self.disk_full_since_ns,
            "disk_full_reason": self.disk_full_reason,
            "disk_full_dropped": self.disk_full_dropped,
            "disk_full_spells": self.disk_full_spells,
            "disk_full_retries": self.disk_full_retries,
        }
