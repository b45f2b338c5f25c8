"""The batch codec's contract, as properties: any batch of any synced table whose rows fit
its columns comes back from the wire exactly, and every row still fits."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.sync.codec import decode_header, decode_rows, encode_batch
from shared.sync.messages import INT64_MAX, INT64_MIN, BatchHeader
from shared.sync.tables import TABLES, Column

_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX) | _TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_KINDS: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(INT64_MIN, INT64_MAX),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "text": _TEXT,
    # Exact decimal strings as the edge writes them (format(d, "f")).
    "decimal": st.decimals(allow_nan=False, allow_infinity=False, places=8).map(
        lambda d: format(d, "f")),
    "json": _JSON_VALUES.map(lambda v: orjson.dumps(v).decode()),
}
EPOCHS = st.text("0123456789abcdef", min_size=32, max_size=32)
NS = st.integers(0, INT64_MAX)


def values(column: Column) -> st.SearchStrategy[Any]:
    """What a column may hold: its kind, or its allowed values; NULL when nullable."""
    base = (st.sampled_from(sorted(column.allowed, key=str)) if column.allowed is not None
            else _KINDS[column.kind])
    return st.none() | base if column.nullable else base


@st.composite
def batches(draw: st.DrawFn) -> tuple[BatchHeader, list[list[Any]]]:
    table = TABLES[draw(st.sampled_from(sorted(TABLES)))]
    ids = sorted(draw(st.sets(st.integers(1, INT64_MAX), min_size=1, max_size=6)))
    rows = [[i, *(draw(values(c)) for c in table.specs[1:])] for i in ids]
    header = BatchHeader(
        agent_id=draw(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)),
        table=table.name, columns=table.columns, first_id=ids[0], last_id=ids[-1],
        rows=len(rows), created_ns=draw(NS), sent_ns=draw(NS),
        attempt=draw(st.integers(1, INT64_MAX)), epoch=draw(EPOCHS),
        table_last_id=draw(st.integers(ids[-1], INT64_MAX)),
    )
    return header, rows


@settings(max_examples=200, deadline=None)
@given(batches(), st.integers(0, 9))
def test_any_valid_batch_round_trips_through_the_wire_exactly(
    batch: tuple[BatchHeader, list[list[Any]]], level: int
) -> None:
    """Tried: batches of every synced table, rows of every column kind (NULLs, allowed
    values, 64-bit extremes, any text), at every zlib level. Kept: the same header and
    rows decoded, each row fitting its table's contract."""
    header, rows = batch
    payload = encode_batch(header, rows, level=level)

    decoded_header, body_start = decode_header(payload)
    decoded = decode_rows(payload, decoded_header, body_start, max_bytes=64_000_000)

    assert decoded_header == header
    assert decoded == rows
    assert all(TABLES[header.table].row_problem(row) is None for row in decoded)
    assert TABLES[header.table].rows_problem(decoded) is None
