"""A hub killed before its commit loses nothing: the broker hands the batch over again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hub.ingest.service import IngestService
from hub.store.db import connect
from hub.store.store import HubStore
from shared.config.hub import HubConfig
from tests.hub.agent_client import TestAgent, trade_batch


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.slow
def test_a_batch_received_by_a_hub_killed_before_its_commit_is_delivered_again(
    tmp_path: Path, hub_config: HubConfig, store: HubStore,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: `tickerml hub run` in its own process, its store's write lock held so its
    commit waits, a batch sent, then kill -9 before the commit; then a new hub. Kept:
    the batch, stored once and acknowledged by the new hub straight from the broker's
    copy (PUBACK only after commit) — the test agent never sends it twice."""
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
        assert wait_for(lambda: bool(store.agents())), "the hub process never subscribed"
        blocker = connect(store.path)
        blocker.execute("BEGIN IMMEDIATE")

        agent.send(trade_batch("pi-1", 1, 300))
        time.sleep(0.5)  # received, waiting on the write lock
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
