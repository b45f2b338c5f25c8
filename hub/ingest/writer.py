"""The ingest's single writer: turns a group of received messages into one commit.

Everything here runs on one thread (the service's writer thread), so the hub store
has one writer. A group is handled in three steps: check every message (refusals go
to ``dead_letters`` at once), commit every valid batch in ONE transaction, and only
then build the acknowledgements — an agent never hears "committed" for a row that
is not durably stored. Malformed input is logged and kept, never raised: one bad
agent must not stop the fleet's ingest.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from hub.ingest.validate import Rejected, validate_batch
from hub.store.records import ValidBatch
from hub.store.store import HubStore
from shared.clock import Clock
from shared.config.hub import IngestConfig
from shared.errors import MessageError
from shared.sync.messages import Ack, AgentStatus, CommandResult
from shared.topics import AgentTopic, hub_ack, parse_agent_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message as paho handed it over, with what the writer needs to answer it."""

    topic: str
    payload: bytes
    received_ns: int
    retain: bool = False
    mid: int = 0
    qos: int = 0
    session: int = 0
    """Which connection it came on: a PUBACK is only valid on that connection."""


@dataclass
class IngestStats:
    """Running totals since the service started (read by the status line and tests)."""

    messages: int = 0
    batches: int = 0
    rows: int = 0
    rows_new: int = 0
    dead_letters: int = 0
    statuses: int = 0
    command_results: int = 0
    shed: int = 0
    commit_failures: int = 0


class IngestWriter:
    """Validates, stores and answers groups of :class:`Incoming` messages."""

    def __init__(self, store: HubStore, config: IngestConfig, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.stats = IngestStats()

    def handle(self, items: Sequence[Incoming]) -> list[tuple[str, bytes]]:
        """Store what is valid, dead-letter the rest; the (topic, payload) acks to publish.

        The acks come back only after the commit returned: the caller publishes them.
        """
        acks: list[tuple[str, bytes]] = []
        valid: list[ValidBatch] = []
        for item in items:
            self.stats.messages += 1
            try:
                topic = parse_agent_topic(item.topic)
            except MessageError as exc:
                self._dead_letter(item, None, str(exc))
                continue
            if topic.kind == "data":
                batch = self._check_batch(item, topic, acks)
                if batch is not None:
                    valid.append(batch)
            elif topic.kind == "status":
                self._status(item, topic)
            else:
                self._command_result(item, topic)
        if valid:
            acks += self._commit(valid)
        return acks

    def _check_batch(
        self, item: Incoming, topic: AgentTopic, acks: list[tuple[str, bytes]]
    ) -> ValidBatch | None:
        try:
            return validate_batch(topic, item.payload, self.config, received_ns=item.received_ns)
        except Rejected as rejected:
            self._dead_letter(item, topic.agent_id, rejected.reason)
            ack = Ack(
                agent_id=topic.agent_id, table=rejected.table, first_id=rejected.first_id,
                last_id=rejected.last_id, outcome="rejected", reason=rejected.reason,
                ts_ns=self.clock.time_ns(),
            )
            acks.append((hub_ack(topic.agent_id), ack.to_bytes()))
            return None

    def _commit(self, batches: list[ValidBatch]) -> list[tuple[str, bytes]]:
        try:
            rows_new = self.store.commit_batches(batches)
        except sqlite3.Error as exc:
            # Nothing is acknowledged: each agent sends these batches again after its
            # ack timeout, and a later commit may succeed (disk freed, lock released).
            self.stats.commit_failures += 1
            log.error("commit of %d batch(es) failed, none acknowledged: %s", len(batches), exc)
            return []
        now_ns = self.clock.time_ns()
        acks = []
        for batch, new in zip(batches, rows_new, strict=True):
            self.stats.batches += 1
            self.stats.rows += len(batch.rows)
            self.stats.rows_new += new
            ack = Ack(
                agent_id=batch.agent_id, table=batch.table, first_id=batch.header.first_id,
                last_id=batch.header.last_id, outcome="committed", rows_new=new, ts_ns=now_ns,
            )
            acks.append((hub_ack(batch.agent_id), ack.to_bytes()))
        return acks

    def _status(self, item: Incoming, topic: AgentTopic) -> None:
        if not item.payload:
            return  # an empty retained payload is how a retained status is cleared
        try:
            status = AgentStatus.from_bytes(item.payload, where=item.topic)
            _same_agent(status.agent_id, topic, item.topic)
        except MessageError as exc:
            self._dead_letter(item, topic.agent_id, str(exc))
            return
        self.store.record_status(status, received_ns=item.received_ns, retained=item.retain)
        self.stats.statuses += 1

    def _command_result(self, item: Incoming, topic: AgentTopic) -> None:
        try:
            result = CommandResult.from_bytes(item.payload, where=item.topic)
            _same_agent(result.agent_id, topic, item.topic)
        except MessageError as exc:
            self._dead_letter(item, topic.agent_id, str(exc))
            return
        self.store.record_command_result(result, received_ns=item.received_ns)
        self.stats.command_results += 1

    def _dead_letter(self, item: Incoming, agent_id: str | None, reason: str) -> None:
        log.warning("dead letter on %s: %s", item.topic, reason)
        self.stats.dead_letters += 1
        try:
            self.store.add_dead_letter(
                agent_id=agent_id, topic=item.topic, reason=reason, payload=item.payload,
                received_ns=item.received_ns,
            )
        except sqlite3.Error as exc:
            log.error("could not keep a dead letter from %s: %s", item.topic, exc)


def _same_agent(claimed: str, topic: AgentTopic, raw_topic: str) -> None:
    if claimed != topic.agent_id:
        raise MessageError(
            f"{raw_topic}: foreign message: it names agent {claimed!r}, the topic "
            f"{topic.agent_id!r}"
        )
