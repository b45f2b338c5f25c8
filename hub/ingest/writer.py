"""The ingest's single writer: turns a group of received messages into one commit.

Everything here runs on one thread (the service's writer thread), so the hub store
has one writer. A group is handled in three steps: check every message, commit every
valid batch in ONE transaction (a batch the database still refuses there is found by
committing the group again one batch at a time, and dead-lettered alone), write the
group's refusals (:mod:`hub.ingest.refusals`: within the dead-letter budget) in one
more, and only then build the acknowledgements — an agent never hears "committed" for a row that
is not durably stored, nor for a row whose key the hub holds with other content
(``conflict``: both versions kept, logged as an error). Malformed input is logged and
kept, never raised: one bad agent must not stop the fleet's ingest.

Each ack is written in its batch's schema version and names its epoch, so an agent not
upgraded yet (schema 1) can still read it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.ingest.refusals import DeadLetterKeeper
from hub.ingest.validate import Rejected, check_reported, validate_batch
from hub.store.records import Committed, ValidBatch
from hub.store.store import HubStore
from shared.clock import Clock
from shared.config.hub import IngestConfig
from shared.errors import MessageError
from shared.sync.messages import Ack, AgentStatus, BatchHeader, CommandResult
from shared.sync.tables import LEGACY_EPOCH
from shared.topics import AgentTopic, hub_ack, parse_agent_topic, topic_agent

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

    received: int = 0
    """Messages paho handed over while accepting (before the rate limit)."""
    rate_limited: int = 0
    """Dropped unread: over their agent's rate limit."""
    messages: int = 0
    batches: int = 0
    rows: int = 0
    rows_new: int = 0
    dead_letters: int = 0
    statuses: int = 0
    command_results: int = 0
    shed: int = 0
    commit_failures: int = 0
    dead_letters_dropped: int = 0
    """Refusals beyond their agent's dead-letter budget: counted, not kept."""
    retained_repeats: int = 0
    """Refused retained messages the broker replayed again (kept the first time only)."""
    conflicts: int = 0
    """Batches answered ``conflict``: rows that differ from the hub's copy."""
    rows_conflict: int = 0


