"""A full disk, as the store writer sees it: how it is recognised, which rows it may
cost, and the record a spell of it leaves (see :mod:`edge.store.writer`).

SQLite's "database or disk is full" (or an ``ENOSPC``) is a
:class:`~edge.store.errors.StoreFullError`, a :class:`~shared.errors.TemporaryError`,
not a failure. The batch is rolled back and put back at the head of the queue; the
writer retries (its oldest entry, to find out whether there is room again) with
capped, jittered backoff (``store.disk_full_backoff``) and meanwhile says since when the
disk is full (:attr:`StoreWriter.disk_full_since_ns`, ``stats()``). Producers never
wait then (waiting would freeze the event loop for nothing): rows keep queueing up to
the usual bound, beyond it the *oldest* market-data rows (:data:`MARKET_DATA_TABLES`)
go, counted per table (:meth:`edge.store.queue.WriteQueue.evict_oldest`); the ledger and
every other row stays (paper trading halts while the disk is full, so few come).

A spell runs from the first commit that fails with the disk full to the first that
succeeds again. Its record goes in with the next commit: a ``store_full`` feed event
stamped when the disk filled, a ``store_recovered`` one with the rows dropped
meanwhile, and one ``sync_drops`` row per table that lost rows (synced, so the hub
learns of the gap; ``first_id``/``last_id`` are 0, as the rows never had ids).
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.store.errors import StoreFullError, StoreWriterError
from shared.backoff import Backoff
from shared.clock import Clock
from shared.config.feeds import BackoffConfig
from shared.marketdata import FeedEventKind

# The writer's own lines, whichever of its modules writes them: operators find them
# under one logger name.
log = logging.getLogger("edge.store.writer")

_FULL_REMINDER_S = 60.0

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

    def error(self, path: Path, waiting: int) -> StoreFullError:
        """What a flush raises while the disk is full, ``waiting`` rows in memory."""
        return StoreFullError(
            f"{path}: disk full since {iso_utc(self.since_ns)} ({self.reason}): "
            f"{waiting} rows wait in memory, nothing is "
            "committed until space returns"
        )

    def given_up(self, path: Path, unstored: int, other: int) -> StoreWriterError:
        """What a close says when the disk stayed full through its grace: ``unstored``
        rows were not stored, ``other`` of them not market data."""
        return StoreWriterError(
            f"{path}: disk still full at shutdown: {unstored} rows were not stored "
            f"({other} of them not market data: the paper ledger, news, the sync's state), "
            f"full since {iso_utc(self.since_ns)} ({self.reason}); free space: the next "
            "run goes on from what was committed"
        )


class FullDisk:
    """The writer's disk, full or not: the spell under way and the backoff of its
    retries. The writer calls it with its lock held."""

    def __init__(self, backoff: BackoffConfig, clock: Clock) -> None:
        self.spell: FullDiskSpell | None = None
        """The disk is full while set."""
        self._backoff = Backoff(backoff)
        self._clock = clock

    def commit_failed(
        self, exc: StoreFullError, now: float, *, path: Path, queued: int, bound: int
    ) -> tuple[FullDiskSpell, bool]:
        """A commit failed on the full disk at ``now`` (monotonic): the spell, and
        whether it started now (else it carries on), said in the log (then once a
        minute)."""
        spell = self.spell
        if spell is None:
            spell = self.spell = FullDiskSpell(
                self._clock.time_ns(), str(exc.__cause__ or exc), reminded=now
            )
            self._backoff.reset()
            log.warning(
                "store writer: the disk is full (%s) writing to %s: %d rows wait in "
                "memory and are retried with backoff; beyond %d rows the oldest market "
                "data is dropped, and paper trading halts until space returns",
                spell.reason, path, queued, bound,
            )
            return spell, True
        if now - spell.reminded >= _FULL_REMINDER_S:
            spell.reminded = now
            log.warning(
                "store writer: the disk is still full (since %s): %d rows wait in "
                "memory, %d dropped so far",
                iso_utc(spell.since_ns), queued, spell.total_dropped,
            )
        return spell, False

    def next_retry(self, now: float) -> float:
        """When to try again (monotonic), after a failed commit at ``now``."""
        return now + self._backoff.next_delay()

    def storing_again(self, spell: FullDiskSpell) -> list[tuple[str, tuple[Any, ...]]]:
        """The first commit after a full disk succeeded: end the spell; its record, counts
        as they are now (:meth:`FullDiskSpell.record`)."""
        now = self._clock.time_ns()
        rows = spell.record(now)
        self.spell = None
        self._backoff.reset()
        log.warning("store writer: %s", spell.summary(now))
        return rows
