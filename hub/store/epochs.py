"""Each agent's database series (its epochs): recorded as they are seen, read back.

Functions on a connection, run by :class:`hub.store.store.HubStore` inside its own
write transaction or read connection.
"""

from __future__ import annotations

import sqlite3

from hub.store.records import EpochRecord


def touch_epoch(
    conn: sqlite3.Connection, agent_id: str, epoch: str, seen_ns: int
) -> tuple[str, ...] | None:
    """Record that ``epoch`` of ``agent_id`` was seen. When it is new: the agent's
    epochs before it, oldest first (``()`` for its first); else None."""
    added = conn.execute(
        "INSERT OR IGNORE INTO agent_epochs (agent_id, epoch, first_seen_ns, last_seen_ns) "
        "VALUES (?, ?, ?, ?)", (agent_id, epoch, seen_ns, seen_ns),
    ).rowcount
    if not added:
        conn.execute(
            "UPDATE agent_epochs SET last_seen_ns = max(last_seen_ns, ?) "
            "WHERE agent_id = ? AND epoch = ?", (seen_ns, agent_id, epoch),
        )
        return None
    return tuple(row[0] for row in conn.execute(
        "SELECT epoch FROM agent_epochs WHERE agent_id = ? AND epoch != ? "
        "ORDER BY first_seen_ns, epoch", (agent_id, epoch),
    ))


def read_epochs(conn: sqlite3.Connection, agent_id: str | None) -> list[EpochRecord]:
    """Every agent's database series (one agent's with ``agent_id``), oldest first."""
    where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())
    rows = conn.execute(
        "SELECT agent_id, epoch, first_seen_ns, last_seen_ns FROM agent_epochs "
        f"{where} ORDER BY agent_id, first_seen_ns, epoch", args,
    ).fetchall()
    return [EpochRecord(*row) for row in rows]
