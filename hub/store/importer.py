"""``hub import-db``: an agent's database copied into the hub store, as if synced.

For an agent that was never connected, or a database carried over on a USB stick.
The rows go through the sync's own commit (:meth:`HubStore.commit_batches`, keyed on
agent, the database's epoch, table and local id, compared by content), so an import
and the MQTT sync never store a row twice, whichever came first, and importing the
same file again adds nothing. The epoch is the database's own (``store_epoch``); a
database from before epochs imports as ``legacy``, as its sync stored it. A row that
differs from the hub's under the same key is a conflict, kept apart and counted.
Each chunk is logged in ``ingest_batches`` like a synced batch (attempt 1, no
payload bytes).

The agent's database is opened read-only and read in chunks of ``id`` order, up
to the newest id when the import started: an agent may keep writing meanwhile.
Its market-metadata cache (``shared.markets``) is copied into the hub's own cache,
``<data_dir>/markets``, where a backtest on the hub store reads it; a cache file
the hub already has is replaced only by a newer fetch.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.store.records import ValidBatch
from hub.store.store import HubStore
from shared.dbfiles import open_readonly
from shared.errors import OperationalError
from shared.markets import CACHE_DIR, read_cache
from shared.readers.stores import agent_epoch, store_kind
from shared.sync.messages import BatchHeader, Message
from shared.sync.tables import LEGACY_EPOCH, TABLES, schema_problem

CHUNK_ROWS = 5_000
"""Rows read and committed at a time: bounded memory, and a commit every few MB."""

Progress = Callable[[str, int, int], None]
"""Called with (table, rows read so far of every table, rows to read in all): once
before the first chunk, then after each."""


@dataclass(frozen=True, slots=True)
class TableImport:
    """One synced table's import: rows read from the agent and rows the hub did not have."""

    table: str
    read: int
    added: int
    present: bool = True
    """False when the agent's database has no such table (an older agent): nothing read."""
    conflicts: int = 0
    """Rows that differ from the hub's under the same key (kept in ``row_conflicts``)."""

    @property
    def already(self) -> int:
        """Rows the hub already held, the same (synced before, or imported before)."""
        return self.read - self.added - self.conflicts


@dataclass(frozen=True, slots=True)
class MarketsCopy:
    """One exchange's metadata cache file: copied into the hub's cache, or the hub's kept."""

    exchange: str
    markets: int
    fetched_at_ms: int
    copied: bool


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What one import did: per synced table, then per exchange's metadata cache."""

    path: Path
    agent_id: str
    epoch: str
    """The database's epoch (``legacy`` for one from before epochs)."""
    tables: list[TableImport]
    markets: list[MarketsCopy]
    markets_from: Path | None
    markets_to: Path


def import_db(
    store: HubStore, edge_db: Path, agent_id: str, *, markets_dir: Path | None = None,
    chunk_rows: int = CHUNK_ROWS, progress: Progress | None = None,
) -> ImportReport:
    """Copy ``edge_db``'s synced tables into ``store`` as ``agent_id``'s rows, and the
    metadata cache in ``markets_dir`` (if given) into the hub's.

    Everything is checked before a row is written: the agent id, the file (a TickerML
    agent database), its tables' columns and the metadata cache files.
    """
    check_agent_id(agent_id)
    conn = open_agent_db(edge_db)
    try:
        totals = table_totals(conn, str(edge_db))
        if markets_dir is not None and not markets_dir.is_dir():
            raise OperationalError(f"{markets_dir}: no such market-metadata folder")
        files = agent_markets(markets_dir) if markets_dir is not None else []
        epoch = agent_epoch(conn)
        tables = import_tables(
            store, conn, agent_id, totals, chunk_rows=chunk_rows, progress=progress,
            where=str(edge_db), epoch=epoch,
        )
    finally:
        conn.close()
    hub_dir = hub_markets_dir(store)
    return ImportReport(
        edge_db, agent_id, epoch or LEGACY_EPOCH, tables, copy_markets(files, hub_dir),
        markets_dir, hub_dir,
    )


def hub_markets_dir(store: HubStore) -> Path:
    """The hub's market-metadata cache: ``markets`` beside the store (``<data_dir>/markets``)."""
    return store.path.parent / CACHE_DIR


def open_agent_db(path: Path) -> sqlite3.Connection:
    """The agent's database, read-only; ``OperationalError`` naming the file otherwise."""
    if not path.is_file():
        raise OperationalError(f"{path}: no such agent database")
    conn = open_readonly(path)
    try:
        kind = store_kind(conn, str(path))
        if kind == "hub":
            raise OperationalError(f"{path}: a hub store, not an agent database")
    except BaseException:
        conn.close()
        raise
    return conn


def check_agent_id(agent_id: str) -> str:
    """The agent id if the sync contract allows it (1-64 letters, digits, '-' or '_')."""
    try:
        Message(agent_id=agent_id)
    except ValidationError:
        raise OperationalError(
            f"agent id {agent_id!r} is not 1-64 letters, digits, '-' or '_'"
        ) from None
    return agent_id


