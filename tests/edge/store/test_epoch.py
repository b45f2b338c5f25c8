"""The agent database's epoch (migration 0006) and the writer's check of the sync contract."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from edge.store.db import connect, database_epoch, open_store
from edge.store.schema import MIGRATIONS
from edge.store.writer import StoreWriter
from shared.config.store import StoreConfig
from shared.errors import OperationalError
from shared.migrations import apply_migrations


def test_every_new_database_gets_its_own_random_epoch_and_keeps_it(tmp_path: Path) -> None:
    """Tried: two new databases, the first opened twice. Kept: 32 hex digits each,
    different from each other, the same on the second open (made once, by its
    migration)."""
    first = database_epoch(open_store(tmp_path / "a.db"), where="a")
    second = database_epoch(open_store(tmp_path / "b.db"), where="b")

    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second
    assert database_epoch(open_store(tmp_path / "a.db"), where="a") == first


def test_a_database_made_before_epochs_gets_one_and_keeps_its_rows(tmp_path: Path) -> None:
    """Tried: a database migrated by the previous release (0001-0005) with rows in it,
    then opened by this one. Kept: an epoch now, every row and id as it was."""
    path = tmp_path / "edge.db"
    conn = connect(path)
    apply_migrations(conn, MIGRATIONS[:5])
    conn.execute("INSERT INTO feed_events (exchange, symbol, kind, detail, ts_ns) "
                 "VALUES ('kraken', 'BTC/USD', 'connected', 'e1', 1)")
    with pytest.raises(OperationalError, match="has no epoch"):
        database_epoch(conn, where="edge.db")
    conn.close()

    reopened = open_store(path)

    assert re.fullmatch(r"[0-9a-f]{32}", database_epoch(reopened, where="edge.db"))
    assert reopened.execute("SELECT id, detail FROM feed_events").fetchall() == [(1, "e1")]


def test_the_writer_refuses_a_synced_column_declared_off_the_contract(tmp_path: Path) -> None:
    """Tried: a database whose trades.ts_recv_ns is declared TEXT (a migration that
    forgot the contract: SQLite would then keep text there). Kept: the store writer
    refuses to start, naming the column, what it is and what the contract says."""
    rebuilt = tmp_path / "typed.db"
    open_store(rebuilt).close()
    conn = sqlite3.connect(rebuilt)
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'trades'").fetchone()[0]
    conn.executescript(
        "DROP INDEX trades_unique; DROP INDEX trades_time; DROP TABLE trades;"
        + sql.replace("ts_recv_ns INTEGER NOT NULL", "ts_recv_ns TEXT NOT NULL") + ";"
    )
    conn.close()

    with pytest.raises(OperationalError, match=(
        r"trades\.ts_recv_ns is declared TEXT NOT NULL, the sync contract "
        r"\(shared/sync/tables\.py\) says INTEGER NOT NULL"
    )):
        StoreWriter(rebuilt, StoreConfig())
