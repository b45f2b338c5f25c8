"""The sync's wire messages: typed, closed, versioned (pydantic, frozen, extra forbidden).

Batches carry rows and travel compressed (:mod:`shared.sync.codec`); everything
else here is small JSON. Every message names its ``schema_version`` and the
agent it concerns, so the hub can refuse one addressed from the wrong topic.
"""

from __future__ import annotations

from typing import Any, Final, Literal, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.errors import MessageError

SCHEMA_VERSION: Final = 2
"""Version of these messages and of the synced tables' columns (``shared.sync.tables``).

2: every agent database has an epoch (``shared.sync.tables.EPOCH_TABLE``), carried in
batch headers, statuses and acks; a header carries its table's newest id; an ack may
say ``conflict``; the synced columns are typed. The hub still reads version 1
messages from agents not upgraded yet: their rows go to the ``legacy`` epoch and
their acks are written in version 1's shape (:meth:`Ack.to_bytes`).
"""

SchemaVersion = Literal[1, 2]

EPOCH_PATTERN = r"^[0-9a-f]{32}$"
"""An agent database's epoch: 32 hex digits, random, made by its first migration."""

AgentId = str

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
"""The integers a message may carry: SQLite's INTEGER, signed 64-bit. JSON and pydantic
take any size, and SQLite refuses a larger one with OverflowError (not a
``sqlite3.Error``) only at the insert, so every message is held to this range when
it is parsed."""


def _integer_out_of_range(value: object, path: str) -> tuple[str, int] | None:
    """(path, value) of the first integer in ``value`` (models, mappings and sequences
    walked) outside :data:`INT64_MIN`..:data:`INT64_MAX`; None when all fit."""
    if type(value) is int:
        return None if INT64_MIN <= value <= INT64_MAX else (path, value)
    if isinstance(value, BaseModel):
        items: Any = ((f"{path}.{k}" if path else k, getattr(value, k))
                      for k in type(value).model_fields)
    elif isinstance(value, dict):
        items = ((f"{path}[{k!r}]", v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for where, item in items:
        found = _integer_out_of_range(item, where)
        if found is not None:
            return found
    return None


class Message(BaseModel):
    """Base of every sync message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: SchemaVersion = Field(
        SCHEMA_VERSION, description="Wire schema version (SCHEMA_VERSION; 1 still read)."
    )
    agent_id: AgentId = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The agent concerned.")

    @model_validator(mode="after")
    def _integers_fit_sqlite(self) -> Self:
        found = _integer_out_of_range(self, "")
        if found is not None:
            raise ValueError(
                f"field {found[0]} is {found[1]}, outside SQLite's 64-bit integers"
            )
        return self

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
    epoch: str | None = Field(
        None, pattern=EPOCH_PATTERN,
        description="The epoch of the agent database the rows come from (schema 2 on).",
    )
    table_last_id: int | None = Field(
        None, ge=1,
        description="The table's newest id in that database when the batch was built "
        "(schema 2 on): the batch's ids can be no higher.",
    )

    @model_validator(mode="after")
    def _fields_of_its_version(self) -> Self:
        carried = self.epoch is not None, self.table_last_id is not None
        if self.schema_version >= 2 and not all(carried):
            raise ValueError("a schema 2 batch header carries epoch and table_last_id")
        if self.schema_version == 1 and any(carried):
            raise ValueError("a schema 1 batch header has no epoch or table_last_id")
        return self

    @property
    def batch_id(self) -> str:
        return f"{self.agent_id}/{self.table}/{self.first_id}-{self.last_id}"


class Ack(Message):
    """The hub's answer to one batch, sent only after its durable commit (or refusal).

    ``committed``: every row is stored. ``rejected``: nothing is (dead-lettered, with
    the reason); the agent retries. ``conflict``: the batch is kept, but some rows
    differ from the rows the hub already holds under the same (agent, epoch, id) —
    the hub kept both versions and alerts; the agent records it and moves on, since
    sending it again can only conflict again.
    """

    table: str
    first_id: int = Field(ge=0)
    last_id: int = Field(ge=0)
    outcome: Literal["committed", "rejected", "conflict"]
    reason: str = Field("", description="Why a batch was rejected or conflicts.")
    rows_new: int = Field(0, ge=0, description="Rows the hub did not have yet.")
    ts_ns: int = Field(ge=0, description="When the hub committed or refused it.")
    epoch: str | None = Field(
        None, pattern=EPOCH_PATTERN,
        description="The epoch of the batch answered (None: a schema 1 batch, or a "
        "header the hub could not read).",
    )
    rows_conflict: int = Field(0, ge=0, description="Rows that differ from the hub's copy.")

    @model_validator(mode="after")
    def _fields_of_its_version(self) -> Self:
        if self.schema_version == 1 and (
            self.epoch is not None or self.rows_conflict or self.outcome == "conflict"
        ):
            raise ValueError("a schema 1 ack has no epoch and no conflict outcome")
        return self

    def to_bytes(self) -> bytes:
        """JSON; in version 1's shape (without the fields it did not have) for a
        version 1 agent, whose closed model would refuse them."""
        data: dict[str, Any] = self.model_dump(mode="json")
        if self.schema_version == 1:
            del data["epoch"], data["rows_conflict"]
        return orjson.dumps(data)


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
    epoch: str | None = Field(
        None, pattern=EPOCH_PATTERN,
        description="The epoch of the agent's database (schema 2 on); its backlog's ids "
        "are that database's.",
    )
    agent_version: str = ""
    model_version: str | None = None
    feature_spec: str | None = None
    trading_paused: bool = False
    backlog: dict[str, TableBacklog] = Field(default_factory=dict)
    dropped_rows: int = Field(0, ge=0, description="Rows deleted unsynced under the disk budget.")
    store_full_since_ns: int | None = Field(
        None, ge=0,
        description="Since when the agent's disk has been full (its writer holds rows in "
        "memory and trading is halted); None while it stores normally.",
    )
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
    expires_ns: int | None = Field(
        None, ge=0,
        description="After this (the agent's clock), the agent answers 'expired' and does not "
        "run it: a command kept for an offline agent must not act hours late.",
    )


class CommandResult(Message):
    """How an agent handled a command: done, refused (with the reason), failed, or expired
    (it arrived after its ``expires_ns`` and was not run)."""

    command_id: str = Field(max_length=64, description="'' when the command had none.")
    kind: str = Field(max_length=64)
    outcome: Literal["done", "refused", "failed", "expired"]
    detail: str = ""
    ts_ns: int = Field(ge=0)
