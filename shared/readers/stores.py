"""Which store a connection reads (an agent database or the hub store), the agents it
holds, and the scope of a read in it (:mod:`shared.readers`)."""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from shared.errors import OperationalError
from shared.sync.tables import EPOCH_TABLE, TABLES

StoreKind = Literal["agent", "hub"]


def store_kind(conn: sqlite3.Connection, where: str = "store") -> StoreKind:
    """``agent`` or ``hub``, from the synced tables' key columns.

    ``OperationalError`` naming ``where`` for a file that is not SQLite or holds
    no synced table.
    """
    try:
        present = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        for name in TABLES:
            if name not in present:
                continue
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')]
            if columns[:3] == ["agent_id", "epoch", "local_id"] or columns[:2] == [
                "agent_id", "local_id"
            ]:
                return "hub"
            if columns[:1] == ["id"]:
                return "agent"
    except sqlite3.DatabaseError as exc:
        raise OperationalError(f"{where}: not a TickerML store ({exc})") from None
    raise OperationalError(
        f"{where}: not a TickerML store (none of the synced tables, such as trades or "
        "candles_1m, is in it)"
    )


def agent_epoch(conn: sqlite3.Connection) -> str | None:
    """An agent database's epoch (its ``store_epoch`` row), or None for a database from
    before epochs (never migrated by an agent of schema 2): its rows are the hub's
    ``legacy`` series."""
    try:
        row = conn.execute(f"SELECT epoch FROM {EPOCH_TABLE}").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else str(row[0])


def hub_agents(conn: sqlite3.Connection) -> list[str]:
    """The agents a hub store has heard from, by id ([] for an agent database)."""
    if store_kind(conn) == "agent":
        return []
    return [row[0] for row in conn.execute("SELECT agent_id FROM agents ORDER BY agent_id")]


def check_agent(
    conn: sqlite3.Connection, agent: str | None, *, where: str, own_agent: str | None = None
) -> str | None:
    """The ``agent`` to pass to the readers, after checking the store has it.

    On the hub store an unknown agent is an error naming the agents present. An
    agent database does not record whose it is: ``agent`` is checked against
    ``own_agent`` (the agent_id of its config) and an error without one; the
    readers then get ``None`` (nothing to filter).
    """
    if agent is None:
        return None
    if store_kind(conn, where) == "hub":
        present = hub_agents(conn)
        if agent not in present:
            raise OperationalError(
                f"{where}: no agent {agent!r} in this hub store (agents: "
                f"{', '.join(present) or 'none yet'})"
            )
        return agent
    if own_agent is None:
        raise OperationalError(
            f"{where}: an agent database, not the hub store; it holds one agent's rows and "
            f"does not record which agent's, so agent {agent!r} cannot be checked: drop "
            "--agent, or give the agent's config (-c edge.yaml) to check it against"
        )
    if agent != own_agent:
        raise OperationalError(
            f"{where}: the database of agent {own_agent!r}, not of {agent!r} "
            f"(agents present: {own_agent})"
        )
    return None


def agent_scope(
    conn: sqlite3.Connection, agent: str | None
) -> tuple[str, tuple[Any, ...], str]:
    """(extra WHERE clause, its arguments, tie-break ORDER BY) for ``agent``'s rows.

    On the hub store the tie-break is the row's key, and a read that may see several
    copies of a fact (several agents, or one agent's several databases) keeps one.
    """
    if store_kind(conn) == "agent":
        return "", (), "id"
    columns = [row[1] for row in conn.execute('PRAGMA table_info("trades")')]
    key = "agent_id, epoch, local_id" if "epoch" in columns else "agent_id, local_id"
    if agent is None:
        return "", (), key
    return " AND agent_id = ?", (agent,), key
