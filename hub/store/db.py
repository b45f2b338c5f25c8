"""Opening the hub store: WAL, ``synchronous=FULL``, named migrations.

The same conventions as the agent's database (WAL, ``BEGIN IMMEDIATE``, each
migration recorded in the transaction that applies it: ``shared.migrations``).
One difference on purpose: the hub runs
``synchronous=FULL``, because an acknowledgement sent to an agent promises that the
batch is on disk and the agent then forgets it; NORMAL could lose the last commits
on a power cut after their acknowledgements went out.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.store.schema import MIGRATIONS
from shared.errors import OperationalError
from shared.migrations import apply_migrations
from shared.sync.tables import TABLES

STORE_FILE = "hub.db"
"""The hub store's file name inside the hub's ``data_dir``."""


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (callers open their own ``BEGIN IMMEDIATE``).

    ``readonly`` connections refuse writes (``query_only``) but still see the WAL.
    """
    path = Path(path)
    if not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise OperationalError(f"{path}: no hub store here (run `tickerml hub run` first)")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        return conn
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise OperationalError(f"{path}: could not switch to WAL (journal_mode={mode})")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each recorded in the same transaction that applies it."""
    return apply_migrations(conn, MIGRATIONS)


def check_contract(conn: sqlite3.Connection, path: Path | str) -> None:
    """OperationalError when a synced table's columns differ from the contract.

    Storing a newer contract's rows into an older table would put values in the wrong
    columns; the fix is a named migration for the new schema version.
    """
    for table in TABLES.values():
        have = tuple(row[1] for row in conn.execute(f"PRAGMA table_info({table.name})"))
        want = ("agent_id", "local_id", *table.data_columns)
        if have != want:
            raise OperationalError(
                f"{path}: table {table.name} has columns {list(have)}, the sync contract "
                f"says {list(want)}: add a migration in hub/store/schema.py"
            )


def open_store(path: Path | str) -> sqlite3.Connection:
    """Connect, migrate and check the contract: the way to open the store for writing."""
    conn = connect(path)
    migrate(conn)
    check_contract(conn, path)
    return conn
