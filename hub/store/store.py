"""The hub store: one writer, many readers, rows stored exactly once.

``HubStore`` owns the single write connection (a lock keeps it to one writer even if
two threads call it; the ingest service only ever writes from its writer thread).
Every read opens its own short-lived connection, so readers never wait on the
writer's transaction and see only committed data (WAL).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hub.store.db import STORE_FILE, connect, open_store
from hub.store.records import AgentRecord, CommandRecord, DeadLetter, ValidBatch
from shared.errors import MessageError
from shared.sync.digest import rows_digest
from shared.sync.messages import AgentStatus, Command, CommandResult
from shared.sync.tables import TABLES

DEAD_LETTER_KEEP_BYTES = 64 * 1024
"""A dead letter keeps the first 64 KiB of its payload: enough to diagnose, bounded."""


def _insert_sql(table: str) -> str:
    columns = TABLES[table].data_columns
    marks = ", ".join("?" * (len(columns) + 2))
    return (
        f"INSERT OR IGNORE INTO {table} (agent_id, local_id, {', '.join(columns)}) "
        f"VALUES ({marks})"
    )


_INSERTS = {name: _insert_sql(name) for name in TABLES}


class HubStore:
    """The hub's SQLite store at ``path`` (created and migrated on open).

    ``readonly``: a reader beside a running hub (the demo watching it): the store must
    exist already, nothing is migrated and every write is refused.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._conn = connect(self.path, readonly=True) if readonly else open_store(self.path)
        self._lock = threading.Lock()

    @classmethod
    def in_dir(cls, data_dir: Path | str) -> HubStore:
        """The store in a hub's ``data_dir`` (``<data_dir>/hub.db``)."""
        return cls(Path(data_dir) / STORE_FILE)

    def close(self) -> None:
        """Close the write connection; reads still work (they open their own)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> HubStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.path, readonly=True)
        try:
            yield conn
        finally:
            conn.close()

    # --- writes -----------------------------------------------------------------------

    def commit_batches(self, batches: Sequence[ValidBatch]) -> list[int]:
        """Store every batch in ONE durable transaction; the new rows of each, in order.

        ``INSERT OR IGNORE`` on (agent, local id): rows are immutable at the edge, so a
        row the hub already has is the same row sent again and is skipped. Each batch is
        also logged in ``ingest_batches`` and its agent's ``last_seen_ns`` moves on.
        """
        if not batches:
            return []
        rows_new: list[int] = []
        with self._write() as conn:
            for batch in batches:
                agent = batch.agent_id
                cursor = conn.executemany(
                    _INSERTS[batch.table], [(agent, *row) for row in batch.rows]
                )
                rows_new.append(max(cursor.rowcount, 0))
            # Stamped just before COMMIT: the fsync that follows is part of the next
            # batch's wait, not this one's, and no row is visible before this instant.
            committed_ns = time.time_ns()
            conn.executemany(
                "INSERT INTO ingest_batches (agent_id, table_name, first_id, last_id, rows, "
                "rows_new, attempt, payload_bytes, sent_ns, received_ns, committed_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (b.agent_id, b.table, b.header.first_id, b.header.last_id, len(b.rows), new,
                     b.header.attempt, b.payload_bytes, b.header.sent_ns, b.received_ns,
                     committed_ns)
                    for b, new in zip(batches, rows_new, strict=True)
                ],
            )
            seen: dict[str, int] = {}
            for batch in batches:
                seen[batch.agent_id] = max(seen.get(batch.agent_id, 0), batch.received_ns)
            for agent, received_ns in seen.items():
                self._touch(conn, agent, received_ns)
        return rows_new

    def add_dead_letter(
        self, *, agent_id: str | None, topic: str, reason: str, payload: bytes,
        received_ns: int,
    ) -> int:
        """Keep a refused message (its first 64 KiB) with the reason; its id."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO dead_letters (agent_id, topic, reason, payload, payload_bytes, "
                "received_ns) VALUES (?, ?, ?, ?, ?, ?)",
                (agent_id, topic, reason, bytes(payload[:DEAD_LETTER_KEEP_BYTES]),
                 len(payload), received_ns),
            )
            if agent_id is not None:
                self._touch(conn, agent_id, received_ns)
            return int(cursor.lastrowid or 0)

    def record_status(self, status: AgentStatus, *, received_ns: int, retained: bool) -> None:
        """Keep an agent's latest status (arrival order: the broker delivers them in order).

        Arrival order rather than ``ts_ns`` because a last will is built when the agent
        connects, so its ``ts_ns`` is older than the online statuses it follows. A
        retained status replayed by the broker says nothing about *now*, so it moves
        ``last_seen_ns`` only to the status's own time.
        """
        seen_ns = status.ts_ns if retained else received_ns
        with self._write() as conn:
            self._touch(conn, status.agent_id, seen_ns, first_seen_ns=received_ns)
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

    def record_command(self, command: Command) -> None:
        """Log a command the hub is about to send."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO commands (command_id, agent_id, kind, args_json, issued_ns) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (command_id) DO UPDATE SET "
                "kind = excluded.kind, args_json = excluded.args_json, "
                "issued_ns = excluded.issued_ns",
                (command.command_id, command.agent_id, command.kind, json.dumps(command.args),
                 command.issued_ns),
            )

    def record_command_result(self, result: CommandResult, *, received_ns: int) -> None:
        """Log an agent's answer (idempotent: the ingest and the CLI may both record it)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO commands (command_id, agent_id, kind, outcome, detail, "
                "answered_ns) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (command_id) DO UPDATE "
                "SET outcome = excluded.outcome, detail = excluded.detail, "
                "answered_ns = excluded.answered_ns WHERE commands.agent_id = excluded.agent_id",
                (result.command_id or f"(none)-{received_ns}", result.agent_id, result.kind,
                 result.outcome, result.detail, result.ts_ns),
            )
            self._touch(conn, result.agent_id, received_ns)

    @staticmethod
    def _touch(
        conn: sqlite3.Connection, agent_id: str, seen_ns: int, *, first_seen_ns: int | None = None
    ) -> None:
        conn.execute(
            "INSERT INTO agents (agent_id, first_seen_ns, last_seen_ns) VALUES (?, ?, ?) "
            "ON CONFLICT (agent_id) DO UPDATE SET last_seen_ns = "
            "max(coalesce(agents.last_seen_ns, 0), excluded.last_seen_ns)",
            (agent_id, first_seen_ns if first_seen_ns is not None else seen_ns, seen_ns),
        )

    # --- reads ------------------------------------------------------------------------

    def agents(self) -> list[AgentRecord]:
        """Every agent the hub has heard from, by id."""
        with self._read() as conn:
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

    def agent(self, agent_id: str) -> AgentRecord | None:
        """One agent as the hub knows it (``None``: never heard from)."""
        return next((a for a in self.agents() if a.agent_id == agent_id), None)

    def row_counts(self, agent_id: str) -> dict[str, int]:
        """Rows stored per synced table for ``agent_id`` (0: none yet)."""
        with self._read() as conn:
            return {
                name: int(conn.execute(
                    f"SELECT count(*) FROM {name} WHERE agent_id = ?", (agent_id,)
                ).fetchone()[0])
                for name in TABLES
            }

    def max_local_ids(self, agent_id: str) -> dict[str, int]:
        """The newest local id stored per synced table for ``agent_id`` (0: none yet)."""
        with self._read() as conn:
            return {
                name: conn.execute(
                    f"SELECT coalesce(max(local_id), 0) FROM {name} WHERE agent_id = ?",
                    (agent_id,),
                ).fetchone()[0]
                for name in TABLES
            }

    def count(self, table: str, agent_id: str | None = None) -> int:
        """Rows stored in a synced table, for one agent or all of them."""
        _check_table(table)
        where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())
        with self._read() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table} {where}", args).fetchone()[0])

    def table_digest(self, table: str, agent_id: str) -> tuple[int, str]:
        """(rows, sha256) of an agent's rows of ``table``; see :mod:`shared.sync.digest`."""
        _check_table(table)
        columns = ", ".join(TABLES[table].data_columns)
        with self._read() as conn:
            cursor = conn.execute(
                f"SELECT local_id, {columns} FROM {table} WHERE agent_id = ? ORDER BY local_id",
                (agent_id,),
            )
            return rows_digest(cursor)

    def dead_letters(self, *, limit: int = 50, agent_id: str | None = None) -> list[DeadLetter]:
        """The newest dead letters first."""
        where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, agent_id, topic, reason, payload, payload_bytes, received_ns "
                f"FROM dead_letters {where} ORDER BY id DESC LIMIT ?", (*args, limit),
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    def dead_letter_counts(self) -> dict[str | None, int]:
        """Dead letters per agent (``None``: messages on a topic naming no valid agent)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT agent_id, count(*) FROM dead_letters GROUP BY agent_id"
            ).fetchall()
        return {agent: int(n) for agent, n in rows}

    def command(self, command_id: str) -> CommandRecord | None:
        """One command and its outcome, if answered."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT command_id, agent_id, kind, args_json, issued_ns, outcome, detail, "
                "answered_ns FROM commands WHERE command_id = ?", (command_id,),
            ).fetchone()
        if row is None:
            return None
        return CommandRecord(row[0], row[1], row[2], json.loads(row[3]), *row[4:])


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"unknown synced table {table!r} (known: {', '.join(TABLES)})")
