"""The synced tables' column contract: each column's kind, NULL and allowed values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.sync.tables import TABLES, Column, schema_problem
from tests.shared.sync.test_codec import values

TRADE = [7, "kraken", "BTC/USD", "9001", "64000.5", "0.01", "buy", 10, 11, "live"]


def test_a_real_trade_row_fits_every_column() -> None:
    """Tried: a trades row as the edge writer stores one. Kept: no problem."""
    assert TABLES["trades"].row_problem(TRADE) is None


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("exchange", 5, "is 5 (int), not text"),
        ("symbol", None, "is NULL, the column is NOT NULL"),
        ("side", "hold", "is 'hold', not one of buy, sell"),
        ("ts_recv_ns", "soon", "is 'soon' (str), not an integer"),
        ("ts_recv_ns", True, "is True (bool), not an integer"),
        ("ts_recv_ns", 2**63, f"is {2**63}, outside SQLite's 64-bit integers"),
        ("price", "1,5", "is '1,5', not a decimal string"),
        ("price", "NaN", "is 'NaN', not a decimal string"),
        ("price", 64000.5, "is 64000.5 (float), not a decimal string"),
    ],
)
def test_a_wrong_value_is_named_with_its_column(column: str, value: object, says: str) -> None:
    """Tried: one wrong value in an otherwise real trade. Kept: that column and why."""
    row = list(TRADE)
    row[TABLES["trades"].columns.index(column)] = value

    assert TABLES["trades"].row_problem(row) == (column, says)


@pytest.mark.parametrize("value", ["0", "-12.50", "1E-8", "1.5E+3", "0.00000000"])
def test_decimal_strings_as_the_edge_writes_them_are_accepted(value: str) -> None:
    """Kept: fixed-point text (decimal_text) and str(Decimal)'s exponent form."""
    assert Column("price", "decimal").problem(value) is None


def test_json_floats_and_nullable_columns() -> None:
    """Kept: json text must parse, a float column takes only floats, a nullable one NULL."""
    assert Column("bids", "json").problem('[["1.0", "2"]]') is None
    assert Column("bids", "json").problem("[[") == "is '[[', not JSON text"
    assert Column("best_bid", "float", nullable=True).problem(None) is None
    assert Column("best_bid", "float", nullable=True).problem(3) == "is 3 (int), not a float"


def test_a_declared_type_or_not_null_flag_off_the_contract_is_named() -> None:
    """Tried: PRAGMA table_info rows of trades with ts_recv_ns declared TEXT, then with
    trade_id NOT NULL. Kept: the column, what it is declared and what the contract says."""
    table = TABLES["trades"]
    good = [(i, c.name, c.sqlite_type, int(not c.nullable), None, 0)
            for i, c in enumerate(table.specs)]
    text_time = [r if r[1] != "ts_recv_ns" else (*r[:2], "TEXT", *r[3:]) for r in good]
    strict_id = [r if r[1] != "trade_id" else (*r[:3], 1, *r[4:]) for r in good]

    assert schema_problem(table, good) is None
    assert schema_problem(table, text_time) == (
        "trades.ts_recv_ns is declared TEXT NOT NULL, the sync contract "
        "(shared/sync/tables.py) says INTEGER NOT NULL"
    )
    assert "trades.trade_id is declared TEXT NOT NULL" in (schema_problem(table, strict_id) or "")


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True), st.sampled_from(["buy", "sell", "hold", "64000.5", "1E-8",
                                                "1,5", "NaN", "{}", "[1]", "{", "", "kraken"]),
)


@settings(max_examples=300, deadline=None)
@given(
    table=st.sampled_from(sorted(TABLES)),
    data=st.data(),
)
def test_checking_a_batch_column_by_column_refuses_exactly_what_row_by_row_refuses(
    table: str, data: st.DataObject
) -> None:
    """Tried: batches of 0-6 rows of each table, every value drawn from right and wrong
    kinds (NULLs, bools, out-of-range integers, NaN, non-decimal and non-JSON text, values
    outside an allowed set). Kept: the batch check (what the hub runs on every batch)
    finds a problem exactly when some row has one, and names the first such row's."""
    spec = TABLES[table]
    good = [values(column) for column in spec.specs]
    # Mostly right values with a few wrong ones, so that whole batches fit often too.
    cell = [st.one_of(g, g, g, g, g, g, g, _VALUES) for g in good]
    rows = data.draw(st.lists(st.tuples(*cell).map(list), max_size=6))
    first = next(
        ((row[0], *wrong) for row in rows if (wrong := spec.row_problem(row)) is not None),
        None,
    )

    assert spec.rows_problem(rows) == first
