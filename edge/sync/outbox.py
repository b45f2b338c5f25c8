"""The agent's outbox: the rows after each table's acknowledged id, in batches.

The outbox is the agent's own database: paho keeps nothing across a restart, so
on start the cursors are read from ``sync_cursors`` and everything after them is
sent again (the hub keys rows on (agent, epoch, table, local id) and compares a row it
already has by content, so a re-send is harmless).

Pure logic over a read-only connection and a monotonic ``now`` handed in: no
sockets and no threads, so every rule below is tested without a broker. The
:class:`~edge.sync.client.SyncClient` drives it from one thread.

* Rows leave in id order, one table per batch, at most ``batch_rows`` rows and
  about ``batch_bytes`` of JSON.
* At most ``max_inflight`` batches wait for the hub at once.
* A table's cursor moves only over the contiguous acknowledged prefix of its
  batches: acknowledgements may arrive out of order.
* A batch not acknowledged within ``ack_timeout_s``, and every unacknowledged
  batch after a reconnect, is sent again with ``attempt + 1``.
* A batch the hub rejects is retried after a capped, jittered backoff; its table
  sends nothing newer until the hub takes it (the others go on).
* A batch the hub answers ``conflict`` (rows that differ from the hub's copy under
  the same key: the hub kept both) counts as answered: the cursor moves on, the
  conflict is logged as an error and recorded (the client writes ``sync_conflicts``).
* Every header carries the database's epoch and the table's newest id, and an ack
  for another epoch is ignored.
* Tables are served round-robin, so a busy table (``raw_messages``) never
  starves the others.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from edge.store.cursors import read_cursors
from edge.store.db import check_contract, database_epoch
from shared import topics
from shared.backoff import Backoff
from shared.clock import Clock
from shared.config.edge import EdgeConfig
from shared.config.feeds import BackoffConfig
from shared.sync.codec import encode_batch
from shared.sync.messages import Ack, BatchHeader, TableBacklog
from shared.sync.tables import TABLES

log = logging.getLogger("edge.sync")

PROBE_ROWS = 256
"""Rows read the first time from a table whose row size is not known yet."""

PARKED_PER_TABLE = 4
"""A table holds at most ``PARKED_PER_TABLE * max_inflight`` batches in memory
(acknowledged ones waiting for an older one count): bounds memory when one
batch keeps failing while later ones are acknowledged."""


@dataclass(slots=True, eq=False)
class Batch:
    """One table's rows ``first_id``..``last_id`` and where they stand."""

    table: str
    first_id: int
    last_id: int
    count: int
    created_ns: int
    rows: list[tuple[Any, ...]] | None
    """Kept until acknowledged, so a re-send is the same rows even if the budget
    deleted them from the database meanwhile."""
    table_last_id: int = 0
    """The table's newest id when the batch was built (``sqlite_sequence``)."""
    attempt: int = 0
    due: float = 0.0
    """Monotonic time of the next (re)send while unacknowledged."""
    acked: bool = False
    rejected: bool = False


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish: a batch's wire bytes and what they hold."""

    topic: str
    payload: bytes
    table: str
    first_id: int
    last_id: int
    rows: int
    attempt: int

    @property
    def batch_id(self) -> str:
        return f"{self.table}/{self.first_id}-{self.last_id}"


class _Table:
    """Per table: its query, cursors, batches and retry backoff."""

    __slots__ = ("batches", "columns", "cursor", "held", "idle_until", "name", "read_id",
                 "retry", "row_bytes", "select", "sequence")

    def __init__(self, name: str, cursor: int, retry: BackoffConfig) -> None:
        self.name = name
        self.columns = TABLES[name].columns
        quoted = ", ".join(f'"{c}"' for c in self.columns)
        self.select = f'SELECT {quoted} FROM "{name}" WHERE id > ? ORDER BY id LIMIT ?'
        self.sequence = "SELECT seq FROM sqlite_sequence WHERE name = ?"
        self.cursor = cursor
        """Newest id the hub acknowledged, with every older row acknowledged too."""
        self.read_id = cursor
        """Newest id put in a batch."""
        self.batches: deque[Batch] = deque()
        self.idle_until = 0.0
        self.row_bytes = 0.0
        self.held = False
        self.retry = Backoff(retry)


def check_columns(conn: sqlite3.Connection, tables: Sequence[str]) -> None:
    """Refuse to sync a table whose columns (names, order, declared types, NOT NULL)
    differ from the contract in ``shared.sync.tables``: nothing of it is sent."""
    check_contract(conn, tables, where="sync")


