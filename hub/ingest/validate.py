"""Checking one data message before anything of it is stored.

Cheap checks first, so a hostile or broken payload costs little: the payload's size,
then the topic, then the small uncompressed header (agent and table must match the
topic; its ids no higher than the table's newest id it reports), and only then the
bounded inflate and the row checks of :func:`shared.sync.codec.decode_rows`, then
every value of every row against its column in the contract
(:meth:`shared.sync.tables.SyncedTable.row_problem`: kind, NULL, allowed values).
Every refusal is a :class:`Rejected` naming the reason and whatever is known of the
batch (for a wrong value: the table, the row's id and the column), so the agent can be
told which range was refused. :func:`check_reported` then holds a batch to the agent's
own status.
"""

from __future__ import annotations

from hub.store.records import ValidBatch
from shared.config.hub import IngestConfig
from shared.errors import MessageError
from shared.sync.codec import decode_header, decode_rows
from shared.sync.messages import AgentStatus, BatchHeader
from shared.sync.tables import LEGACY_EPOCH, TABLES
from shared.topics import AgentTopic


class Rejected(Exception):
    """Why a data message was refused, and the batch's range when its header was readable."""

    def __init__(
        self, reason: str, table: str, first_id: int = 0, last_id: int = 0,
        header: BatchHeader | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.table = table
        self.first_id = first_id
        self.last_id = last_id
        self.header = header
        """The batch's header when it was readable: the ack names its epoch, in its
        schema version."""


def validate_batch(
    topic: AgentTopic, payload: bytes, config: IngestConfig, *, received_ns: int
) -> ValidBatch:
    """The batch in ``payload`` for data topic ``topic``, or :class:`Rejected` saying why."""
    table = topic.table or ""
    where = f"{topic.agent_id}/{table}"
    header: BatchHeader | None = None
    try:
        # The header is bounded (16 KiB) and uncompressed: reading it first lets even an
        # oversized payload's refusal name the range the agent must deal with.
        header, body_start = decode_header(payload, where=where)
    except MessageError as exc:
        if len(payload) > config.max_payload_bytes:
            raise _too_large(payload, config, table, None) from None
        raise Rejected(str(exc), table) from None
    if len(payload) > config.max_payload_bytes:
        raise _too_large(payload, config, table, header)
    if header.agent_id != topic.agent_id:
        raise _refuse(
            f"{where}: foreign batch: the header names agent {header.agent_id!r}, the topic "
            f"{topic.agent_id!r}", table, header,
        )
    if header.table != table:
        raise _refuse(
            f"{where}: the header names table {header.table!r}, the topic {table!r}",
            table, header,
        )
    if table not in TABLES:
        raise _refuse(f"{where}: unknown table {table!r}", table, header)
    if header.last_id < header.first_id:
        raise _refuse(
            f"{where}: id range {header.first_id}..{header.last_id} runs backwards", table, header
        )
    if header.table_last_id is not None and header.last_id > header.table_last_id:
        raise _refuse(
            f"{where}: ids run ahead of the agent's database: last id {header.last_id}, "
            f"the header says the table's newest id was {header.table_last_id}",
            table, header,
        )
    try:
        rows = decode_rows(
            payload, header, body_start, max_bytes=config.max_batch_bytes, where=where
        )
    except MessageError as exc:
        raise _refuse(str(exc), table, header) from None
    spec = TABLES[table]
    # Every row, before anything is stored: one wrong value refuses the whole batch.
    wrong = spec.rows_problem(rows)
    if wrong is not None:
        raise _refuse(
            f"{where}: {table} row id {wrong[0]}: column {wrong[1]} {wrong[2]}", table, header
        )
    return ValidBatch(header, rows, len(payload), received_ns)


def check_reported(batch: ValidBatch, status: AgentStatus | None) -> None:
    """:class:`Rejected` when ``batch``'s ids run ahead of what its database had written
    by the time of the agent's own ``status``.

    The agent reads its backlog after stamping a status (``edge/sync/client.py``) and
    stamps a batch after reading its rows, so a batch built before a status of the same
    epoch can hold no id above that status's ``last_id`` for its table. Such a batch is
    not the database's (a copy that ran ahead, a forgery, a bug) and storing it would
    hide the real rows with those ids when they come: it is refused. A batch built after
    the status is held to its own header's ``table_last_id`` (:func:`validate_batch`).
    """
    if status is None:
        return
    epoch = status.epoch or (LEGACY_EPOCH if status.schema_version == 1 else None)
    backlog = status.backlog.get(batch.table)
    if epoch != batch.epoch or backlog is None or status.ts_ns < batch.header.created_ns:
        return
    header = batch.header
    claimed = max(header.last_id, header.table_last_id or 0)
    if claimed > backlog.last_id:
        where = f"{batch.agent_id}/{batch.table}"
        raise _refuse(
            f"{where}: ids run ahead of the agent's database: the batch (built at "
            f"{header.created_ns}) reaches id {claimed}, the agent's status of "
            f"{status.ts_ns} (epoch {epoch}) says {backlog.last_id} is the newest",
            batch.table, header,
        )


def _refuse(reason: str, table: str, header: BatchHeader) -> Rejected:
    return Rejected(reason, table, header.first_id, header.last_id, header)


def _too_large(
    payload: bytes, config: IngestConfig, table: str, header: BatchHeader | None
) -> Rejected:
    reason = (
        f"payload of {len(payload)} bytes exceeds ingest.max_payload_bytes "
        f"({config.max_payload_bytes})"
    )
    if header is None:
        return Rejected(reason, table)
    return _refuse(reason, table, header)
