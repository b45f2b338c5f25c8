"""Named SQLite migrations, each recorded in the same transaction that applies it.

Both stores use it — the agent's database (``edge/store``) and the hub store
(``hub/store``) — with their own list of ``(name, sql)`` migrations.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in the database, in order."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at_ns INTEGER)"
    )
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[tuple[str, str]]
) -> list[str]:
    """Apply the pending ``migrations`` (autocommit connection); returns their names."""
    done = set(applied_migrations(conn))
    applied = []
    for name, sql in migrations:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check inside the write lock: another process may have just applied it.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("COMMIT")
                continue
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at_ns) VALUES (?, ?)",
                (name, time.time_ns()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
