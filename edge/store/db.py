"""Opening the agent's database: WAL, pragmas suited to an SD card, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.store.schema import MIGRATIONS
from shared.errors import OperationalError
from shared.migrations import apply_migrations


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with WAL and ``synchronous=NORMAL``.

    NORMAL in WAL mode syncs at checkpoints, not at every commit: a power cut can
    lose the last commits but never corrupts the file, and the SD card sees far
    fewer writes. Autocommit mode: callers open their own ``BEGIN IMMEDIATE``.
    """
    path = Path(path)
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise OperationalError(f"{path}: could not switch to WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each recorded in the same transaction that applies it."""
    return apply_migrations(conn, MIGRATIONS)


def open_store(path: Path | str) -> sqlite3.Connection:
    """Connect and migrate: the usual way to open the agent's database for writing."""
    conn = connect(path)
    migrate(conn)
    return conn
