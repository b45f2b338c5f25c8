"""A flood of garbage from one client costs the hub bounded memory, disk and time.

The hub runs as its own process (``tickerml hub run``) so its memory can be read from
``/proc``; the flood is 1 KiB of random bytes at QoS 1 from one paho client on
loopback, in a loop bounded by both time and count; an honest agent keeps sending
batches through it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from hub.store.store import HubStore
from provisioning.broker import Broker
from shared.config.hub import HubConfig
from shared.topics import agent_data
from tests.hub.agent_client import TestAgent, trade_batch
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

FLOOD_S = 4.0
FLOOD_MAX = 40_000
OUTSTANDING = 500
HONEST_EVERY_S = 0.2
HONEST_ROWS = 50


def rss_bytes(pid: int) -> int:
    """The process's resident set, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture()
def hub_process(tmp_path: Path, hub_config: HubConfig, store: HubStore) -> Iterator[int]:
    """`tickerml hub run` in its own process on the test broker; its pid."""
    config_file = tmp_path / "hub.yaml"
    config = hub_config.model_dump(mode="json")
    config["logging"] = {"level": "ERROR", "file": None}
    config_file.write_text(yaml.safe_dump(config))
    with (tmp_path / "hub.stderr").open("wb") as stderr:
        hub = subprocess.Popen(
            [sys.executable, "-c", "from shared.cli import main; main()", "hub", "run", "-c",
             str(config_file)],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    try:
        yield hub.pid
    finally:
        hub.terminate()
        hub.wait(30)
        print((tmp_path / "hub.stderr").read_text()[-3000:])


def flood(port: int, topic: str, *, during: Callable[[], None]) -> int:
    """Publish 1 KiB garbage on ``topic`` for FLOOD_S (at most FLOOD_MAX messages, at most
    OUTSTANDING without a PUBACK), calling ``during`` every HONEST_EVERY_S; messages sent."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="mallory", protocol=paho.MQTTv5)
    client.max_inflight_messages_set(100)
    acked = threading.Semaphore(OUTSTANDING)
    client.on_publish = lambda *args: acked.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    sent = 0
    try:
        end = next_honest = time.monotonic()
        end += FLOOD_S
        while sent < FLOOD_MAX and time.monotonic() < end:
            if not acked.acquire(timeout=10):
                raise AssertionError("the broker stopped acknowledging the flood")
            client.publish(topic, os.urandom(1024), qos=1)
            sent += 1
            if time.monotonic() >= next_honest:
                during()
                next_honest += HONEST_EVERY_S
        for _ in range(OUTSTANDING):
            assert acked.acquire(timeout=30), "the flood's last PUBACKs never came"
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def test_a_garbage_flood_from_one_client_leaves_the_hub_flat_and_an_honest_agent_whole(
    hub_process: int, store: HubStore, plain_broker: Broker,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: a hub process, an honest agent pi-1 sending a 50-row batch every 0.2 s,
    and a client flooding 1 KiB garbage at QoS 1 on mallory's data topic for 4 s.
    Kept: every pi-1 row stored and acknowledged; the hub's RSS after the flood within
    15 MiB of before it (~5 MiB here; ~40 MiB, never given back, with no rate limit);
    mallory's dead letters bounded by the budget, the rest counted (rate-limited unread,
    or refused and not kept); the hub store small."""
    honest = make_agent("pi-1")
    honest.status("online")
    wait_for(lambda: store.agent("pi-1") is not None, 15, "the hub process subscribed")
    first_id = 1
    honest.send(trade_batch("pi-1", first_id, HONEST_ROWS))
    first_id += HONEST_ROWS
    honest.wait_acks(1)
    before = rss_bytes(hub_process)

    def honest_batch() -> None:
        nonlocal first_id
        honest.send(trade_batch("pi-1", first_id, HONEST_ROWS))
        first_id += HONEST_ROWS

    sent = flood(plain_broker.port, agent_data("mallory", "trades"), during=honest_batch)
    honest_batch()  # queued behind the whole flood: its ack means the hub got through it
    batches = (first_id - 1) // HONEST_ROWS
    acks = honest.wait_acks(batches, timeout_s=120)
    after = rss_bytes(hub_process)

    assert [a.outcome for a in acks] == ["committed"] * batches
    assert store.count("trades", "pi-1") == first_id - 1
    assert sent > 2_000, f"the flood sent only {sent} messages"
    assert after - before < 15 * 2**20, f"RSS {before / 2**20:.0f} -> {after / 2**20:.0f} MiB"
    def counted() -> int:
        counts = store.ingest_counts().get("mallory")
        return 0 if counts is None else counts.refused + counts.rate_limited

    # The rate limit's counts reach the store once a second.
    wait_for(lambda: counted() == sent, 10, f"all {sent} flood messages counted")
    kept = store.dead_letter_counts().get("mallory", 0)
    counts = store.ingest_counts()["mallory"]
    assert 0 < kept <= 100 + 16, "mallory's dead letters: the budget and one sample a reason"
    assert counts.refused - counts.dropped == kept
    assert counts.rate_limited > 0 and counts.dropped > 0
    assert store.path.stat().st_size < 20 * 2**20
