"""The dead-letter tables' SQL: keeping refusals with their counters, retention, reads.

Functions on a connection, so :class:`hub.store.store.HubStore` runs them inside its own
write transaction (one per ingest group, with the group's counters) or read connection.
``ingest_counts`` keys a topic naming no valid agent as ``''``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from hub.store.records import INGEST_COUNT_FIELDS, DeadLetter, IngestCounts, Refusal

KEEP_BYTES = 64 * 1024
"""A dead letter keeps the first 64 KiB of its payload: enough to diagnose, bounded."""

_ADD_COUNTS = (
    f"INSERT INTO ingest_counts (agent_id, {', '.join(INGEST_COUNT_FIELDS)}, updated_ns) "
    f"VALUES (?, {', '.join('?' * len(INGEST_COUNT_FIELDS))}, ?) "
    "ON CONFLICT (agent_id) DO UPDATE SET "
    + ", ".join(f"{f} = {f} + excluded.{f}" for f in INGEST_COUNT_FIELDS)
    + ", updated_ns = excluded.updated_ns"
)


def insert_letter(
    conn: sqlite3.Connection, *, agent_id: str | None, topic: str, reason: str,
    payload: bytes, received_ns: int,
) -> int:
    """Keep one refused message (its first 64 KiB) with the reason; its id."""
    cursor = conn.execute(
        "INSERT INTO dead_letters (agent_id, topic, reason, payload, payload_bytes, "
        "received_ns) VALUES (?, ?, ?, ?, ?, ?)",
        (agent_id, topic, reason, bytes(payload[:KEEP_BYTES]),
         len(payload), received_ns),
    )
    return int(cursor.lastrowid or 0)


def insert_refusals(conn: sqlite3.Connection, letters: Sequence[Refusal]) -> None:
    """Insert each refusal as a dead letter, and the digests of retained ones."""
    conn.executemany(
        "INSERT INTO dead_letters (agent_id, topic, reason, payload, payload_bytes, "
        "received_ns) VALUES (?, ?, ?, ?, ?, ?)",
        [(r.agent_id, r.topic, r.reason, bytes(r.payload[:KEEP_BYTES]), len(r.payload),
          r.received_ns) for r in letters],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO retained_refusals (digest, topic, received_ns) VALUES (?, ?, ?)",
        [(r.retained_digest, r.topic, r.received_ns) for r in letters if r.retained_digest],
    )


def add_counts(
    conn: sqlite3.Connection, counts: Mapping[str | None, IngestCounts], now_ns: int
) -> None:
    """Add ``counts`` (deltas) to each agent's totals."""
    conn.executemany(
        _ADD_COUNTS,
        [("" if agent is None else agent, *c.to_dict().values(), now_ns)
         for agent, c in counts.items()],
    )


def read_counts(conn: sqlite3.Connection) -> dict[str | None, IngestCounts]:
    """Every agent's totals; empty for a store from before they were kept."""
    try:
        rows = conn.execute(
            f"SELECT agent_id, {', '.join(INGEST_COUNT_FIELDS)} FROM ingest_counts"
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # read-only, before `hub run` migrated it
            return {}
        raise
    return {(agent or None): IngestCounts(*values) for agent, *values in rows}


def retained_seen(conn: sqlite3.Connection, digest: str) -> bool:
    """Whether a retained message with this digest was refused and kept before."""
    return conn.execute(
        "SELECT 1 FROM retained_refusals WHERE digest = ?", (digest,)
    ).fetchone() is not None


def prune(conn: sqlite3.Connection, *, before_ns: int, max_bytes: int) -> int:
    """Delete dead letters received before ``before_ns``, then the oldest until their
    payloads total at most ``max_bytes``; the number deleted."""
    deleted = conn.execute("DELETE FROM dead_letters WHERE received_ns < ?", (before_ns,)).rowcount
    conn.execute("DELETE FROM retained_refusals WHERE received_ns < ?", (before_ns,))
    row = conn.execute(
        "SELECT id FROM (SELECT id, sum(length(payload)) OVER (ORDER BY id DESC) AS total "
        "FROM dead_letters) WHERE total > ? ORDER BY id DESC LIMIT 1", (max_bytes,),
    ).fetchone()
    if row is not None:
        deleted += conn.execute("DELETE FROM dead_letters WHERE id <= ?", (row[0],)).rowcount
    return max(deleted, 0)


def read_letters(
    conn: sqlite3.Connection, *, limit: int, agent_id: str | None
) -> list[DeadLetter]:
    """The newest dead letters first."""
    where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())
    rows = conn.execute(
        "SELECT id, agent_id, topic, reason, payload, payload_bytes, received_ns "
        f"FROM dead_letters {where} ORDER BY id DESC LIMIT ?", (*args, limit),
    ).fetchall()
    return [DeadLetter(*row) for row in rows]


def letter_counts(conn: sqlite3.Connection) -> dict[str | None, int]:
    """Dead letters per agent (``None``: messages on a topic naming no valid agent)."""
    rows = conn.execute(
        "SELECT agent_id, count(*) FROM dead_letters GROUP BY agent_id"
    ).fetchall()
    return {agent: int(n) for agent, n in rows}
