"""The edge migrations, the sync contract (shared/sync/tables.py) and the writer's inserts
name the same columns, in the same order."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.store.db import open_store
from edge.store.inserts import INSERTS
from shared.sync.tables import TABLES


@pytest.mark.parametrize("table", list(TABLES))
def test_every_synced_table_has_exactly_the_contract_columns(tmp_path: Path, table: str) -> None:
    """Tried: a freshly migrated database. Kept: each synced table's columns, in order,
    equal the contract's, with an AUTOINCREMENT id first."""
    conn = open_store(tmp_path / "edge.db")

    columns = tuple(row[1] for row in conn.execute(f'PRAGMA table_info("{table}")'))
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]

    assert columns == TABLES[table].columns
    assert "id INTEGER PRIMARY KEY AUTOINCREMENT" in sql
    assert table in INSERTS


def test_the_cursor_upsert_never_moves_a_cursor_backwards(tmp_path: Path) -> None:
    """Tried: cursor 50, then a late 30, then 70. Kept: 50, 50, 70."""
    conn = open_store(tmp_path / "edge.db")
    seen = []
    for acked in (50, 30, 70):
        conn.execute(INSERTS["sync_cursors"], ("trades", acked, acked))
        seen.append(conn.execute("SELECT acked_id FROM sync_cursors").fetchone()[0])

    assert seen == [50, 50, 70]


@pytest.mark.parametrize("table", list(TABLES))
def test_every_synced_insert_names_the_contract_data_columns_in_order(table: str) -> None:
    """Kept: the writer's statement inserts the data columns (not ``id``, the table's
    own AUTOINCREMENT) in the contract's order, one placeholder each."""
    sql = INSERTS[table]

    named, _, values = sql.partition(f" INTO {table} (")[2].partition(") VALUES (")

    assert tuple(named.split(", ")) == TABLES[table].data_columns
    assert values.rstrip(")").split(", ") == ["?"] * len(TABLES[table].data_columns)


@pytest.mark.parametrize("table", list(TABLES))
def test_a_synced_table_ignores_repeats_exactly_where_it_has_a_unique_key(
    tmp_path: Path, table: str
) -> None:
    """Tried: the migrated table's indexes. Kept: ``INSERT OR IGNORE`` where a unique
    index makes a repeat possible, a plain ``INSERT`` (a repeat is an error) elsewhere."""
    conn = open_store(tmp_path / "edge.db")

    unique = [row[1] for row in conn.execute(f'PRAGMA index_list("{table}")') if row[2]]

    assert (TABLES[table].on_conflict == "IGNORE") == bool(unique)
    assert INSERTS[table].startswith("INSERT OR IGNORE " if unique else "INSERT INTO ")
