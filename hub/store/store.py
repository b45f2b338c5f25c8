"""The hub store: one writer, many readers, rows stored exactly once.

Rows are keyed on (agent, epoch, local id): the epoch names the agent database they
come from, so a database that starts its ids again is a new series. A row that comes
again is compared by content: the same row is skipped, another row under the same key
is a *conflict*, kept in ``row_conflicts`` beside the first and never taken as stored.

``HubStore`` owns the single write connection (a lock keeps it to one writer even if
two threads call it; the ingest service only ever writes from its writer thread).
Every read opens its own short-lived connection, so readers never wait on the
writer's transaction and see only committed data (WAL).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from hub.store import dead_letters as refused
from hub.store.db import STORE_FILE, connect, open_store
from hub.store.records import (
    AgentRecord,
    CommandRecord,
    Committed,
    ConflictRecord,
    DeadLetter,
    EpochRecord,
    IngestCounts,
    Refusal,
    ValidBatch,
)
from shared.errors import MessageError
from shared.sync.digest import rows_digest
from shared.sync.messages import AgentStatus, Command, CommandResult
from shared.sync.tables import LEGACY_EPOCH, TABLES

DEAD_LETTER_KEEP_BYTES = refused.KEEP_BYTES
"""A dead letter keeps the first 64 KiB of its payload: enough to diagnose, bounded."""


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
_CONFLICT_INSERT = (
    "INSERT OR IGNORE INTO row_conflicts (agent_id, epoch, table_name, local_id, row_json, "
    "row_digest, stored_digest, batch_first_id, batch_last_id, attempt, sent_ns, received_ns) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _line(row: Sequence[Any]) -> bytes:
    """A row as the digest serializes it (:mod:`shared.sync.digest`): what "the same
    content" means."""
    return orjson.dumps(list(row))


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


