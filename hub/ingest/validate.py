"""Checking one data message before anything of it is stored.

Cheap checks first, so a hostile or broken payload costs little: the payload's size,
then the topic, then the small uncompressed header (agent and table must match the
topic), and only then the bounded inflate and the row checks of
:func:`shared.sync.codec.decode_rows`. Every refusal is a :class:`Rejected` naming
the reason and whatever is known of the batch, so the agent can be told which range
was refused.
"""

from __future__ import annotations

from hub.store.records import ValidBatch
from shared.config.hub import IngestConfig
from shared.errors import MessageError
from shared.sync.codec import decode_header, decode_rows
from shared.sync.messages import BatchHeader
from shared.sync.tables import TABLES
from shared.topics import AgentTopic


class Rejected(Exception):
    """Why a data message was refused, and the batch's range when its header was readable."""

    def __init__(self, reason: str, table: str, first_id: int = 0, last_id: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.table = table
        self.first_id = first_id
        self.last_id = last_id


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
    try:
        rows = decode_rows(
            payload, header, body_start, max_bytes=config.max_batch_bytes, where=where
        )
    except MessageError as exc:
        raise _refuse(str(exc), table, header) from None
    return ValidBatch(header, rows, len(payload), received_ns)


def _refuse(reason: str, table: str, header: BatchHeader) -> Rejected:
    return Rejected(reason, table, header.first_id, header.last_id)


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