def table_totals(conn: sqlite3.Connection, where: str) -> dict[str, tuple[int, int]]:
    """Per synced table present: (newest id, rows up to it). A table whose columns differ
    from the contract is an ``OperationalError``: its values would land in wrong columns."""
    present = {
        row[0] for row in _read(conn, "SELECT name FROM sqlite_master WHERE type='table'", (),
                                where)
    }
    totals: dict[str, tuple[int, int]] = {}
    for name, table in TABLES.items():
        if name not in present:
            continue
        info = _read(conn, f'PRAGMA table_info("{name}")', (), where)
        problem = schema_problem(table, info)
        if problem is not None:
            raise OperationalError(
                f"{where}: table {problem}: open it once with this version's agent so its "
                "migrations run"
            )
        ((last_id, rows),) = _read(
            conn, f'SELECT coalesce(max(id), 0), count(*) FROM "{name}"', (), where
        )
        totals[name] = (int(last_id), int(rows))
    return totals


def _read(
    conn: sqlite3.Connection, sql: str, args: tuple[Any, ...], where: str
) -> list[tuple[Any, ...]]:
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.DatabaseError as exc:
        raise OperationalError(f"{where}: cannot read the agent database ({exc})") from None


def import_tables(
    store: HubStore, conn: sqlite3.Connection, agent_id: str, totals: dict[str, tuple[int, int]],
    *, chunk_rows: int = CHUNK_ROWS, progress: Progress | None = None, where: str = "agent db",
    epoch: str | None = None,
) -> list[TableImport]:
    """Copy every synced table's rows up to its newest id into ``store`` under ``agent_id``
    and the database's ``epoch`` (None: a database from before epochs, ``legacy``).

    Every row is checked against the contract's column types first, as the sync's are:
    a wrong value is an ``OperationalError`` naming the table, the row's id and column.
    """
    check_agent_id(agent_id)
    results: list[TableImport] = []
    grand_total = sum(rows for _, rows in totals.values())
    done = 0
    if progress is not None:
        progress("", 0, grand_total)
    for name, table in TABLES.items():
        if name not in totals:
            results.append(TableImport(name, 0, 0, present=False))
            continue
        last_id = totals[name][0]
        select = (
            f'SELECT {", ".join(table.columns)} FROM "{name}" WHERE id > ? AND id <= ? '
            "ORDER BY id LIMIT ?"
        )
        read = added = conflicts = 0
        after = 0
        while True:
            rows = [list(row) for row in _read(conn, select, (after, last_id, chunk_rows), where)]
            if not rows:
                break
            for row in rows:
                wrong = table.row_problem(row)
                if wrong is not None:
                    raise OperationalError(
                        f"{where}: {name} row id {row[0]}: column {wrong[0]} {wrong[1]}; "
                        "nothing of this chunk was imported"
                    )
            now_ns = time.time_ns()
            versioned: dict[str, Any] = (
                {"epoch": epoch, "table_last_id": last_id} if epoch is not None
                else {"schema_version": 1}
            )
            header = BatchHeader(
                agent_id=agent_id, table=name, columns=table.columns, first_id=rows[0][0],
                last_id=rows[-1][0], rows=len(rows), created_ns=now_ns, sent_ns=now_ns,
                **versioned,
            )
            committed = store.commit_batches([ValidBatch(header, rows, 0, now_ns)])[0]
            added += committed.rows_new
            conflicts += len(committed.conflicts)
            read += len(rows)
            done += len(rows)
            after = rows[-1][0]
            if progress is not None:
                progress(name, done, grand_total)
        results.append(TableImport(name, read, added, conflicts=conflicts))
    return results


def agent_markets(markets_dir: Path) -> list[tuple[Path, str, int, int]]:
    """(file, exchange, fetched_at_ms, markets) of every cache file in an agent's folder;
    an unreadable one is an ``OperationalError`` naming it."""
    found = []
    for path in sorted(markets_dir.glob("*.json")):
        if path.name.startswith("."):
            continue  # a cache write in progress (write_cache's temporary file)
        cached = read_cache(path, path.stem)
        if cached is not None:
            found.append((path, path.stem, cached[0], len(cached[1])))
    return found


def copy_markets(
    files: list[tuple[Path, str, int, int]], hub_dir: Path
) -> list[MarketsCopy]:
    """Copy each agent cache file into ``hub_dir`` unless the hub's copy is as new."""
    copies = []
    for path, exchange, fetched_at_ms, count in files:
        target = hub_dir / path.name
        try:
            have = read_cache(target, exchange)
        except OperationalError:
            have = None  # the hub's copy is unreadable: the agent's replaces it
        if have is not None and have[0] >= fetched_at_ms:
            copies.append(MarketsCopy(exchange, count, fetched_at_ms, copied=False))
            continue
        hub_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=hub_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(path.read_bytes())
            os.replace(tmp, target)  # a backtest reading the cache never sees half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        copies.append(MarketsCopy(exchange, count, fetched_at_ms, copied=True))
    return copies
