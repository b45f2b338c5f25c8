"""A batch on the wire: a small JSON header, then the rows, zlib-compressed.

Layout: ``b"TMB1"``, the header's length (4 bytes, big-endian), the header
(:class:`~shared.sync.messages.BatchHeader` as JSON), then ``zlib(orjson(rows))``
where ``rows`` is a list of lists in the header's column order. The header comes
first and uncompressed so the hub can refuse a batch (wrong agent, unknown table,
too large) before it inflates anything, and inflating is bounded so a small
payload cannot expand into a large one (a "zip bomb").

Rows hold only JSON scalars: the edge stores prices as exact decimal strings, so
nothing is lost; floats are the convenience ``REAL`` columns.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

import orjson

from shared.errors import MessageError
from shared.sync.messages import BatchHeader
from shared.sync.tables import TABLES

MAGIC = b"TMB1"
_LEN = struct.Struct(">I")
MAX_HEADER_BYTES = 16 * 1024

Row = Sequence[Any]


def encode_batch(header: BatchHeader, rows: Sequence[Row], *, level: int = 1) -> bytes:
    """The wire bytes for ``header`` and its ``rows`` (``level``: zlib's, 1 is fastest)."""
    head = header.to_bytes()
    body = zlib.compress(orjson.dumps(rows), level)
    return MAGIC + _LEN.pack(len(head)) + head + body


def decode_header(payload: bytes, *, where: str = "batch") -> tuple[BatchHeader, int]:
    """The header and where the compressed rows start; :class:`MessageError` if malformed."""
    if len(payload) < len(MAGIC) + _LEN.size or not payload.startswith(MAGIC):
        raise MessageError(f"{where}: not a TickerML batch (no {MAGIC!r} prefix)")
    (size,) = _LEN.unpack_from(payload, len(MAGIC))
    start = len(MAGIC) + _LEN.size
    if size > MAX_HEADER_BYTES or start + size > len(payload):
        raise MessageError(f"{where}: header length {size} runs past the payload")
    header = BatchHeader.from_bytes(payload[start:start + size], where=where)
    return header, start + size


def decode_rows(
    payload: bytes, header: BatchHeader, body_start: int, *, max_bytes: int,
    where: str = "batch",
) -> list[list[Any]]:
    """The rows after the header, checked against it and the table's contract.

    Refuses (with :class:`MessageError`) a body that inflates past ``max_bytes``, is not
    a list of rows, has rows of the wrong width, ids out of order or outside the
    header's range, a row count other than the header's, or non-scalar values.
    """
    table = TABLES.get(header.table)
    if table is None:
        raise MessageError(f"{where}: unknown table {header.table!r}")
    if header.columns != table.columns:
        raise MessageError(
            f"{where}: columns {list(header.columns)} differ from {header.table}'s "
            f"{list(table.columns)}"
        )
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload[body_start:], max_bytes + 1)
    except zlib.error as exc:
        raise MessageError(f"{where}: rows do not inflate: {exc}") from None
    if len(raw) > max_bytes or inflater.unconsumed_tail:
        raise MessageError(f"{where}: rows inflate past the {max_bytes}-byte limit")
    if not inflater.eof:
        raise MessageError(f"{where}: rows are truncated (the compressed stream is cut short)")
    try:
        rows = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"{where}: rows are not JSON: {exc}") from None
    _check_rows(rows, header, len(table.columns), where)
    return rows  # type: ignore[no-any-return]


def _check_rows(rows: object, header: BatchHeader, width: int, where: str) -> None:
    if not isinstance(rows, list):
        raise MessageError(f"{where}: rows are not a list")
    if len(rows) != header.rows:
        raise MessageError(f"{where}: {len(rows)} rows, the header says {header.rows}")
    previous = header.first_id - 1
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise MessageError(f"{where}: row {i} is not a list of {width} values")
        local_id = row[0]
        if type(local_id) is not int or local_id <= previous:
            raise MessageError(f"{where}: row {i} has id {local_id!r}, not above {previous}")
        previous = local_id
        for value in row:
            if value is not None and type(value) not in (str, int, float):
                raise MessageError(f"{where}: row {i} holds a {type(value).__name__}")
    if rows and (rows[0][0] != header.first_id or rows[-1][0] != header.last_id):
        raise MessageError(
            f"{where}: ids {rows[0][0]}..{rows[-1][0]} differ from the header's "
            f"{header.first_id}..{header.last_id}"
        )
