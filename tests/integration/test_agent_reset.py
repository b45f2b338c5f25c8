"""An agent whose database is replaced: a real deployment, the SD card swapped between runs.

Before database epochs the hub keyed rows on (agent, local id) with ``INSERT OR IGNORE``
and acknowledged every batch: the new database's ids started again at 1, so every row
it wrote under an id the old one had used was dropped, unlogged, while the agent's
cursor said nothing was pending.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from shared.readers.stores import agent_epoch
from shared.sync.tables import TABLES
from tests.integration.harness import (
    REPO,
    Deployment,
    edge_counts,
    edge_digest,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_a_replaced_database_is_synced_whole_as_a_second_series(deploy: Deployment) -> None:
    """Tried: `tickerml edge run` (Binance.US + Kraken, paper trading) collects and syncs,
    is stopped and drained; its data_dir's edge.db is moved away (a new SD card) and the
    same agent runs again on a fresh database, then is stopped and drained. Kept: every
    synced table of each database identical at the hub, row for row, under that
    database's epoch (the second run's rows were dropped), and `tickerml hub agents`
    showing the agent's two epochs, the current one the new database's."""
    deploy.start_broker()
    deploy.start_simulator()
    deploy.start_hub()
    agent = deploy.add_agent("pi-reset")

    deploy.start_agent(agent)
    deploy.wait_syncing(agent, trades=20, book_snapshots=2)
    assert deploy.terminate(agent.agent_id) == 0
    deploy.drain(agent)
    old_db = agent.folder / "old-card.db"
    shutil.move(agent.db, old_db)
    for suffix in ("-wal", "-shm"):
        agent.db.with_name(agent.db.name + suffix).unlink(missing_ok=True)
    with_old = deploy.hub_counts(agent.agent_id)

    deploy.start_agent(agent)
    wait_until(
        lambda: (counts := deploy.hub_counts(agent.agent_id))["trades"] >= with_old["trades"] + 20
        and counts["book_snapshots"] >= with_old["book_snapshots"] + 2,
        60, "the new database's trades and snapshots at the hub",
    )
    assert deploy.terminate(agent.agent_id) == 0
    deploy.drain(agent)

    both = {t: n + edge_counts(agent.db)[t] for t, n in edge_counts(old_db).items()}
    assert deploy.hub_counts(agent.agent_id) == both
    epochs = []
    for db in (old_db, agent.db):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        epochs.append(agent_epoch(conn))
        conn.close()
    assert epochs[0] != epochs[1]
    with deploy.hub_store() as store:
        for db, epoch in zip((old_db, agent.db), epochs, strict=True):
            for table in TABLES:
                edge = edge_digest(db, table)
                assert store.table_digest(table, agent.agent_id, epoch) == edge, (db, table)
        new_rows = store.count("trades", agent.agent_id, epochs[1])
    assert new_rows > 0
    listed = subprocess.run(
        [sys.executable, "-m", "shared.cli", "hub", "agents", "-c", str(deploy.hub_config),
         "--json"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )
    [view] = json.loads(listed.stdout)
    assert [e["epoch"] for e in view["epochs"]] == epochs
    assert view["epoch"] == epochs[1] and view["conflicts"] == 0
