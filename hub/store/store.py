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

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from hub.store import dead_letters as refused
from hub.store.agents import keep_status, read_agents, read_status, touch
from hub.store.commands import log_command, log_result, read_command
from hub.store.conflicts import count_conflicts, read_conflicts
from hub.store.db import STORE_FILE, connect, open_store
from hub.store.epochs import read_epochs
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
from hub.store.rows import (
    check_table,
    count_per_table,
    count_rows,
    digest_rows,
    newest_local_ids,
    store_batches,
)
from shared.sync.messages import AgentStatus, Command, CommandResult


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
        with self._write() as conn:
            results = store_batches(conn, batches)
        return results

    def add_dead_letter(
        self, *, agent_id: str | None, topic: str, reason: str, payload: bytes,
        received_ns: int,
    ) -> int:
        """Keep a refused message (its first 64 KiB) with the reason; its id."""
        with self._write() as conn:
            letter_id = refused.insert_letter(
                conn, agent_id=agent_id, topic=topic, reason=reason, payload=payload,
                received_ns=received_ns,
            )
            if agent_id is not None:
                touch(conn, agent_id, received_ns)
            return letter_id

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
                touch(conn, agent, received_ns)
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
        with self._write() as conn:
            earlier = keep_status(
                conn, status, received_ns=received_ns, retained=retained
            )
        return earlier

    def stored_status(self, agent_id: str) -> AgentStatus | None:
        """The agent's last status as stored, read on the writer's own connection (the
        ingest's writer thread opens no other)."""
        with self._lock:
            return read_status(self._conn, agent_id)

    def record_command(self, command: Command) -> None:
        """Log a command the hub is about to send."""
        with self._write() as conn:
            log_command(conn, command)

    def record_command_result(self, result: CommandResult, *, received_ns: int) -> None:
        """Log an agent's answer (idempotent: the ingest and the CLI may both record it)."""
        with self._write() as conn:
            log_result(conn, result, received_ns)
            touch(conn, result.agent_id, received_ns)

    # --- reads ------------------------------------------------------------------------

    def agents(self) -> list[AgentRecord]:
        """Every agent the hub has heard from, by id."""
        with self._read() as conn:
            return read_agents(conn)

    def agent(self, agent_id: str) -> AgentRecord | None:
        """One agent as the hub knows it (``None``: never heard from)."""
        return next((a for a in self.agents() if a.agent_id == agent_id), None)

    def row_counts(self, agent_id: str, epoch: str | None = None) -> dict[str, int]:
        """Rows stored per synced table for ``agent_id`` (every epoch unless ``epoch``)."""
        with self._read() as conn:
            return count_per_table(conn, agent_id, epoch)

    def max_local_ids(self, agent_id: str, epoch: str | None = None) -> dict[str, int]:
        """The newest local id stored per synced table for ``agent_id`` (0: none yet), in
        ``epoch`` (ids of two epochs are two databases' and do not compare; None: all)."""
        with self._read() as conn:
            return newest_local_ids(conn, agent_id, epoch)

    def count(self, table: str, agent_id: str | None = None, epoch: str | None = None) -> int:
        """Rows stored in a synced table, for one agent (one epoch) or all of them."""
        check_table(table)
        with self._read() as conn:
            return count_rows(conn, table, agent_id, epoch)

    def table_digest(
        self, table: str, agent_id: str, epoch: str | None = None
    ) -> tuple[int, str]:
        """(rows, sha256) of an agent's rows of ``table``; see :mod:`shared.sync.digest`.

        ``epoch``: one database's rows, comparable with that database's digest. None:
        every epoch's, oldest epoch first (a database synced before epochs has its first
        rows under ``legacy``, the rest under its epoch: together, its digest).
        """
        check_table(table)
        with self._read() as conn:
            return digest_rows(conn, table, agent_id, epoch)

    def epochs(self, agent_id: str | None = None) -> list[EpochRecord]:
        """Every agent's database series (one agent's with ``agent_id``), oldest first."""
        with self._read() as conn:
            return read_epochs(conn, agent_id)

    def conflicts(self, *, limit: int = 50, agent_id: str | None = None) -> list[ConflictRecord]:
        """The newest conflicting rows first (the versions the hub did not take as stored)."""
        with self._read() as conn:
            return read_conflicts(conn, limit=limit, agent_id=agent_id)

    def conflict_counts(self) -> dict[str, int]:
        """Conflicting rows kept per agent."""
        with self._read() as conn:
            return count_conflicts(conn)

    def dead_letters(self, *, limit: int = 50, agent_id: str | None = None) -> list[DeadLetter]:
        """The newest dead letters first."""
        with self._read() as conn:
            return refused.read_letters(conn, limit=limit, agent_id=agent_id)

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
            return refused.letter_counts(conn)

    def command(self, command_id: str) -> CommandRecord | None:
        """One command and its outcome, if answered."""
        with self._read() as conn:
            return read_command(conn, command_id)
