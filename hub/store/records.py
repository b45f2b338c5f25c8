"""What the hub store hands out: plain frozen records, no connections attached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.sync.messages import AgentStatus, BatchHeader
from shared.sync.tables import LEGACY_EPOCH


@dataclass(frozen=True, slots=True)
class ValidBatch:
    """A batch that passed every check, ready to commit: its header and decoded rows."""

    header: BatchHeader
    rows: list[list[Any]]
    payload_bytes: int
    received_ns: int

    @property
    def agent_id(self) -> str:
        return self.header.agent_id

    @property
    def table(self) -> str:
        return self.header.table

    @property
    def epoch(self) -> str:
        """The agent database's epoch; ``legacy`` for a schema 1 batch, which has none."""
        return self.header.epoch or LEGACY_EPOCH


@dataclass(frozen=True, slots=True)
class Committed:
    """What the hub store did with one batch of a commit."""

    rows_new: int
    """Rows it did not have yet, now stored."""
    conflicts: tuple[int, ...] = ()
    """Local ids of rows that differ from the stored row under the same key (the
    stored row is kept, the batch's version goes to ``row_conflicts``)."""
    new_epoch: bool = False
    """The first batch of this agent's epoch: a new series began."""
    earlier_epochs: tuple[str, ...] = ()
    """With ``new_epoch``: the agent's epochs seen before this one, oldest first."""


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """One database series of an agent: when the hub first and last heard of it."""

    agent_id: str
    epoch: str
    first_seen_ns: int
    last_seen_ns: int


@dataclass(frozen=True, slots=True)
class ConflictRecord:
    """A row that came again with other content; the hub keeps this second version."""

    id: int
    agent_id: str
    epoch: str
    table: str
    local_id: int
    row: list[Any]
    """The batch's version, ``[local_id, *data columns]``."""
    row_digest: str
    stored_digest: str
    batch_first_id: int
    batch_last_id: int
    attempt: int
    received_ns: int


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """One agent as the hub knows it: its last status and when it was last heard from."""

    agent_id: str
    state: str
    first_seen_ns: int
    last_seen_ns: int | None
    status: AgentStatus | None
    status_received_ns: int | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the hub refused, kept with the reason (payload cut to its first 64 KiB)."""

    id: int
    agent_id: str | None
    topic: str
    reason: str
    payload: bytes
    payload_bytes: int
    received_ns: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the payload bytes (their size is kept)."""
        return {
            "id": self.id, "agent_id": self.agent_id, "topic": self.topic,
            "reason": self.reason, "payload_bytes": self.payload_bytes,
            "received_ns": self.received_ns,
        }


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A command the hub sent and, once answered, the agent's outcome."""

    command_id: str
    agent_id: str
    kind: str
    args: dict[str, str]
    issued_ns: int | None
    outcome: str | None
    detail: str | None
    answered_ns: int | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused message to keep as a dead letter (its payload cut to the first 64 KiB)."""

    agent_id: str | None
    topic: str
    reason: str
    payload: bytes
    received_ns: int
    retained_digest: str | None = None
    """For a retained message: its digest, remembered so the broker's replay of it at the
    next hub start is not kept again."""


@dataclass(frozen=True, slots=True)
class IngestCounts:
    """What the ingest's limits did with one agent's messages (totals, or a delta)."""

    refused: int = 0
    """Messages refused: kept as dead letters or, beyond the budget, only counted."""
    dropped: int = 0
    """Refused beyond the dead-letter budget: counted, payload not kept."""
    dropped_bytes: int = 0
    rate_limited: int = 0
    """Dropped unread: over the agent's rate limit."""
    rate_limited_bytes: int = 0
    retained_repeats: int = 0
    """Refused retained messages replayed by the broker again, already kept once."""

    def __add__(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))

    def to_dict(self) -> dict[str, int]:
        return dict(zip(INGEST_COUNT_FIELDS, _fields(self), strict=True))


INGEST_COUNT_FIELDS = (
    "refused", "dropped", "dropped_bytes", "rate_limited", "rate_limited_bytes",
    "retained_repeats",
)


def _fields(counts: IngestCounts) -> tuple[int, ...]:
    return tuple(getattr(counts, name) for name in INGEST_COUNT_FIELDS)
