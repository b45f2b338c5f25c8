"""A hub killed before its commit loses nothing: the broker hands the batch over again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hub.ingest.service import IngestService
from hub.store.db import connect
from hub.store.store import HubStore
from shared.config.hub import HubConfig
from tests.hub.agent_client import TestAgent, trade_batch
from tests.waiting import wait_for


def status_lines(hub_config: HubConfig) -> list[str]:
    """The status lines the hub process has logged so far (its log file in data_dir)."""
    log_file = Path(hub_config.data_dir) / "logs" / "tickerml.log"
    if not log_file.exists():
        return []
    return [line for line in log_file.read_text().splitlines() if "ingest: connected" in line]


@pytest.mark.slow
def test_a_batch_received_by_a_hub_killed_before_its_commit_is_delivered_again(
    tmp_path: Path, hub_config: HubConfig, store: HubStore,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: `tickerml hub run` in its own process, its store's write lock held so its
    commit waits, a batch sent, then kill -9 once the hub's status line shows the batch
    received, taken by the writer and not committed; then a new hub. Kept: the batch,
    stored once and acknowledged by the new hub straight from the broker's copy (PUBACK
    only after commit) — the test agent never sends it twice."""
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump(hub_config.model_dump(mode="json")))
    agent = make_agent("pi-1")
    hub = subprocess.Popen(
        [sys.executable, "-c", "from shared.cli import main; main()", "hub", "run", "-c",
         str(config_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        agent.status("online")  # the hub records it once it is subscribed
        wait_for(lambda: bool(store.agents()), 15, "the hub process recorded the status")
        blocker = connect(store.path)
        blocker.execute("BEGIN IMMEDIATE")

        agent.send(trade_batch("pi-1", 1, 300))
        # Status + batch received, nothing committed, nothing queued: the writer holds the
        # batch and waits on the write lock (the status line comes every 0.5 s).
        waiting = re.compile(r"received=2, batches=0, .* queued=0")
        wait_for(lambda: any(waiting.search(line) for line in status_lines(hub_config)), 10,
                 "the hub's status line: the batch received, taken, not committed")
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait(10)
        blocker.execute("ROLLBACK")
        blocker.close()
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
    assert store.count("trades", "pi-1") == 0
    assert agent.acks == []

    again = IngestService(hub_config, store=store)
    again.start()
    try:
        [ack] = agent.wait_acks(1, timeout_s=10)
    finally:
        again.stop()

    assert (ack.outcome, ack.rows_new) == ("committed", 300)
    assert store.count("trades", "pi-1") == 300
