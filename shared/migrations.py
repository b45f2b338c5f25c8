"""Named SQLite migrations, each recorded in the same transaction that applies it.

Both stores use it — the agent's database (``edge/store``) and the hub store
(``hub/store``) — with their own list of ``(name, sql)`` migrations.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from shared.errors import OperationalError


def recorded_migrations(conn: sqlite3.Connection) -> list[str] | None:
    """Names of the migrations recorded, in order; None when there is no ``_migrations``
    table (not a TickerML store). Never writes, so it works on a read-only connection."""
    table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    if table is None:
        return None
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def database_file(conn: sqlite3.Connection) -> str:
    """The file ``conn`` has open as its main database, for messages."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file) or ":memory:"
    return "database"


def check_known(
    conn: sqlite3.Connection, migrations: Sequence[tuple[str, str]], where: str | None = None
) -> None:
    """OperationalError when the database records a migration not in ``migrations``.

    Such a database was written by a newer TickerML: this version would write rows in
    the old shape into the new tables (or re-apply its own migrations around them), so
    it refuses before writing anything. ``where`` names the file (default: the file
    ``conn`` has open).
    """
    known = [name for name, _ in migrations]
    unknown = [name for name in recorded_migrations(conn) or [] if name not in set(known)]
    if unknown:
        raise OperationalError(
            f"{where or database_file(conn)}: schema has migration {', '.join(unknown)} "
            f"that this version (knows up to {known[-1] if known else 'none'}) does not "
            "know; upgrade tickerml"
        )


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in the database, in order."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at_ns INTEGER)"
    )
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[tuple[str, str]]
) -> list[str]:
    """Apply the pending ``migrations`` (autocommit connection); returns their names.

    A database with a migration this version does not know is refused, untouched
    (:func:`check_known`).
    """
    check_known(conn, migrations)
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
