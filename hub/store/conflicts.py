"""Row conflicts: a row sent again under a stored key with other content, kept in
``row_conflicts`` beside the stored row and never taken as stored.

Functions on a connection, run by :class:`hub.store.store.HubStore` inside its own
write transaction or read connection.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import orjson

from hub.store.records import ConflictRecord, ValidBatch

_CONFLICT_INSERT = (
    "INSERT OR IGNORE INTO row_conflicts (agent_id, epoch, table_name, local_id, row_json, "
    "row_digest, stored_digest, batch_first_id, batch_last_id, attempt, sent_ns, received_ns) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def keep_conflicts(
    conn: sqlite3.Connection, batch: ValidBatch, conflicts: list[tuple[list[Any], bytes, bytes]]
) -> None:
    """Keep each ``(row, its line, the stored row's line)`` of ``batch`` with the batch
    it came in (once, however often it is sent)."""
    h = batch.header
    conn.executemany(_CONFLICT_INSERT, [
        (batch.agent_id, batch.epoch, batch.table, row[0], line.decode(), _digest(line),
         _digest(have), h.first_id, h.last_id, h.attempt, h.sent_ns, batch.received_ns)
        for row, line, have in conflicts
    ])


def read_conflicts(
    conn: sqlite3.Connection, *, limit: int, agent_id: str | None
) -> list[ConflictRecord]:
    """The newest conflicting rows first (the versions the hub did not take as stored)."""
    where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())
    rows = conn.execute(
        "SELECT id, agent_id, epoch, table_name, local_id, row_json, row_digest, "
        "stored_digest, batch_first_id, batch_last_id, attempt, received_ns "
        f"FROM row_conflicts {where} ORDER BY id DESC LIMIT ?", (*args, limit),
    ).fetchall()
    return [
        ConflictRecord(
            id=row[0], agent_id=row[1], epoch=row[2], table=row[3], local_id=row[4],
            row=orjson.loads(row[5]), row_digest=row[6], stored_digest=row[7],
            batch_first_id=row[8], batch_last_id=row[9], attempt=row[10],
            received_ns=row[11],
        )
        for row in rows
    ]


def count_conflicts(conn: sqlite3.Connection) -> dict[str, int]:
    """Conflicting rows kept per agent."""
    rows = conn.execute(
        "SELECT agent_id, count(*) FROM row_conflicts GROUP BY agent_id"
    ).fetchall()
    return {agent: int(n) for agent, n in rows}