class Outbox:
    """Which batch to send next, and what the hub's acknowledgements change."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        agent_id: str,
        tables: Sequence[str],
        clock: Clock,
        *,
        batch_rows: int = 5000,
        batch_bytes: int = 1_000_000,
        max_inflight: int = 8,
        ack_timeout_s: float = 30.0,
        poll_interval_s: float = 1.0,
        retry: BackoffConfig | None = None,
        cursors: Mapping[str, int] | None = None,
    ) -> None:
        check_columns(conn, tables)
        self.conn = conn
        self.agent_id = agent_id
        self.epoch = database_epoch(conn, where="sync")
        """The database's epoch: in every header, and every ack must name it."""
        self.clock = clock
        self.batch_rows = batch_rows
        self.batch_bytes = batch_bytes
        self.max_inflight = max_inflight
        self.ack_timeout_s = ack_timeout_s
        self.poll_interval_s = poll_interval_s
        start = read_cursors(conn, tables) if cursors is None else cursors
        retry = retry or BackoffConfig()
        self._tables = {name: _Table(name, start.get(name, 0), retry) for name in tables}
        self._order = list(self._tables.values())
        self._next = 0
        self._topics = {name: topics.agent_data(agent_id, name) for name in tables}
        self.unacked = 0
        """Batches sent (or rejected) and not yet acknowledged."""
        self.rejected = 0
        """Rejections received so far."""
        self.acked_batches = 0
        self.acked_rows = 0
        self.conflicts = 0
        """Batches the hub answered ``conflict`` so far."""
        self.conflict_rows = 0

    @classmethod
    def for_config(cls, conn: sqlite3.Connection, config: EdgeConfig, clock: Clock) -> Outbox:
        """An outbox with the ``sync:`` settings of ``config``, cursors from the database."""
        s = config.sync
        return cls(
            conn, config.agent_id, s.tables, clock, batch_rows=s.batch_rows,
            batch_bytes=s.batch_bytes, max_inflight=s.max_inflight,
            ack_timeout_s=s.ack_timeout_s, poll_interval_s=s.batch_interval_s, retry=s.backoff,
        )

    @property
    def cursors(self) -> dict[str, int]:
        """Per table, the acknowledged id (every row up to it is at the hub)."""
        return {name: t.cursor for name, t in self._tables.items()}

    @property
    def sent_up_to(self) -> dict[str, int]:
        """Per table, the newest id already in a batch (acknowledged or on its way)."""
        return {name: t.read_id for name, t in self._tables.items()}

    # -- sending -------------------------------------------------------------------------

    def next_message(self, now: float) -> Outgoing | None:
        """The next message to publish: a re-send that is due, else a new batch, else None."""
        batch = self._due_resend(now)
        if batch is None:
            batch = self._new_batch(now)
        if batch is None:
            return None
        batch.attempt += 1
        batch.due = now + self.ack_timeout_s
        header = BatchHeader(
            agent_id=self.agent_id, table=batch.table, columns=TABLES[batch.table].columns,
            first_id=batch.first_id, last_id=batch.last_id, rows=batch.count,
            created_ns=batch.created_ns, sent_ns=self.clock.time_ns(), attempt=batch.attempt,
            epoch=self.epoch, table_last_id=batch.table_last_id,
        )
        assert batch.rows is not None  # unacknowledged batches keep their rows
        return Outgoing(
            self._topics[batch.table], encode_batch(header, batch.rows), batch.table,
            batch.first_id, batch.last_id, batch.count, batch.attempt,
        )

    def _due_resend(self, now: float) -> Batch | None:
        if not self.unacked:
            return None
        best: Batch | None = None
        for table in self._order:
            for batch in table.batches:
                if not batch.acked and batch.due <= now and (best is None or batch.due < best.due):
                    best = batch
        return best

    def _new_batch(self, now: float) -> Batch | None:
        if self.unacked >= self.max_inflight:
            return None
        count = len(self._order)
        cap = PARKED_PER_TABLE * self.max_inflight
        for step in range(count):
            table = self._order[(self._next + step) % count]
            if table.held or table.idle_until > now or len(table.batches) >= cap:
                continue
            batch = self._read(table, now)
            if batch is None:
                continue
            self._next = (self._next + step + 1) % count
            table.batches.append(batch)
            table.read_id = batch.last_id
            self.unacked += 1
            return batch
        return None

    def _read(self, table: _Table, now: float) -> Batch | None:
        if table.row_bytes:
            limit = max(1, min(self.batch_rows, int(self.batch_bytes / table.row_bytes)))
        else:
            limit = min(self.batch_rows, PROBE_ROWS)
        rows = self.conn.execute(table.select, (table.read_id, limit)).fetchall()
        if len(rows) < limit:
            # Caught up: look again after the poll interval, not on every call.
            table.idle_until = now + self.poll_interval_s
        if not rows:
            return None
        # Measured on the JSON the codec will compress, so the bound holds for rows
        # of any shape; the estimate sizes the next read of this table.
        size = len(orjson.dumps(rows))
        table.row_bytes = size / len(rows)
        if size > self.batch_bytes and len(rows) > 1:
            rows = rows[: max(1, len(rows) * self.batch_bytes // size)]
            table.idle_until = 0.0
        # Read after the rows, so it is at least their newest id.
        seq = self.conn.execute(table.sequence, (table.name,)).fetchone()
        last_id = max(int(seq[0]) if seq else 0, rows[-1][0])
        return Batch(
            table.name, rows[0][0], rows[-1][0], len(rows), self.clock.time_ns(), rows,
            table_last_id=last_id,
        )

    # -- what comes back -----------------------------------------------------------------

    def on_ack(self, ack: Ack, now: float) -> int | None:
        """Apply the hub's answer; returns the table's new cursor when it moved."""
        table = self._tables.get(ack.table)
        batch = None
        if table is not None:
            batch = next(
                (b for b in table.batches
                 if b.first_id == ack.first_id and b.last_id == ack.last_id), None,
            )
        if ack.epoch is not None and ack.epoch != self.epoch:
            log.warning(
                "sync: ignoring an ack for %s/%d-%d of epoch %s (this database is %s)",
                ack.table, ack.first_id, ack.last_id, ack.epoch, self.epoch,
            )
            return None
        if table is None or batch is None or batch.acked:
            log.debug(
                "sync: ignoring %s ack for %s/%d-%d: no such batch waiting", ack.outcome,
                ack.table, ack.first_id, ack.last_id,
            )
            return None
        if ack.outcome == "rejected":
            self.rejected += 1
            delay = table.retry.next_delay()
            batch.rejected = True
            batch.due = now + delay
            table.held = True
            log.error(
                "sync: the hub rejected %s/%d-%d (attempt %d): %s; retrying in %.1f s",
                ack.table, ack.first_id, ack.last_id, batch.attempt, ack.reason or "no reason",
                delay,
            )
            return None
        if ack.outcome == "conflict":
            self.conflicts += 1
            self.conflict_rows += ack.rows_conflict
            log.error(
                "sync: the hub holds other rows under %s/%d-%d (epoch %s): %s; it kept "
                "both versions, this batch is not sent again",
                ack.table, ack.first_id, ack.last_id, self.epoch,
                ack.reason or f"{ack.rows_conflict} row(s) differ",
            )
        batch.acked = True
        batch.rows = None
        self.unacked -= 1
        self.acked_batches += 1
        self.acked_rows += batch.count
        if batch.rejected:
            batch.rejected = False
            table.held = any(b.rejected for b in table.batches)
        if not table.held:
            table.retry.reset()
        moved = False
        while table.batches and table.batches[0].acked:
            table.cursor = table.batches.popleft().last_id
            moved = True
        return table.cursor if moved else None

    def on_reconnect(self, now: float) -> None:
        """A new connection: every unacknowledged batch goes again (rejected ones keep
        their backoff), since acknowledgements for the old one may be lost."""
        for table in self._order:
            for batch in table.batches:
                if not batch.acked and not batch.rejected:
                    batch.due = now

    def next_due(self, now: float) -> float | None:
        """Seconds until :meth:`next_message` may have something (0: now); None: only
        an acknowledgement can change that."""
        times: list[float] = []
        for table in self._order:
            times.extend(b.due for b in table.batches if not b.acked)
        if self.unacked < self.max_inflight:
            cap = PARKED_PER_TABLE * self.max_inflight
            times.extend(
                t.idle_until for t in self._order if not t.held and len(t.batches) < cap
            )
        return max(0.0, min(times) - now) if times else None

    def wake(self) -> None:
        """Look for new rows at the next call instead of after the poll interval."""
        for table in self._order:
            table.idle_until = 0.0


def table_backlog(conn: sqlite3.Connection, cursors: Mapping[str, int]) -> dict[str, TableBacklog]:
    """Per table: newest id ever stored, acknowledged id, rows after it, and the time of
    the oldest of those (nanoseconds)."""
    try:
        seqs = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    except sqlite3.OperationalError:
        seqs = {}
    out: dict[str, TableBacklog] = {}
    for name, acked in cursors.items():
        spec = TABLES[name]
        rows = conn.execute(f'SELECT COUNT(*) FROM "{name}" WHERE id > ?', (acked,)).fetchone()[0]
        oldest = conn.execute(
            f'SELECT "{spec.time_column}" FROM "{name}" WHERE id > ? ORDER BY id LIMIT 1',
            (acked,),
        ).fetchone()
        out[name] = TableBacklog(
            last_id=int(seqs.get(name, 0)), acked_id=acked, rows=rows,
            oldest_ns=oldest[0] * spec.time_unit_ns if oldest and oldest[0] is not None else None,
        )
    return out


def is_drained(conn: sqlite3.Connection, cursors: Mapping[str, int]) -> bool:
    """True when no table has a row after its acknowledged id."""
    return not any(
        conn.execute(f'SELECT 1 FROM "{name}" WHERE id > ? LIMIT 1', (acked,)).fetchone()
        for name, acked in cursors.items()
    )
