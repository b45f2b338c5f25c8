"""The sync's wire messages: typed, closed, versioned (pydantic, frozen, extra forbidden).

Batches carry rows and travel compressed (:mod:`shared.sync.codec`); everything
else here is small JSON. Every message names its ``schema_version`` and the
agent it concerns, so the hub can refuse one addressed from the wrong topic.
"""

from __future__ import annotations

from typing import Literal, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import MessageError

SCHEMA_VERSION = 1
"""Version of these messages and of the synced tables' columns (``shared.sync.tables``)."""

AgentId = str


class Message(BaseModel):
    """Base of every sync message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = Field(1, description="Wire schema version (SCHEMA_VERSION).")
    agent_id: AgentId = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The agent concerned.")

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, payload: bytes, *, where: str = "payload") -> Self:
        """Parse and validate; :class:`MessageError` naming ``where`` and the problem."""
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise MessageError(
                f"{where}: not a valid {cls.__name__}: {loc}: {first['msg']}"
            ) from None


class BatchHeader(Message):
    """What a batch of rows is: one table's rows ``first_id``..``last_id``."""

    table: str = Field(description="Synced table name (shared.sync.tables).")
    columns: tuple[str, ...] = Field(description="Column names, ``id`` first.")
    first_id: int = Field(ge=1, description="Local id of the first row.")
    last_id: int = Field(ge=1, description="Local id of the last row.")
    rows: int = Field(ge=1, description="Number of rows (ids are increasing, not always dense).")
    created_ns: int = Field(ge=0, description="When the agent built the batch (event time).")
    sent_ns: int = Field(ge=0, description="When the agent (re)sent it.")
    attempt: int = Field(1, ge=1, description="1 on the first send, then 2, 3… on re-sends.")

    @property
    def batch_id(self) -> str:
        return f"{self.agent_id}/{self.table}/{self.first_id}-{self.last_id}"


class Ack(Message):
    """The hub's answer to one batch, sent only after its durable commit (or refusal)."""

    table: str
    first_id: int = Field(ge=0)
    last_id: int = Field(ge=0)
    outcome: Literal["committed", "rejected"]
    reason: str = Field("", description="Why a batch was rejected (it went to dead letters).")
    rows_new: int = Field(0, ge=0, description="Rows the hub did not have yet.")
    ts_ns: int = Field(ge=0, description="When the hub committed or refused it.")


class TableBacklog(BaseModel):
    """One synced table as the agent sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    last_id: int = Field(ge=0, description="Newest local id stored.")
    acked_id: int = Field(ge=0, description="Newest id the hub acknowledged (the cursor).")
    rows: int = Field(ge=0, description="Rows stored and not yet acknowledged.")
    oldest_ns: int | None = Field(None, description="Time of the oldest unacknowledged row.")


class FeedHealth(BaseModel):
    """One book the agent keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str
    symbol: str
    synced: bool
    last_update_ns: int = Field(0, ge=0)


class AgentStatus(Message):
    """An agent's retained status; the last will publishes ``state="offline"``."""

    state: Literal["online", "offline"]
    ts_ns: int = Field(ge=0, description="When the agent published it (event time).")
    agent_version: str = ""
    model_version: str | None = None
    feature_spec: str | None = None
    trading_paused: bool = False
    backlog: dict[str, TableBacklog] = Field(default_factory=dict)
    dropped_rows: int = Field(0, ge=0, description="Rows deleted unsynced under the disk budget.")
    feeds: tuple[FeedHealth, ...] = ()
    connected_since_ns: int | None = None


CommandKind = Literal["resync", "pause_trading", "resume_trading", "rollback_model", "send_status"]
COMMAND_KINDS: tuple[str, ...] = CommandKind.__args__  # type: ignore[attr-defined]


class Command(Message):
    """A hub → agent command; the agent answers every one with a :class:`CommandResult`."""

    command_id: str = Field(min_length=1, max_length=64, description="Unique per command.")
    kind: CommandKind
    args: dict[str, str] = Field(default_factory=dict, description="e.g. {'symbol': 'BTC/USDT'}.")
    issued_ns: int = Field(ge=0)


class CommandResult(Message):
    """How an agent handled a command: done, refused (with the reason) or failed."""

    command_id: str = Field(max_length=64, description="'' when the command had none.")
    kind: str = Field(max_length=64)
    outcome: Literal["done", "refused", "failed"]
    detail: str = ""
    ts_ns: int = Field(ge=0)