class IngestWriter:
    """Validates, stores and answers groups of :class:`Incoming` messages."""

    def __init__(self, store: HubStore, config: IngestConfig, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.stats = IngestStats()
        self.refusals = DeadLetterKeeper(store, config.dead_letters, clock)
        self._statuses: dict[str, AgentStatus | None] = {}
        """Each agent's latest status (loaded from the store on first need), to hold
        its batches to it."""

    def handle(self, items: Sequence[Incoming]) -> list[tuple[str, bytes]]:
        """Store what is valid, dead-letter the rest; the (topic, payload) acks to publish.

        The acks come back only after the commit returned: the caller publishes them.
        """
        acks: list[tuple[str, bytes]] = []
        valid: list[tuple[Incoming, ValidBatch]] = []
        for item in items:
            self.stats.messages += 1
            try:
                self._take(item, valid, acks)
            except Exception as exc:
                # A failure no check foresaw costs its own message only, never the group.
                log.exception("ingest: a message on %s could not be handled", item.topic)
                self._dead_letter(item, topic_agent(item.topic), _unforeseen(exc))
        if valid:
            acks += self._commit(valid)
        # Dead letters and counters in one transaction, before any of the group's acks.
        self.refusals.flush()
        return acks

    def tick(self, rate_limited: dict[str | None, tuple[int, int]]) -> None:
        """Between groups: count what the rate limit dropped, write pending counters and
        apply dead-letter retention when it is due."""
        if rate_limited:
            self.refusals.add_rate_limited(rate_limited)
        self.refusals.flush()
        self.refusals.prune_if_due()

    def _take(
        self, item: Incoming, valid: list[tuple[Incoming, ValidBatch]],
        acks: list[tuple[str, bytes]],
    ) -> None:
        try:
            topic = parse_agent_topic(item.topic)
        except MessageError as exc:
            self._dead_letter(item, None, str(exc))
            return
        if topic.kind == "data":
            batch = self._check_batch(item, topic, acks)
            if batch is not None:
                valid.append((item, batch))
        elif topic.kind == "status":
            self._status(item, topic)
        else:
            self._command_result(item, topic)

    def _check_batch(
        self, item: Incoming, topic: AgentTopic, acks: list[tuple[str, bytes]]
    ) -> ValidBatch | None:
        try:
            batch = validate_batch(
                topic, item.payload, self.config, received_ns=item.received_ns
            )
            check_reported(batch, self._status_of(topic.agent_id))
            return batch
        except Rejected as rejected:
            if not self._dead_letter(item, topic.agent_id, rejected.reason):
                return None  # a retained replay, answered the first time
            ack = _ack(
                rejected.header, agent_id=topic.agent_id, table=rejected.table,
                first_id=rejected.first_id, last_id=rejected.last_id, outcome="rejected",
                reason=rejected.reason, ts_ns=self.clock.time_ns(),
            )
            acks.append((hub_ack(topic.agent_id), ack.to_bytes()))
            return None

    def _status_of(self, agent_id: str) -> AgentStatus | None:
        if agent_id not in self._statuses:
            self._statuses[agent_id] = self.store.stored_status(agent_id)
        return self._statuses[agent_id]

    def _commit(self, group: list[tuple[Incoming, ValidBatch]]) -> list[tuple[str, bytes]]:
        batches = [batch for _, batch in group]
        try:
            rows_new = self.store.commit_batches(batches)
        except sqlite3.OperationalError as exc:
            # The database, not a message (locked, disk full, I/O): nothing is
            # acknowledged, each agent sends its batch again after its ack timeout, and a
            # later commit may succeed (disk freed, lock released).
            self.stats.commit_failures += 1
            log.error("commit of %d batch(es) failed, none acknowledged: %s", len(batches), exc)
            return []
        except Exception as exc:
            # One batch the checks let through and the database refused (a constraint,
            # a value SQLite cannot hold): find it by committing one at a time.
            log.error("commit of %d batch(es) failed (%s): committing them one by one",
                      len(batches), exc)
            return self._commit_one_by_one(group)
        return self._answer(batches, rows_new)

    def _commit_one_by_one(
        self, group: list[tuple[Incoming, ValidBatch]]
    ) -> list[tuple[str, bytes]]:
        acks: list[tuple[str, bytes]] = []
        for i, (item, batch) in enumerate(group):
            try:
                done = self.store.commit_batches([batch])
            except sqlite3.OperationalError as exc:
                self.stats.commit_failures += 1
                log.error("commit failed, %d batch(es) not acknowledged: %s",
                          len(group) - i, exc)
                break
            except Exception as exc:
                reason = f"{batch.agent_id}/{batch.table}: the hub store refused the batch: {exc}"
                if self._dead_letter(item, batch.agent_id, reason):
                    ack = _ack(
                        batch.header, agent_id=batch.agent_id, table=batch.table,
                        first_id=batch.header.first_id, last_id=batch.header.last_id,
                        outcome="rejected", reason=reason, ts_ns=self.clock.time_ns(),
                    )
                    acks.append((hub_ack(batch.agent_id), ack.to_bytes()))
                continue
            acks += self._answer([batch], done)
        return acks

    def _answer(
        self, batches: list[ValidBatch], rows_new: list[Committed]
    ) -> list[tuple[str, bytes]]:
        now_ns = self.clock.time_ns()
        acks = []
        for batch, done in zip(batches, rows_new, strict=True):
            self.stats.batches += 1
            self.stats.rows += len(batch.rows)
            self.stats.rows_new += done.rows_new
            if done.new_epoch:
                self._new_epoch(batch.agent_id, batch.epoch, done.earlier_epochs)
            reason = self._conflict(batch, done) if done.conflicts else ""
            ack = _ack(
                batch.header, agent_id=batch.agent_id, table=batch.table,
                first_id=batch.header.first_id, last_id=batch.header.last_id,
                outcome="conflict" if done.conflicts else "committed", reason=reason,
                rows_new=done.rows_new, rows_conflict=len(done.conflicts), ts_ns=now_ns,
            )
            acks.append((hub_ack(batch.agent_id), ack.to_bytes()))
        return acks

    def _conflict(self, batch: ValidBatch, done: Committed) -> str:
        """Count and log a batch with rows that differ from the stored ones; the reason."""
        self.stats.conflicts += 1
        self.stats.rows_conflict += len(done.conflicts)
        ids = ", ".join(str(i) for i in done.conflicts[:5])
        more = f" and {len(done.conflicts) - 5} more" if len(done.conflicts) > 5 else ""
        reason = (
            f"{len(done.conflicts)} row(s) differ from the hub's rows with the same ids "
            f"(ids {ids}{more}, epoch {batch.epoch}): the hub kept both versions "
            "(the hub store's row_conflicts); not stored as sent"
        )
        log.error(
            "conflict: %s/%s %d-%d (attempt %d): %s", batch.agent_id, batch.table,
            batch.header.first_id, batch.header.last_id, batch.header.attempt, reason,
        )
        return reason

    def _new_epoch(self, agent_id: str, epoch: str, others: tuple[str, ...]) -> None:
        if others:
            log.warning(
                "agent %s: a new database (epoch %s; before: %s): its rows are a new "
                "series, the earlier ones are kept", agent_id, epoch, ", ".join(others),
            )
        else:
            log.info("agent %s: first database epoch %s", agent_id, epoch)

    def _status(self, item: Incoming, topic: AgentTopic) -> None:
        if not item.payload:
            return  # an empty retained payload is how a retained status is cleared
        try:
            status = AgentStatus.from_bytes(item.payload, where=item.topic)
            _same_agent(status.agent_id, topic, item.topic)
        except MessageError as exc:
            self._dead_letter(item, topic.agent_id, str(exc))
            return
        stored, earlier = self._stored(item, topic, lambda: self.store.record_status(
            status, received_ns=item.received_ns, retained=item.retain
        ))
        if not stored:
            return
        if earlier is not None:
            self._new_epoch(status.agent_id, status.epoch or LEGACY_EPOCH, earlier)
        self._statuses[status.agent_id] = status
        self.stats.statuses += 1

    def _command_result(self, item: Incoming, topic: AgentTopic) -> None:
        try:
            result = CommandResult.from_bytes(item.payload, where=item.topic)
            _same_agent(result.agent_id, topic, item.topic)
        except MessageError as exc:
            self._dead_letter(item, topic.agent_id, str(exc))
            return
        stored, _ = self._stored(item, topic, lambda: self.store.record_command_result(
            result, received_ns=item.received_ns
        ))
        if stored:
            self.stats.command_results += 1

    def _stored(
        self, item: Incoming, topic: AgentTopic, write: Callable[[], Any]
    ) -> tuple[bool, Any]:
        """(True, ``write()``'s result), or (False, None) when it failed: a database
        failure is logged (the message is lost; an agent repeats its status), any other
        dead-letters the message."""
        try:
            return True, write()
        except sqlite3.OperationalError as exc:
            log.error("could not store the message on %s: %s", item.topic, exc)
        except Exception as exc:
            self._dead_letter(
                item, topic.agent_id, f"{item.topic}: the hub store refused it: {exc}"
            )
        return False, None

    def _dead_letter(self, item: Incoming, agent_id: str | None, reason: str) -> bool:
        """Refuse ``item``: kept as a dead letter (within the budget) or counted; False
        for a retained message refused before (the broker's replay: answer nothing)."""
        outcome = self.refusals.refuse(
            agent_id=agent_id, topic=item.topic, reason=reason, payload=item.payload,
            received_ns=item.received_ns, retained=item.retain,
        )
        if outcome == "repeat":
            self.stats.retained_repeats += 1
            return False
        self.stats.dead_letters += 1
        if outcome == "dropped":
            self.stats.dead_letters_dropped += 1
        return True


def _ack(header: BatchHeader | None, **fields: Any) -> Ack:
    """An ack in ``header``'s schema version, naming its epoch. A schema 1 agent knows no
    conflict outcome: it hears ``rejected`` (it keeps the batch and retries, loudly)."""
    if header is None or header.schema_version >= 2:
        return Ack(epoch=header.epoch if header else None, **fields)
    if fields.get("outcome") == "conflict":
        fields["outcome"] = "rejected"
    fields.pop("rows_conflict", None)
    return Ack(schema_version=1, **fields)


def _unforeseen(exc: Exception) -> str:
    return f"the hub could not handle it: {type(exc).__name__}: {exc}"[:1000]


def _same_agent(claimed: str, topic: AgentTopic, raw_topic: str) -> None:
    if claimed != topic.agent_id:
        raise MessageError(
            f"{raw_topic}: foreign message: it names agent {claimed!r}, the topic "
            f"{topic.agent_id!r}"
        )
