"""The sync's acknowledged cursors as stored in ``sync_cursors`` (migration 0004).

Read here by whoever needs them on their own connection (retention, the budget,
``tickerml edge sync-status``); written only through the store writer's
``sync_cursors`` upsert, which never moves a cursor backwards.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable


def read_cursors(conn: sqlite3.Connection, tables: Iterable[str]) -> dict[str, int]:
    """Per table of ``tables``, the newest id the hub acknowledged (0 when none yet)."""
    wanted = list(tables)
    try:
        stored = dict(conn.execute("SELECT table_name, acked_id FROM sync_cursors").fetchall())
    except sqlite3.OperationalError:
        # A database from before migration 0004 (opened read-only, so not migrated).
        stored = {}
    return {table: int(stored.get(table, 0)) for table in wanted}