class HubStore:
    """The hub's SQLite store at ``path`` (created and migrated on open).

    ``readonly``: a reader beside a running hub (the demo watching it): the store must
    exist already, nothing is migrated and every write is refused.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        # A read-only store opens as a snapshot: `hub agents` beside no running hub
        # creates nothing beside the file (shared.dbfiles.open_readonly).
        self._conn = (
            connect(self.path, readonly=True, snapshot=True) if readonly
            else open_store(self.path)
        )
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
        # Each read opens and closes its own connection, so a snapshot is safe here.
        conn = connect(self.path, readonly=True, snapshot=True)
        try:
            yield conn
        finally:
            conn.close()

    # --- writes -----------------------------------------------------------------------

    def commit_batches(self, batches: Sequence[ValidBatch]) -> list[Committed]:
        """Store every batch in ONE durable transaction; what became of each, in order.

        Keyed on (agent, epoch, local id) and compared by content: a row the hub already
        has with the same content is the same row sent again and is skipped; a row with
        other content under that key is a conflict — the stored row stays, the batch's
        version goes to ``row_conflicts`` with the batch it came in (once, however often
        it is sent). A row of a new epoch identical to the agent's ``legacy`` row of the
        same id is that row, synced before its database had an epoch: skipped, so the
        series is not counted twice. Each batch is logged in ``ingest_batches``, its
        epoch in ``agent_epochs``, and its agent's ``last_seen_ns`` moves on.
        """
        if not batches:
            return []
        results: list[Committed] = []
        with self._write() as conn:
            for batch in batches:
                results.append(self._commit_one(conn, batch))
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
                self._touch(conn, agent, received_ns)
        return results

    def _commit_one(self, conn: sqlite3.Connection, batch: ValidBatch) -> Committed:
        agent, epoch, table = batch.agent_id, batch.epoch, batch.table
        earlier = self._touch_epoch(conn, agent, epoch, batch.received_ns)
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
            h = batch.header
            conn.executemany(_CONFLICT_INSERT, [
                (agent, epoch, table, row[0], line.decode(), _digest(line), _digest(have),
                 h.first_id, h.last_id, h.attempt, h.sent_ns, batch.received_ns)
                for row, line, have in conflicts
            ])
        return Committed(
            len(fresh), tuple(row[0] for row, _, _ in conflicts), earlier is not None,
            earlier or (),
        )

    @staticmethod
    def _touch_epoch(
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

    def keep_refusals(
        self, letters: Sequence[Refusal], counts: Mapping[str | None, IngestCounts], *,
        now_ns: int,
    ) -> None:
        """In one transaction: keep ``letters`` as dead letters (each agent's last seen
        moves on) and add ``counts`` to the agents' refusal and rate-limit totals."""
        if not letters and not counts:
            return
        with self._write() as conn:
            refused.insert_refusals(conn, letters)
            seen: dict[str, int] = {}
            for letter in letters:
                if letter.agent_id is not None:
                    seen[letter.agent_id] = max(seen.get(letter.agent_id, 0), letter.received_ns)
            for agent, received_ns in seen.items():
                self._touch(conn, agent, received_ns)
            refused.add_counts(conn, counts, now_ns)

    def prune_dead_letters(self, *, before_ns: int, max_bytes: int) -> int:
        """Retention: delete dead letters older than ``before_ns``, then the oldest until
        their payloads total at most ``max_bytes``; how many went."""
        with self._write() as conn:
            return refused.prune(conn, before_ns=before_ns, max_bytes=max_bytes)

    def record_status(
        self, status: AgentStatus, *, received_ns: int, retained: bool
    ) -> tuple[str, ...] | None:
        """Keep an agent's latest status (arrival order: the broker delivers them in order).
        When it names an epoch the hub had not seen for that agent: the agent's earlier
        epochs (``()`` for its first); else None.

        Arrival order rather than ``ts_ns`` because a last will is built when the agent
        connects, so its ``ts_ns`` is older than the online statuses it follows. A
        retained status replayed by the broker says nothing about *now*, so it moves
        ``last_seen_ns`` only to the status's own time.
        """
        seen_ns = status.ts_ns if retained else received_ns
        epoch = status.epoch or (LEGACY_EPOCH if status.schema_version == 1 else None)
        earlier = None
        with self._write() as conn:
            self._touch(conn, status.agent_id, seen_ns, first_seen_ns=received_ns)
            if epoch is not None:
                earlier = self._touch_epoch(conn, status.agent_id, epoch, seen_ns)
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

    def stored_status(self, agent_id: str) -> AgentStatus | None:
        """The agent's last status as stored, read on the writer's own connection (the
        ingest's writer thread opens no other)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT status_json FROM agents WHERE agent_id = ?", (agent_id,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        try:
            return AgentStatus.from_bytes(row[0].encode(), where=agent_id)
        except MessageError:
            return None  # written by an older contract

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

    def row_counts(self, agent_id: str, epoch: str | None = None) -> dict[str, int]:
        """Rows stored per synced table for ``agent_id`` (every epoch unless ``epoch``)."""
        where, args = _agent_scope(agent_id, epoch)
        with self._read() as conn:
            return {
                name: int(conn.execute(
                    f"SELECT count(*) FROM {name} WHERE {where}", args
                ).fetchone()[0])
                for name in TABLES
            }

    def max_local_ids(self, agent_id: str, epoch: str | None = None) -> dict[str, int]:
        """The newest local id stored per synced table for ``agent_id`` (0: none yet), in
        ``epoch`` (ids of two epochs are two databases' and do not compare; None: all)."""
        where, args = _agent_scope(agent_id, epoch)
        with self._read() as conn:
            return {
                name: conn.execute(
                    f"SELECT coalesce(max(local_id), 0) FROM {name} WHERE {where}", args
                ).fetchone()[0]
                for name in TABLES
            }

    def count(self, table: str, agent_id: str | None = None, epoch: str | None = None) -> int:
        """Rows stored in a synced table, for one agent (one epoch) or all of them."""
        _check_table(table)
        where, args = _agent_scope(agent_id, epoch) if agent_id is not None else ("1", ())
        with self._read() as conn:
            return int(
                conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args).fetchone()[0]
            )

    def table_digest(
        self, table: str, agent_id: str, epoch: str | None = None
    ) -> tuple[int, str]:
        """(rows, sha256) of an agent's rows of ``table``; see :mod:`shared.sync.digest`.

        ``epoch``: one database's rows, comparable with that database's digest. None:
        every epoch's, oldest epoch first (a database synced before epochs has its first
        rows under ``legacy``, the rest under its epoch: together, its digest).
        """
        _check_table(table)
        columns = ", ".join(f"t.{c}" for c in TABLES[table].data_columns)
        where, args = _agent_scope(agent_id, epoch, prefix="t.")
        with self._read() as conn:
            cursor = conn.execute(
                f"SELECT t.local_id, {columns} FROM {table} t LEFT JOIN agent_epochs e "
                "ON e.agent_id = t.agent_id AND e.epoch = t.epoch "
                f"WHERE {where} ORDER BY e.first_seen_ns, t.epoch, t.local_id",
                args,
            )
            return rows_digest(cursor)

    def epochs(self, agent_id: str | None = None) -> list[EpochRecord]:
        """Every agent's database series (one agent's with ``agent_id``), oldest first."""
        where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(
                "SELECT agent_id, epoch, first_seen_ns, last_seen_ns FROM agent_epochs "
                f"{where} ORDER BY agent_id, first_seen_ns, epoch", args,
            ).fetchall()
        return [EpochRecord(*row) for row in rows]

    def conflicts(self, *, limit: int = 50, agent_id: str | None = None) -> list[ConflictRecord]:
        """The newest conflicting rows first (the versions the hub did not take as stored)."""
        where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())
        with self._read() as conn:
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

    def conflict_counts(self) -> dict[str, int]:
        """Conflicting rows kept per agent."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT agent_id, count(*) FROM row_conflicts GROUP BY agent_id"
            ).fetchall()
        return {agent: int(n) for agent, n in rows}

    def dead_letters(self, *, limit: int = 50, agent_id: str | None = None) -> list[DeadLetter]:
        """The newest dead letters first."""
        where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id is not None else ("", ())
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, agent_id, topic, reason, payload, payload_bytes, received_ns "
                f"FROM dead_letters {where} ORDER BY id DESC LIMIT ?", (*args, limit),
            ).fetchall()
        return [DeadLetter(*row) for row in rows]

    def ingest_counts(self) -> dict[str | None, IngestCounts]:
        """Per agent (``None``: topics naming no valid agent), what the ingest refused,
        dropped over the dead-letter budget and dropped over the rate limit, in all."""
        with self._read() as conn:
            return refused.read_counts(conn)

    def retained_refused(self, digest: str) -> bool:
        """Whether a retained message with this digest was refused and kept already."""
        with self._read() as conn:
            return refused.retained_seen(conn, digest)

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


def _agent_scope(
    agent_id: str, epoch: str | None, *, prefix: str = ""
) -> tuple[str, tuple[str, ...]]:
    if epoch is None:
        return f"{prefix}agent_id = ?", (agent_id,)
    return f"{prefix}agent_id = ? AND {prefix}epoch = ?", (agent_id, epoch)


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"unknown synced table {table!r} (known: {', '.join(TABLES)})")
