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
from shared.dbfiles import open_readonly, open_writable, sqlite_errors
from shared.errors import OperationalError
from shared.migrations import apply_migrations
from shared.sync.tables import TABLES

STORE_FILE = "hub.db"
"""The hub store's file name inside the hub's ``data_dir``."""


def connect(
    path: Path | str, *, readonly: bool = False, snapshot: bool = False
) -> sqlite3.Connection:
    """A connection in autocommit mode (callers open their own ``BEGIN IMMEDIATE``).

    ``readonly`` connections open with ``mode=ro`` (they can never write) but still
    see the WAL; with ``snapshot`` too, for a read that closes at once, nothing is
    created beside the file (see :func:`shared.dbfiles.open_readonly`). Every open is
    checked first: a damaged, truncated or empty file is refused, naming it.
    """
    path = Path(path)
    if readonly:
        if not path.exists():
            raise OperationalError(f"{path}: no hub store here (run `tickerml hub run` first)")
        return open_readonly(path, snapshot=snapshot)
    conn = open_writable(path)
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
        want = ("agent_id", "epoch", "local_id", *table.data_columns)
        if have != want:
            raise OperationalError(
                f"{path}: table {table.name} has columns {list(have)}, the sync contract "
                f"says {list(want)}: add a migration in hub/store/schema.py"
            )


def open_store(path: Path | str) -> sqlite3.Connection:
    """Connect, migrate and check the contract: the way to open the store for writing.

    A store from a newer TickerML (a migration this version does not know) is refused
    before anything is written.
    """
    path = Path(path)
    conn = connect(path)
    try:
        with sqlite_errors(path):
            migrate(conn)
            check_contract(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn
