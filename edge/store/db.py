"""Opening the agent's database: WAL, pragmas suited to an SD card, migrations.

Every open is checked first (:mod:`shared.dbfiles`): a damaged, truncated, empty or
read-only file, a newer schema or a file where the folder should be is refused with
one error naming the file, and the file is left as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from edge.store.schema import MIGRATIONS
from shared.dbfiles import open_readonly as open_checked_readonly
from shared.dbfiles import open_writable, sqlite_errors
from shared.errors import OperationalError
from shared.migrations import apply_migrations, recorded_migrations
from shared.sync.tables import EPOCH_TABLE, TABLES, schema_problem

NO_DATABASE = "no database yet (run `tickerml edge run` first)"
"""Why a command that needs the agent's database refuses a missing one."""


def require_database(path: Path | str) -> Path:
    """``path`` if a database file is there, else the OperationalError every command gives."""
    path = Path(path)
    if not path.exists():
        raise OperationalError(f"{path}: {NO_DATABASE}")
    return path


def connect(
    path: Path | str, *, readonly: bool = False, snapshot: bool = False
) -> sqlite3.Connection:
    """A connection with WAL and ``synchronous=NORMAL``.

    NORMAL in WAL mode syncs at checkpoints, not at every commit: a power cut can
    lose the last commits but never corrupts the file, and the SD card sees far
    fewer writes. Autocommit mode: callers open their own ``BEGIN IMMEDIATE``.
    ``readonly`` opens with ``mode=ro`` (it can never write, nor migrate); with
    ``snapshot`` too, for a read-once command, it creates nothing beside the file
    (see :func:`shared.dbfiles.open_readonly`).
    """
    path = Path(path)
    if readonly:
        return open_checked_readonly(require_database(path), snapshot=snapshot)
    conn = open_writable(path, "data_dir (or store.path)")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each recorded in the same transaction that applies it."""
    return apply_migrations(conn, MIGRATIONS)


def open_store(path: Path | str) -> sqlite3.Connection:
    """Connect and migrate: the usual way to open the agent's database for writing.

    A database from a newer TickerML (a migration this version does not know) is
    refused before anything is written.
    """
    path = Path(path)
    conn = connect(path)
    try:
        with sqlite_errors(path):
            migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def open_readonly(path: Path | str) -> sqlite3.Connection:
    """The agent's database for a command that reads it once and exits (``edge stats``,
    ``edge sync-status``): read-only, nothing created beside it, nothing migrated;
    an OperationalError naming the file when it is missing or not an agent database."""
    path = Path(path)
    conn = connect(path, readonly=True, snapshot=True)
    try:
        with sqlite_errors(path):
            recorded = recorded_migrations(conn)
    except BaseException:
        conn.close()
        raise
    if recorded is None:
        conn.close()
        raise OperationalError(
            f"{path}: not a TickerML database (no _migrations table): check data_dir and "
            "store.path"
        )
    return conn


def check_contract(
    conn: sqlite3.Connection, tables: Sequence[str] | None = None, *, where: str
) -> None:
    """OperationalError when a synced table (``tables``, default all) is missing or its
    columns (names, order, declared types, NOT NULL) differ from the contract in
    ``shared.sync.tables``; ``where`` starts the message."""
    for name in TABLES if tables is None else tables:
        rows = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
        if not rows:
            raise OperationalError(
                f"{where}: the database has no table {name!r} (open it once with the store "
                "writer so the migrations run)"
            )
        problem = schema_problem(TABLES[name], rows)
        if problem is not None:
            raise OperationalError(
                f"{where}: {problem}: a migration and the contract disagree, nothing of it "
                "is written or sent"
            )


def database_epoch(conn: sqlite3.Connection, *, where: str) -> str:
    """The database's epoch (its ``store_epoch`` row, made by migration 0006_epoch)."""
    try:
        row = conn.execute(f"SELECT epoch FROM {EPOCH_TABLE}").fetchone()
    except sqlite3.OperationalError as exc:
        raise OperationalError(
            f"{where}: the database has no epoch ({exc}): open it once with the store writer "
            "so the migrations run"
        ) from None
    if row is None:
        raise OperationalError(f"{where}: the database's {EPOCH_TABLE} table is empty")
    return str(row[0])
