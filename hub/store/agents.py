"""The agents the hub has heard from: when it last did, and their latest status.

Functions on a connection, run by :class:`hub.store.store.HubStore` inside its own
write transaction or read connection.
"""

from __future__ import annotations

import contextlib
import sqlite3

from hub.store.epochs import touch_epoch
from hub.store.records import AgentRecord
from shared.errors import MessageError
from shared.sync.messages import AgentStatus
from shared.sync.tables import LEGACY_EPOCH


def touch(
    conn: sqlite3.Connection, agent_id: str, seen_ns: int, *, first_seen_ns: int | None = None
) -> None:
    """The agent heard from at ``seen_ns`` (its row added the first time)."""
    conn.execute(
        "INSERT INTO agents (agent_id, first_seen_ns, last_seen_ns) VALUES (?, ?, ?) "
        "ON CONFLICT (agent_id) DO UPDATE SET last_seen_ns = "
        "max(coalesce(agents.last_seen_ns, 0), excluded.last_seen_ns)",
        (agent_id, first_seen_ns if first_seen_ns is not None else seen_ns, seen_ns),
    )


def keep_status(
    conn: sqlite3.Connection, status: AgentStatus, *, received_ns: int, retained: bool
) -> tuple[str, ...] | None:
    """Keep an agent's latest status; the agent's earlier epochs when it names one new
    (see :meth:`hub.store.store.HubStore.record_status`)."""
    seen_ns = status.ts_ns if retained else received_ns
    epoch = status.epoch or (LEGACY_EPOCH if status.schema_version == 1 else None)
    earlier = None
    touch(conn, status.agent_id, seen_ns, first_seen_ns=received_ns)
    if epoch is not None:
        earlier = touch_epoch(conn, status.agent_id, epoch, seen_ns)
    kept = status
    if status.state == "offline":
        # A last will carries only the state: keep the last full picture (backlog,
        # books, versions) an operator wants to see for an agent that went away.
        row = conn.execute(
            "SELECT status_json FROM agents WHERE agent_id = ?", (status.agent_id,)
        ).fetchone()
        if row is not None and row[0]:
            with contextlib.suppress(MessageError):
                previous = AgentStatus.from_bytes(row[0].encode(), where="stored status")
                kept = previous.model_copy(update={"state": "offline"})
    conn.execute(
        "UPDATE agents SET state = ?, status_json = ?, status_ts_ns = ?, "
        "status_received_ns = ? WHERE agent_id = ?",
        (status.state, kept.to_bytes().decode(), status.ts_ns, received_ns,
         status.agent_id),
    )
    return earlier


def read_status(conn: sqlite3.Connection, agent_id: str) -> AgentStatus | None:
    """The agent's last status as stored (None: none, or one of an older contract)."""
    row = conn.execute(
        "SELECT status_json FROM agents WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    try:
        return AgentStatus.from_bytes(row[0].encode(), where=agent_id)
    except MessageError:
        return None  # written by an older contract


def read_agents(conn: sqlite3.Connection) -> list[AgentRecord]:
    """Every agent the hub has heard from, by id."""
    rows = conn.execute(
        "SELECT agent_id, state, first_seen_ns, last_seen_ns, status_json, "
        "status_received_ns FROM agents ORDER BY agent_id"
    ).fetchall()
    records = []
    for agent_id, state, first_ns, last_ns, status_json, status_received_ns in rows:
        status = None
        if status_json is not None:
            try:
                status = AgentStatus.from_bytes(status_json.encode(), where=agent_id)
            except MessageError:
                status = None  # written by an older contract; the state column remains
        records.append(
            AgentRecord(agent_id, state, first_ns, last_ns, status, status_received_ns)
        )
    return records
