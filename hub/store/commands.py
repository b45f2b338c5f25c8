"""The log of the commands the hub sends and the agents' answers.

Functions on a connection, run by :class:`hub.store.store.HubStore` inside its own
write transaction or read connection.
"""

from __future__ import annotations

import json
import sqlite3

from hub.store.records import CommandRecord
from shared.sync.messages import Command, CommandResult


def log_command(conn: sqlite3.Connection, command: Command) -> None:
    """Log a command the hub is about to send."""
    conn.execute(
        "INSERT INTO commands (command_id, agent_id, kind, args_json, issued_ns) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (command_id) DO UPDATE SET "
        "kind = excluded.kind, args_json = excluded.args_json, "
        "issued_ns = excluded.issued_ns",
        (command.command_id, command.agent_id, command.kind, json.dumps(command.args),
         command.issued_ns),
    )


def log_result(conn: sqlite3.Connection, result: CommandResult, received_ns: int) -> None:
    """Log an agent's answer (idempotent: the ingest and the CLI may both record it)."""
    conn.execute(
        "INSERT INTO commands (command_id, agent_id, kind, outcome, detail, "
        "answered_ns) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (command_id) DO UPDATE "
        "SET outcome = excluded.outcome, detail = excluded.detail, "
        "answered_ns = excluded.answered_ns WHERE commands.agent_id = excluded.agent_id",
        (result.command_id or f"(none)-{received_ns}", result.agent_id, result.kind,
         result.outcome, result.detail, result.ts_ns),
    )


def read_command(conn: sqlite3.Connection, command_id: str) -> CommandRecord | None:
    """One command and its outcome, if answered."""
    row = conn.execute(
        "SELECT command_id, agent_id, kind, args_json, issued_ns, outcome, detail, "
        "answered_ns FROM commands WHERE command_id = ?", (command_id,),
    ).fetchone()
    if row is None:
        return None
    return CommandRecord(row[0], row[1], row[2], json.loads(row[3]), *row[4:])
