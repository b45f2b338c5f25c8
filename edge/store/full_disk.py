"""A full disk, as the store writer sees it: how it is recognised, which rows it may
cost, and the record a spell of it leaves (see :mod:`edge.store.writer`).

A spell runs from the first commit that fails with the disk full to the first that
succeeds again. Its record goes in with the next commit: a ``store_full`` feed event
stamped when the disk filled, a ``store_recovered`` one with the rows dropped
meanwhile, and one ``sync_drops`` row per table that lost rows (synced, so the hub
learns of the gap; ``first_id``/``last_id`` are 0, as the rows never had ids).
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.errors import TemporaryError
from shared.marketdata import FeedEventKind

MARKET_DATA_TABLES = frozenset(
    {
        "trades", "candles_1m", "book_snapshots", "feed_events", "raw_messages",
        "arbitrage_opportunities", "news_articles",
    }
)
"""Rows a full disk may cost beyond the queue's bound, oldest first: market data the
exchanges (or ``edge history backfill``) can give again, what is derived from it, and
news articles, which the harvest fetches again when it finds them unstored. Never the
paper ledger, news scores and roll-ups, or the sync's own state."""

STORE_EVENT_EXCHANGE = "*"
"""``exchange`` of the writer's own feed events: the store, every exchange at once."""


class StoreFullError(TemporaryError):
    """The disk is full: nothing can be committed now. The writer keeps the rows in
    memory and retries by itself; :meth:`StoreWriter.flush` raises this meanwhile."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the file system is full: SQLite's ``SQLITE_FULL``
    ("database or disk is full") or an ``OSError`` ``ENOSPC`` / ``EDQUOT``."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return bool(code & 0xFF == sqlite3.SQLITE_FULL)
        return "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def iso_utc(ts_ns: int) -> str:
    """``ts_ns`` as UTC ISO 8601 to the second, as the log lines write time."""
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FullDiskSpell:
    """One spell of full disk: since when, why, and what it cost so far."""

    since_ns: int
    """When the first commit failed (the writer's clock)."""
    reason: str
    """What SQLite (or the OS) said."""
    reminded: float
    """When the log last said the disk is full (monotonic)."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Rows dropped per table since the disk filled."""

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def count_drop(self, table: str, rows: int = 1) -> None:
        self.dropped[table] = self.dropped.get(table, 0) + rows

    def summary(self, now_ns: int) -> str:
        """The spell in one line, as the log and the ``store_recovered`` event say it."""
        per_table = ", ".join(f"{t} {n}" for t, n in sorted(self.dropped.items()))
        return (
            f"storing again after {(now_ns - self.since_ns) / 1e9:.1f} s of full disk "
            f"(since {iso_utc(self.since_ns)}): {self.total_dropped} rows dropped"
            + (f" ({per_table})" if per_table else "")
        )

    def record(self, now_ns: int) -> list[tuple[str, tuple[Any, ...]]]:
        """The rows that record the spell, ended at ``now_ns``, as ``(table, row)``."""
        reason = f"disk full since {iso_utc(self.since_ns)}: dropped in memory, never stored"
        return [
            ("feed_events", (STORE_EVENT_EXCHANGE, "", str(FeedEventKind.STORE_FULL),
                             f"disk full: {self.reason}", self.since_ns)),
            ("feed_events", (STORE_EVENT_EXCHANGE, "", str(FeedEventKind.STORE_RECOVERED),
                             self.summary(now_ns), now_ns)),
            *(("sync_drops", (table, 0, 0, n, reason, now_ns))
              for table, n in sorted(self.dropped.items())),
        ]
