"""One batch of the store writer's queue, committed: one ``BEGIN IMMEDIATE`` ...
``COMMIT`` with ``executemany`` per table, a ``put_many`` group's rows among them.

A database another connection holds locked is waited for and the batch tried again; a
full disk is told apart (:class:`~edge.store.errors.StoreFullError`: rolled back, the
batch intact for the writer to keep); any other failure names the table it was writing
(:class:`~edge.store.errors.StoreWriterError`).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.store.errors import StoreFullError, StoreWriterError
from edge.store.full_disk import is_disk_full
from edge.store.inserts import INSERTS
from edge.store.queue import GROUP, Entry

# The writer's own lines, whichever of its modules writes them: operators find them
# under one logger name.
log = logging.getLogger("edge.store.writer")

_LOCKED_RETRIES = 5


@dataclass(frozen=True)
class Commit:
    """What one committed batch wrote."""

    offered: dict[str, int]
    """Rows per table in the batch."""
    written: dict[str, int]
    """Rows per table inserted (the rest an ``INSERT OR IGNORE`` skipped)."""
    seconds: float
    """How long the transaction took."""


class BatchCommitter:
    """Commits batches on the writer thread's connection (its alone)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._current_table = ""

    def commit(self, batch: list[Entry]) -> Commit:
        """Commit ``batch`` in one transaction, retried while the database is locked."""
        groups: dict[str, list[tuple[Any, ...]]] = {}
        for table, row, _ in batch:
            if table == GROUP:
                for member_table, member_row in row:
                    groups.setdefault(member_table, []).append(member_row)
            else:
                groups.setdefault(table, []).append(row)
        for attempt in range(_LOCKED_RETRIES + 1):
            try:
                written, elapsed = self._commit_groups(groups)
                return Commit({t: len(rows) for t, rows in groups.items()}, written, elapsed)
            except (sqlite3.Error, OSError) as exc:
                if is_disk_full(exc):
                    # Rolled back, the batch intact: the caller keeps it and retries.
                    raise StoreFullError(f"{self.path}: {exc}") from exc
                # Another connection (a prune, an import) held the write lock past
                # busy_timeout: the batch is intact, so wait and try it again.
                transient = isinstance(exc, sqlite3.OperationalError) and (
                    "locked" in str(exc) or "busy" in str(exc)
                )
                if not transient or attempt == _LOCKED_RETRIES:
                    raise self._failure(exc) from exc
                log.warning("store writer: database busy (%s), retrying the batch", exc)
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _commit_groups(
        self, groups: dict[str, list[tuple[Any, ...]]]
    ) -> tuple[dict[str, int], float]:
        conn = self._conn
        started = time.perf_counter()
        written: dict[str, int] = {}
        self._current_table = ""
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, rows in groups.items():
                self._current_table = table
                cursor = conn.executemany(INSERTS[table], rows)
                written[table] = cursor.rowcount
            self._current_table = ""
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back itself (SQLITE_FULL can); a failing ROLLBACK
            # must not hide the error that matters.
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as exc:
                    log.error("store writer: rollback failed on %s: %s", self.path, exc)
            raise
        return written, time.perf_counter() - started

    def _failure(self, exc: sqlite3.Error | OSError) -> StoreWriterError:
        table = self._current_table or "(commit)"
        log.error("store writer failed writing %s to %s: %s", table, self.path, exc)
        return StoreWriterError(f"{self.path}: writing {table} failed: {exc}")
