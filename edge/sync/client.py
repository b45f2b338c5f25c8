"""The agent's sync client: its outbox to the hub over MQTT.

Two threads. The connection thread (:mod:`edge.sync.connection`) keeps the broker
connection up and turns paho's callbacks into events. The **pump** thread owns
the outbox and the agent database reads: it publishes the retained ``online``
status on each connect and every ``status_interval_s`` (ahead of the backlog,
never behind it), batches as the outbox hands them out, applies the hub's
acknowledgements (each moved cursor goes to the store writer), answers commands
and enforces the disk budget.

Neither thread ever touches the collector's event loop: collection and trading go
on untouched while the broker or the hub is away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edge.store.db import connect
from edge.store.writer import StoreWriter
from edge.sync.budget import DiskBudget
from edge.sync.commands import CommandHandlers, CommandProcessor
from edge.sync.connection import BrokerConnection, Event
from edge.sync.outbox import Outbox, Outgoing, is_drained, table_backlog
from shared import topics
from shared.clock import Clock
from shared.config.edge import EdgeConfig
from shared.errors import MessageError, OperationalError
from shared.sync.messages import Ack, AgentStatus, FeedHealth, TableBacklog

log = logging.getLogger("edge.sync")

SEND_BURST = 8
"""Batches published before the pump looks at acknowledgements and timers again."""
BUDGET_CHECK_S = 5.0


def agent_version() -> str:
    """The installed tickerml version, reported in the status."""
    try:
        return version("tickerml")
    except PackageNotFoundError:
        return ""


@dataclass(slots=True)
class SyncCounters:
    """What the client has done since it started."""

    batches_sent: int = 0
    batches_resent: int = 0
    batches_acked: int = 0
    rows_acked: int = 0
    batches_rejected: int = 0
    batches_conflicted: int = 0
    """Batches the hub answered ``conflict`` (recorded in ``sync_conflicts``)."""
    publish_failures: int = 0
    """Publishes the broker refused (a failing PUBACK) or that found no connection."""
    connects: int = 0
    connect_failures: int = 0
    statuses: int = 0
    commands: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class SyncClient:
    """Streams the agent's database to the hub; see the module docstring."""

    def __init__(
        self,
        config: EdgeConfig,
        writer: StoreWriter,
        db_path: Path,
        clock: Clock,
        *,
        commands: CommandHandlers | None = None,
        health: Callable[[], list[FeedHealth]] | None = None,
    ) -> None:
        self.config = config
        self.sync = config.sync
        self.agent_id = config.agent_id
        self.writer = writer
        self.db_path = Path(db_path)
        self.clock = clock
        self.handlers = commands or CommandHandlers()
        self.health = health
        self.version = agent_version()
        # Only the pump thread uses this connection after start().
        self._conn = connect(self.db_path, readonly=True)
        self.outbox = Outbox.for_config(self._conn, config, clock)
        self.budget = DiskBudget(self.db_path, config.sync, clock, writer)
        self.commands = CommandProcessor(
            self.agent_id, self.handlers, clock, send_status=self.publish_status
        )
        self._counters = SyncCounters()
        self._cond = threading.Condition()
        self._events: deque[Event] = deque()
        self._cursors = self.outbox.cursors
        self._mids: dict[int, str] = {}
        self._status_wanted = False
        self._stopping = threading.Event()
        self._pump_thread: threading.Thread | None = None
        self.connection = BrokerConnection(
            self.agent_id, config.sync, clock, on_event=self._push,
            last_will=lambda: self._status("offline"),
        )

    # -- public surface ------------------------------------------------------------------

    def start(self) -> None:
        """Start the connection and pump threads; returns at once."""
        if self._pump_thread is not None:
            raise RuntimeError("sync client already started")
        self._pump_thread = threading.Thread(target=self._pump, name="sync-pump", daemon=True)
        self._pump_thread.start()
        self.connection.start()
        log.info(
            "sync: agent %s to %s:%d, %d table(s), cursors %s", self.agent_id,
            self.sync.mqtt.host, self.sync.mqtt.port, len(self.sync.tables), self._cursors,
        )

    def stop(self) -> None:
        """Publish the retained ``offline`` status, disconnect cleanly, end both threads.

        Acknowledgements already received have been handed to the store writer; the
        caller flushes or closes it.
        """
        self._stopping.set()
        self._notify()
        if self._pump_thread is not None:
            self._pump_thread.join()
        self.connection.stop(self._status("offline"))
        self.budget.close()
        self._conn.close()

    def publish_status(self) -> None:
        """Publish the retained status as soon as the pump is free (thread-safe)."""
        self._push(("status",))

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self.connection.connected

    @property
    def cursors(self) -> dict[str, int]:
        """Per table, the id up to which the hub has acknowledged every row."""
        with self._cond:
            return dict(self._cursors)

    def counters(self) -> SyncCounters:
        """A copy of the counters."""
        with self._cond:
            counters = SyncCounters(**self._counters.as_dict())
        counters.connects = self.connection.connects
        counters.connect_failures = self.connection.connect_failures
        return counters

    def backlog(self) -> dict[str, TableBacklog]:
        """Per table: last id, acknowledged id, unacknowledged rows, oldest unsynced time."""
        conn = connect(self.db_path, readonly=True)
        try:
            return table_backlog(conn, self.cursors)
        finally:
            conn.close()

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until every table's cursor is at its newest row; False on timeout."""
        deadline = time.monotonic() + timeout_s
        conn = connect(self.db_path, readonly=True)
        try:
            while True:
                with self._cond:
                    cursors = dict(self._cursors)
                if is_drained(conn, cursors):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                with self._cond:
                    if cursors == self._cursors:
                        self._cond.wait(min(left, 0.2))
        finally:
            conn.close()

    # -- the pump thread -----------------------------------------------------------------

    def _push(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _pump(self) -> None:
        next_status = next_budget = 0.0
        try:
            while not self._stopping.is_set():
                self._handle_events()
                now = time.monotonic()
                connected = self.connection.connected
                if connected and (self._status_wanted or now >= next_status):
                    self._publish("status", topics.agent_status(self.agent_id),
                                  self._status("online"), retain=True)
                    self._status_wanted = False
                    next_status = now + self.sync.status_interval_s
                if now >= next_budget:
                    self._enforce_budget()
                    next_budget = now + BUDGET_CHECK_S
                sent = 0
                while connected and sent < SEND_BURST:
                    message = self.outbox.next_message(now)
                    if message is None:
                        break
                    self._publish_batch(message)
                    sent += 1
                if sent == SEND_BURST:
                    continue
                waits = [1.0, next_budget - now]
                if connected:
                    waits.append(next_status - now)
                    due = self.outbox.next_due(now)
                    if due is not None:
                        waits.append(due)
                with self._cond:
                    if not self._events and not self._stopping.is_set():
                        self._cond.wait(max(0.0, min(waits)))
            self._handle_events()
        except Exception:
            log.exception("sync: the pump failed; the sync is stopped (collection goes on)")

    def _handle_events(self) -> None:
        while True:
            with self._cond:
                if not self._events:
                    return
                event = self._events.popleft()
            kind = event[0]
            if kind == "ack":
                self._handle_ack(event[1])
            elif kind == "puback":
                self._handle_puback(event[1], event[2], event[3])
            elif kind == "command":
                self._handle_command(event[1])
            elif kind == "connected":
                self._mids.clear()
                self.outbox.on_reconnect(time.monotonic())
                self._status_wanted = True
            elif kind == "status":
                self._status_wanted = True

    def _handle_ack(self, payload: bytes) -> None:
        try:
            ack = Ack.from_bytes(payload, where="ack")
        except MessageError as exc:
            log.warning("sync: ignoring a malformed acknowledgement: %s", exc)
            return
        if ack.agent_id != self.agent_id:
            log.warning("sync: ignoring an acknowledgement for agent %s", ack.agent_id)
            return
        before = (self.outbox.acked_batches, self.outbox.acked_rows, self.outbox.rejected,
                  self.outbox.conflicts)
        cursor = self.outbox.on_ack(ack, time.monotonic())
        conflicted = self.outbox.conflicts - before[3]
        with self._cond:
            c = self._counters
            c.batches_acked += self.outbox.acked_batches - before[0]
            c.rows_acked += self.outbox.acked_rows - before[1]
            c.batches_rejected += self.outbox.rejected - before[2]
            c.batches_conflicted += conflicted
            if cursor is not None:
                self._cursors[ack.table] = cursor
                self._cond.notify_all()
        if conflicted:
            try:
                self.writer.put("sync_conflicts", (
                    ack.table, ack.first_id, ack.last_id, ack.rows_conflict, ack.reason,
                    self.clock.time_ns(),
                ))
            except OperationalError as exc:
                log.error("sync: conflict on %s/%d-%d not recorded: %s", ack.table,
                          ack.first_id, ack.last_id, exc)
        if cursor is not None:
            try:
                self.writer.put("sync_cursors", (ack.table, cursor, self.clock.time_ns()))
            except OperationalError as exc:
                # Only costs a re-send after a restart: the hub upserts.
                log.warning("sync: cursor %s=%d not stored: %s", ack.table, cursor, exc)

    def _handle_puback(self, mid: int, failed: bool, reason: str) -> None:
        what = self._mids.pop(mid, f"message {mid}")
        if failed:
            log.error("sync: the broker refused %s: %s (kept for a re-send)", what, reason)
            with self._cond:
                self._counters.publish_failures += 1

    def _handle_command(self, payload: bytes) -> None:
        result = self.commands.handle(payload)
        with self._cond:
            self._counters.commands += 1
        self._publish(
            f"result of command {result.command_id or '(no id)'}",
            topics.agent_command_result(self.agent_id), result.to_bytes(),
        )

    def _publish_batch(self, message: Outgoing) -> None:
        with self._cond:
            self._counters.batches_sent += 1
            if message.attempt > 1:
                self._counters.batches_resent += 1
        self._publish(f"batch {message.batch_id} (attempt {message.attempt})",
                      message.topic, message.payload)

    def _publish(self, what: str, topic: str, payload: bytes, *, retain: bool = False) -> None:
        mid = self.connection.publish(topic, payload, retain=retain)
        if mid is None:
            # No connection after all: batches go again after the reconnect.
            with self._cond:
                self._counters.publish_failures += 1
            return
        self._mids[mid] = what
        if what == "status":
            with self._cond:
                self._counters.statuses += 1

    def _status(self, state: str) -> bytes:
        if state == "offline":
            return AgentStatus(
                agent_id=self.agent_id, state="offline", ts_ns=self.clock.time_ns(),
                agent_version=self.version, epoch=self.outbox.epoch,
            ).to_bytes()
        feeds: tuple[FeedHealth, ...] = ()
        if self.health is not None:
            try:
                feeds = tuple(self.health())
            except Exception as exc:  # the status must go out even if a feed is mid-change
                log.debug("sync: feed health unavailable: %s", exc)
        paused = False
        if self.handlers.trading_paused is not None:
            paused = self.handlers.trading_paused()
        dropped = self._conn.execute("SELECT TOTAL(rows) FROM sync_drops").fetchone()[0]
        # ts_ns is taken before the backlog is read: the hub trusts that every batch
        # built before ts_ns has ids no higher than the backlog's last_id.
        return AgentStatus(
            agent_id=self.agent_id, state="online", ts_ns=self.clock.time_ns(),
            epoch=self.outbox.epoch, agent_version=self.version, trading_paused=paused,
            backlog=table_backlog(self._conn, self.outbox.cursors), dropped_rows=int(dropped),
            store_full_since_ns=self.writer.disk_full_since_ns,
            feeds=feeds, connected_since_ns=self.connection.connected_since_ns,
        ).to_bytes()

    def _enforce_budget(self) -> None:
        if self.writer.disk_full_since_ns is not None:
            return  # nothing can be checkpointed on a full disk; the writer says why
        try:
            self.budget.enforce(self.outbox.sent_up_to)
        except Exception:  # a failed budget pass must not stop the sync
            log.exception("sync: the disk budget check failed")
