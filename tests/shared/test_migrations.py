"""Named migrations: a database from a newer TickerML is refused, not written into.

One check (``shared.migrations.check_known``) serves both stores; each is tried here
on a real file made by the store itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.store import db as edge_db
from edge.store.schema import MIGRATIONS as EDGE_MIGRATIONS
from edge.store.writer import StoreWriter
from hub.store import db as hub_db
from hub.store.schema import MIGRATIONS as HUB_MIGRATIONS
from hub.store.store import HubStore
from shared.config.store import StoreConfig
from shared.errors import OperationalError

Opener = Callable[[Path], object]
STORES: dict[str, tuple[Opener, list[tuple[str, str]], list[Opener]]] = {
    "edge": (
        lambda p: StoreWriter(p, StoreConfig()).close(), EDGE_MIGRATIONS,
        [edge_db.open_store, lambda p: StoreWriter(p, StoreConfig())],
    ),
    "hub": (
        lambda p: HubStore(p).close(), HUB_MIGRATIONS,
        [hub_db.open_store, HubStore],
    ),
}


def record(path: Path, name: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _migrations (name, applied_at_ns) VALUES (?, 1)", (name,))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("store", list(STORES))
def test_a_migration_this_version_does_not_know_is_refused_and_the_file_left_alone(
    tmp_path: Path, store: str
) -> None:
    """Tried: each way of opening the store for writing, on a store that records a
    migration `0009_future` after this version's. Kept: OperationalError naming the
    file, the unknown migration and the newest known one, before anything is written:
    the file is byte-identical and nothing is left beside it (was: opened, migrated
    and written into)."""
    make, migrations, openers = STORES[store]
    path = tmp_path / f"{store}.db"
    make(path)
    record(path, "0009_future")
    before = path.read_bytes()

    for opener in openers:
        with pytest.raises(OperationalError) as caught:
            opener(path)

        assert str(caught.value) == (
            f"{path}: schema has migration 0009_future that this version (knows up to "
            f"{migrations[-1][0]}) does not know; upgrade tickerml"
        )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        path.name
    ]


@pytest.mark.parametrize("store", list(STORES))
def test_a_store_of_this_version_opens_again(tmp_path: Path, store: str) -> None:
    """Tried: reopening a store this version made. Kept: no refusal, nothing re-applied."""
    make, migrations, _ = STORES[store]
    path = tmp_path / f"{store}.db"
    make(path)

    conn = (edge_db if store == "edge" else hub_db).open_store(path)
    applied = conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0]
    conn.close()

    assert applied == len(migrations)
