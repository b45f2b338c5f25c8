"""The disk budget: what an agent does when the hub has been away too long.

While the hub or the broker is away the agent keeps collecting, so the unsynced
backlog grows. When the database (its used pages plus the ``-wal`` file) passes
``sync.disk_budget_mb``:

* ``drop_oldest`` deletes the oldest unsynced rows of ``sync.droppable_tables``
  (market data that can be re-collected, never the paper-trading ledger), chunk by
  chunk until the database is back under budget, and records every deleted range
  as a ``sync_drops`` row — itself synced, so the hub learns of each gap it will
  never fill — with a warning in the log;
* ``keep`` deletes nothing and records the crossing once (a ``sync_drops`` row of
  0 rows) with a warning; the disk may fill.

Used pages, not the file size: SQLite keeps freed pages in the file for reuse, so
the file never shrinks after a delete but stops growing until they are used up.

Deletes follow :mod:`edge.store.retention`: the budget's own connection, short
``BEGIN IMMEDIATE`` transactions of ``chunk_rows`` rows, so the store writer never
waits long for the lock. Each chunk's ``sync_drops`` row is written in the same
transaction as its delete, so a crash can never lose the record of a drop (the
one place the sync writes outside the store writer, for that reason).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from edge.store.db import connect
from edge.store.inserts import INSERTS
from edge.store.writer import StoreWriter
from shared.clock import Clock
from shared.config.sync import SyncConfig
from shared.errors import OperationalError
from shared.sync.tables import TABLES

log = logging.getLogger("edge.sync")

MIB = 1024 * 1024
ALL_TABLES = "*"
"""``table_name`` of a ``keep``-policy record: the budget, not one table."""


def page_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database's used pages (free pages wait in the file for reuse)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def wal_bytes(path: Path) -> int:
    try:
        return os.path.getsize(f"{path}-wal")
    except OSError:
        return 0


def used_bytes(conn: sqlite3.Connection, path: Path) -> int:
    """Bytes the database really holds: used pages, plus the ``-wal`` file."""
    return page_bytes(conn) + wal_bytes(path)


def truncate_wal(conn: sqlite3.Connection) -> None:
    """Checkpoint and cut the ``-wal`` file back to nothing.

    SQLite keeps a WAL file at its largest size and reuses it; after a burst of
    writes (or of deletes, which write every touched page to the WAL) only a
    TRUNCATE checkpoint gives the space back. It waits for the writer's current
    commit, and leaves the file as it is if a reader holds an old snapshot.
    """
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


class DiskBudget:
    """Keeps one agent database under its budget by the configured policy."""

    def __init__(
        self,
        path: Path,
        config: SyncConfig,
        clock: Clock,
        writer: StoreWriter,
        *,
        chunk_rows: int = 5_000,
        max_chunks: int = 200,
    ) -> None:
        self.path = Path(path)
        self.budget_bytes = int(config.disk_budget_mb * MIB)
        self.policy = config.budget_policy
        self.tables = [t for t in config.droppable_tables if t in config.tables]
        self.clock = clock
        self.writer = writer
        self.chunk_rows = chunk_rows
        self.max_chunks = max_chunks
        """Chunks per :meth:`enforce` call, so one call never holds its caller long."""
        self.over = False
        self.dropped_rows = 0
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def enforce(self, sent_up_to: Mapping[str, int]) -> dict[str, int]:
        """Act if the database is over budget; returns rows dropped per table.

        ``sent_up_to``: per table, the newest id already handed to the hub (acked,
        or in a batch on its way, which the outbox holds in memory): only rows after
        it count as unsynced and may be dropped.
        """
        conn = self._connection()
        used = used_bytes(conn, self.path)
        if used > self.budget_bytes:
            truncate_wal(conn)
            used = used_bytes(conn, self.path)
        if used <= self.budget_bytes:
            self.over = False
            return {}
        crossing = not self.over
        self.over = True
        if self.policy == "keep":
            if crossing:
                reason = self._reason(used, "policy keep deletes nothing")
                log.warning("sync: %s", reason)
                try:
                    self.writer.put(
                        "sync_drops", (ALL_TABLES, 0, 0, 0, reason, self.clock.time_ns())
                    )
                except OperationalError as exc:
                    log.error("sync: could not record the budget crossing: %s", exc)
            return {}
        return self._drop_oldest(conn, used, sent_up_to)

    def _reason(self, used: int, what: str) -> str:
        return (
            f"disk budget {self.budget_bytes / MIB:.1f} MiB exceeded "
            f"({used / MIB:.1f} MiB used, hub unreachable or behind): {what}"
        )

    def _drop_oldest(
        self, conn: sqlite3.Connection, used: int, sent_up_to: Mapping[str, int]
    ) -> dict[str, int]:
        dropped: dict[str, int] = {}
        reason = self._reason(used, "dropped the oldest unsynced rows")
        # The deletes themselves grow the WAL: aim the pages at what the WAL left
        # after its truncation, and truncate it again at the end. Never below half the
        # budget: a WAL a long reader keeps large must not cost every unsynced row.
        target = max(self.budget_bytes - wal_bytes(self.path), self.budget_bytes // 2)
        pages = page_bytes(conn)
        for _ in range(self.max_chunks):
            if pages <= target:
                break
            table = self._oldest_table(conn, sent_up_to)
            if table is None:
                log.warning(
                    "sync: %s",
                    self._reason(used, "no unsynced rows of droppable tables left to drop"),
                )
                break
            count = self._drop_chunk(conn, table, sent_up_to.get(table, 0), reason)
            dropped[table] = dropped.get(table, 0) + count
            pages = page_bytes(conn)
        truncate_wal(conn)
        used = used_bytes(conn, self.path)
        if dropped:
            total = sum(dropped.values())
            self.dropped_rows += total
            log.warning(
                "sync: %s: %s (now %.1f MiB)", reason,
                ", ".join(f"{t} {n} rows" for t, n in dropped.items()), used / MIB,
            )
        return dropped

    def _oldest_table(self, conn: sqlite3.Connection, sent_up_to: Mapping[str, int]) -> str | None:
        """The droppable table whose oldest unsynced row is oldest."""
        best: tuple[int, str] | None = None
        for table in self.tables:
            spec = TABLES[table]
            row = conn.execute(
                f'SELECT "{spec.time_column}" FROM "{table}" WHERE id > ? ORDER BY id LIMIT 1',
                (sent_up_to.get(table, 0),),
            ).fetchone()
            if row is None:
                continue
            when = (row[0] or 0) * spec.time_unit_ns
            if best is None or when < best[0]:
                best = (when, table)
        return best[1] if best is not None else None

    def _drop_chunk(self, conn: sqlite3.Connection, table: str, after: int, reason: str) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            first, last, count = conn.execute(
                f'SELECT MIN(id), MAX(id), COUNT(*) FROM (SELECT id FROM "{table}" '
                "WHERE id > ? ORDER BY id LIMIT ?)",
                (after, self.chunk_rows),
            ).fetchone()
            if count:
                conn.execute(f'DELETE FROM "{table}" WHERE id BETWEEN ? AND ?', (first, last))
                conn.execute(
                    INSERTS["sync_drops"],
                    (table, first, last, count, reason, self.clock.time_ns()),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return int(count)
