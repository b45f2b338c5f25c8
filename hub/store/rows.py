"""The synced rows in the hub store: each batch stored once per (agent, epoch, local
id), compared by content, and each agent's rows counted and digested.

Functions on a connection, run by :class:`hub.store.store.HubStore` inside its own
write transaction or read connection.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import orjson

from hub.store.agents import touch
from hub.store.conflicts import keep_conflicts
from hub.store.epochs import touch_epoch
from hub.store.records import Committed, ValidBatch
from shared.sync.digest import rows_digest
from shared.sync.tables import LEGACY_EPOCH, TABLES


def _insert_sql(table: str) -> str:
    columns = TABLES[table].data_columns
    marks = ", ".join("?" * (len(columns) + 3))
    return (
        f"INSERT INTO {table} (agent_id, epoch, local_id, {', '.join(columns)}) "
        f"VALUES ({marks})"
    )


def _range_sql(table: str) -> str:
    return (
        f"SELECT local_id, {', '.join(TABLES[table].data_columns)} FROM {table} "
        "WHERE agent_id = ? AND epoch = ? AND local_id BETWEEN ? AND ?"
    )


_INSERTS = {name: _insert_sql(name) for name in TABLES}
_RANGES = {name: _range_sql(name) for name in TABLES}


def _line(row: Sequence[Any]) -> bytes:
    """A row as the digest serializes it (:mod:`shared.sync.digest`): what "the same
    content" means."""
    return orjson.dumps(list(row))


def store_batches(conn: sqlite3.Connection, batches: Sequence[ValidBatch]) -> list[Committed]:
    """Store every batch (see :meth:`hub.store.store.HubStore.commit_batches`), log each
    in ``ingest_batches`` and move its agent's ``last_seen_ns`` on; what became of each."""
    results: list[Committed] = []
    for batch in batches:
        results.append(_commit_one(conn, batch))
    # Stamped just before COMMIT: the fsync that follows is part of the next
    # batch's wait, not this one's, and no row is visible before this instant.
    committed_ns = time.time_ns()
    conn.executemany(
        "INSERT INTO ingest_batches (agent_id, epoch, table_name, first_id, last_id, "
        "rows, rows_new, rows_conflict, attempt, payload_bytes, sent_ns, received_ns, "
        "committed_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (b.agent_id, b.epoch, b.table, b.header.first_id, b.header.last_id,
             len(b.rows), done.rows_new, len(done.conflicts), b.header.attempt,
             b.payload_bytes, b.header.sent_ns, b.received_ns, committed_ns)
            for b, done in zip(batches, results, strict=True)
        ],
    )
    seen: dict[str, int] = {}
    for batch in batches:
        seen[batch.agent_id] = max(seen.get(batch.agent_id, 0), batch.received_ns)
    for agent, received_ns in seen.items():
        touch(conn, agent, received_ns)
    return results


def _commit_one(conn: sqlite3.Connection, batch: ValidBatch) -> Committed:
    agent, epoch, table = batch.agent_id, batch.epoch, batch.table
    earlier = touch_epoch(conn, agent, epoch, batch.received_ns)
    span = (batch.header.first_id, batch.header.last_id)
    stored = {
        row[0]: _line(row) for row in conn.execute(_RANGES[table], (agent, epoch, *span))
    }
    legacy = {} if epoch == LEGACY_EPOCH else {
        row[0]: _line(row)
        for row in conn.execute(_RANGES[table], (agent, LEGACY_EPOCH, *span))
    }
    fresh: list[list[Any]] = []
    conflicts: list[tuple[list[Any], bytes, bytes]] = []
    for row in batch.rows:
        line = _line(row)
        have = stored.get(row[0])
        if have is None:
            if legacy.get(row[0]) != line:
                fresh.append(row)
        elif have != line:
            conflicts.append((row, line, have))
    if fresh:
        conn.executemany(_INSERTS[table], [(agent, epoch, *row) for row in fresh])
    if conflicts:
        keep_conflicts(conn, batch, conflicts)
    return Committed(
        len(fresh), tuple(row[0] for row, _, _ in conflicts), earlier is not None,
        earlier or (),
    )


def count_per_table(conn: sqlite3.Connection, agent_id: str, epoch: str | None) -> dict[str, int]:
    """Rows stored per synced table for ``agent_id`` (every epoch unless ``epoch``)."""
    where, args = _agent_scope(agent_id, epoch)
    return {
        name: int(conn.execute(
            f"SELECT count(*) FROM {name} WHERE {where}", args
        ).fetchone()[0])
        for name in TABLES
    }


def newest_local_ids(conn: sqlite3.Connection, agent_id: str, epoch: str | None) -> dict[str, int]:
    """The newest local id stored per synced table for ``agent_id`` (0: none yet)."""
    where, args = _agent_scope(agent_id, epoch)
    return {
        name: conn.execute(
            f"SELECT coalesce(max(local_id), 0) FROM {name} WHERE {where}", args
        ).fetchone()[0]
        for name in TABLES
    }


def count_rows(
    conn: sqlite3.Connection, table: str, agent_id: str | None, epoch: str | None
) -> int:
    """Rows stored in a synced table (checked: :func:`check_table`), for one agent
    (one epoch) or all of them."""
    where, args = _agent_scope(agent_id, epoch) if agent_id is not None else ("1", ())
    return int(conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()[0])


def digest_rows(
    conn: sqlite3.Connection, table: str, agent_id: str, epoch: str | None
) -> tuple[int, str]:
    """(rows, sha256) of an agent's rows of ``table`` (checked: :func:`check_table`),
    oldest epoch first; see :meth:`hub.store.store.HubStore.table_digest`."""
    columns = ", ".join(f"t.{c}" for c in TABLES[table].data_columns)
    where, args = _agent_scope(agent_id, epoch, prefix="t.")
    cursor = conn.execute(
        f"SELECT t.local_id, {columns} FROM {table} t LEFT JOIN agent_epochs e "
        "ON e.agent_id = t.agent_id AND e.epoch = t.epoch "
        f"WHERE {where} ORDER BY e.first_seen_ns, t.epoch, t.local_id",
        args,
    )
    return rows_digest(cursor)


def _agent_scope(
    agent_id: str, epoch: str | None, *, prefix: str = ""
) -> tuple[str, tuple[str, ...]]:
    if epoch is None:
        return f"{prefix}agent_id = ?", (agent_id,)
    return f"{prefix}agent_id = ? AND {prefix}epoch = ?", (agent_id, epoch)


def check_table(table: str) -> None:
    """``ValueError`` unless ``table`` is a synced table."""
    if table not in TABLES:
        raise ValueError(f"unknown synced table {table!r} (known: {', '.join(TABLES)})")
