"""What the hub store hands out: plain frozen records, no connections attached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.sync.messages import AgentStatus, BatchHeader


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
