"""The sync client against a real mosquitto and a tiny hub written with paho."""

from __future__ import annotations

import getpass
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.store.cursors import read_cursors
from edge.store.db import connect
from edge.store.writer import StoreWriter
from edge.sync.client import SyncClient
from provisioning.broker import Broker, free_port, plain_config
from shared import topics
from shared.clock import LiveClock
from shared.config.edge import EdgeConfig
from shared.sync.messages import AgentStatus, BatchHeader
from tests.edge.sync.helpers import AGENT, Hub, edge_config, new_writer, put_events, put_trades
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def hub(plain_broker: Broker) -> Iterator[Hub]:
    test_hub = Hub(plain_broker.port)
    # paho takes float seconds here, whatever its hint says: the hub must be back fast.
    test_hub.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
    yield test_hub
    test_hub.close()


def stored_cursors(db: Path, writer: StoreWriter) -> dict[str, int]:
    writer.flush()
    conn = connect(db, readonly=True)
    try:
        return read_cursors(conn, ["feed_events", "trades"])
    finally:
        conn.close()


def details(hub: Hub) -> list[str]:
    return sorted(row[4] for row in hub.rows("feed_events").values())


def retained_status(port: int) -> AgentStatus:
    """What a newcomer to the broker sees on the agent's status topic."""
    got: list[AgentStatus] = []
    done = threading.Event()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        got.append(AgentStatus.from_bytes(bytes(msg.payload)))
        done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe(topics.agent_status(AGENT), qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(5), "no retained status"
        return got[0]
    finally:
        client.disconnect()
        client.loop_stop()


def start_client(config: EdgeConfig, writer: StoreWriter, db: Path) -> SyncClient:
    client = SyncClient(config, writer, db, LiveClock())
    client.start()
    return client


def test_the_cursor_moves_only_when_the_hub_acknowledges(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: a hub that stores batches but stays silent, then starts acknowledging.
    Kept: cursor 0 (memory and database) while silent though every row was delivered;
    after the re-send on ack timeout, the cursor at the last id, in the database too."""
    hub.verdict = lambda header: "ignore"
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    put_events(writer, 0, 50)
    writer.flush()
    client = start_client(edge_config(tmp_path, plain_broker.port, ack_timeout_s=0.5), writer, db)
    try:
        assert hub.wait(lambda h: sum(x.rows for x in h.headers) >= 50)
        assert client.cursors["feed_events"] == 0
        assert stored_cursors(db, writer)["feed_events"] == 0

        hub.verdict = lambda header: "commit"

        assert client.wait_drained(10)
        assert client.cursors["feed_events"] == 50
        assert client.counters().batches_resent >= 1
    finally:
        client.stop()
    assert stored_cursors(db, writer)["feed_events"] == 50
    assert details(hub) == sorted(f"e{i}" for i in range(50))
    writer.close()


def test_rows_written_while_the_broker_is_down_arrive_after_it_restarts(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: sync 100 rows, stop mosquitto, write 200 more (collection goes on), start it
    again. Kept: every row at the hub exactly once (by id and content), cursor at the end."""
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    put_events(writer, 0, 100)
    writer.flush()
    config = edge_config(tmp_path, plain_broker.port, ack_timeout_s=1.0)
    client = start_client(config, writer, db)
    try:
        assert client.wait_drained(10)
        plain_broker.stop()
        put_events(writer, 100, 200)
        put_trades(writer, 0, 20)
        writer.flush()
        assert not client.wait_drained(0.3)

        plain_broker.start()

        assert client.wait_drained(20)
    finally:
        client.stop()
    assert details(hub) == sorted(f"e{i}" for i in range(300))
    assert sorted(hub.rows("feed_events")) == list(range(1, 301))
    assert len(hub.rows("trades")) == 20
    assert client.counters().connects >= 2
    writer.close()


def test_a_restarted_client_resends_exactly_the_unacknowledged_rows(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: a hub that acknowledges only ids up to 50 of 100, the client stopped, a new
    client on the same database. Kept: the new client's batches cover exactly ids 51-100."""
    hub.verdict = lambda header: "commit" if header.last_id <= 50 else "ignore"
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    put_events(writer, 0, 100)
    writer.flush()
    config = edge_config(tmp_path, plain_broker.port, batch_rows=10, max_inflight=20)
    first = start_client(config, writer, db)
    assert hub.wait(lambda h: {x.last_id for x in h.headers} >= {50, 100})
    assert first.wait_drained(0.2) is False
    first.stop()
    assert stored_cursors(db, writer)["feed_events"] == 50

    resent: list[BatchHeader] = []
    hub.verdict = lambda header: resent.append(header) or "commit"  # type: ignore[func-returns-value]
    second = start_client(config, writer, db)
    try:
        assert second.wait_drained(10)
    finally:
        second.stop()

    ids = sorted(i for h in resent for i in range(h.first_id, h.last_id + 1))
    assert ids == list(range(51, 101))
    assert all(h.attempt == 1 for h in resent)
    writer.close()


def test_a_rejected_batch_keeps_the_cursor_and_is_retried(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: a hub that rejects the first batch twice. Kept: the cursor at 0 after each
    rejection, the same range retried with growing attempts, then committed and drained."""
    rejections: list[BatchHeader] = []

    def verdict(header: BatchHeader) -> str:
        if header.first_id == 1 and len(rejections) < 2:
            rejections.append(header)
            return "reject"
        return "commit"

    hub.verdict = verdict
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    put_events(writer, 0, 20)
    writer.flush()
    client = start_client(edge_config(tmp_path, plain_broker.port, batch_rows=10), writer, db)
    try:
        assert hub.wait(lambda h: len(rejections) == 2)
        assert client.cursors["feed_events"] == 0
        assert client.wait_drained(10)
    finally:
        client.stop()
    assert [(h.first_id, h.attempt) for h in rejections] == [(1, 1), (1, 2)]
    assert client.counters().batches_rejected == 2
    assert sorted(hub.rows("feed_events")) == list(range(1, 21))
    writer.close()


def test_a_conflict_answer_is_recorded_logged_and_the_sync_moves_on(
    tmp_path: Path, plain_broker: Broker, hub: Hub, caplog: pytest.LogCaptureFixture,
) -> None:
    """Tried: a hub that answers the first batch 'conflict' (it holds other rows under
    those ids, kept both versions), the rest 'committed'. Kept: the agent drains (it
    neither re-sends the batch forever nor holds its table), logs an error, counts it
    and records it in sync_conflicts with the hub's reason; the range went once."""
    hub.verdict = lambda header: "conflict" if header.first_id == 1 else "commit"
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    put_events(writer, 0, 20)
    writer.flush()
    client = start_client(edge_config(tmp_path, plain_broker.port, batch_rows=10), writer, db)
    try:
        with caplog.at_level("ERROR", logger="edge.sync"):
            assert client.wait_drained(10)
    finally:
        client.stop()
    writer.flush()
    conn = connect(db, readonly=True)
    recorded = conn.execute(
        "SELECT table_name, first_id, last_id, rows, reason FROM sync_conflicts"
    ).fetchall()
    conn.close()

    assert recorded == [("feed_events", 1, 10, 10, "test hub says conflict")]
    assert client.counters().batches_conflicted == 1
    assert any(r.levelno == logging.ERROR and "feed_events/1-10" in r.getMessage()
               for r in caplog.records)
    assert [(h.first_id, h.attempt) for h in hub.headers] == [(1, 1), (11, 1)]
    writer.close()


def test_status_is_retained_online_then_offline_on_stop(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: connect, then a clean stop. Kept: a newcomer sees the retained status online
    with the backlog per table, then offline."""
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    put_events(writer, 0, 5)
    writer.flush()
    client = start_client(edge_config(tmp_path, plain_broker.port), writer, db)
    assert client.wait_drained(10)
    client.publish_status()
    assert hub.wait(lambda h: any(s.backlog["feed_events"].acked_id == 5 for s in h.statuses))

    online = retained_status(plain_broker.port)
    client.stop()
    offline = retained_status(plain_broker.port)

    assert online.state == "online" and online.backlog["feed_events"].last_id == 5
    assert online.connected_since_ns is not None
    assert offline.state == "offline"
    # Both name the database, so the hub reads the backlog's ids as that database's.
    assert online.epoch == offline.epoch == client.outbox.epoch
    writer.close()


AGENT_SCRIPT = """
import sys, time
from pathlib import Path
from edge.store.writer import StoreWriter
from edge.sync.client import SyncClient
from shared.clock import LiveClock
from shared.config.store import StoreConfig
from tests.edge.sync.helpers import edge_config
tmp = Path(sys.argv[1])
writer = StoreWriter(tmp / "edge.db", StoreConfig())
client = SyncClient(edge_config(tmp, int(sys.argv[2])), writer, tmp / "edge.db", LiveClock())
client.start()
while not client.connected:
    time.sleep(0.01)
print("connected", flush=True)
time.sleep(60)
"""


def test_the_last_will_marks_a_killed_agent_offline(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: an agent process killed with SIGKILL (no clean disconnect). Kept: the
    retained status flips from online to offline through the broker's last will."""
    script = textwrap.dedent(AGENT_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), str(plain_broker.port)],
        stdout=subprocess.PIPE, cwd=REPO, env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"connected"
        assert hub.wait(lambda h: any(s.state == "online" for s in h.statuses))
        assert retained_status(plain_broker.port).state == "online"

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)

        assert hub.wait(lambda h: any(s.state == "offline" for s in h.statuses))
        assert retained_status(plain_broker.port).state == "offline"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_publish_the_broker_refuses_is_logged_and_never_moves_the_cursor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: a broker whose ACL lets the agent publish its status but not its data.
    Kept: the refused PUBACKs (0x87 under MQTT v5) counted and logged as errors, the
    cursor at 0, and the connection (with a finite queue limit mosquitto 2.0.11 keeps a
    client whose publish it refused; with 0 it would drop it, and the agent's backoff
    would pace the reconnects)."""
    port = free_port()
    acl = tmp_path / "acl"
    acl.write_text(
        f"topic readwrite {topics.agent_status(AGENT)}\n"
        f"topic read {topics.hub_ack(AGENT)}\n"
    )
    # Started as root, mosquitto would drop to user `mosquitto` before reading the ACL.
    text = plain_config(port) + f"acl_file {acl}\nuser {getpass.getuser()}\n"
    broker = Broker(tmp_path / "broker", text, port).start()
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    put_events(writer, 0, 20)
    writer.flush()
    client = start_client(edge_config(tmp_path, port, batch_rows=10), writer, db)
    try:
        wait_for(lambda: client.counters().publish_failures >= 2, 5,
                 "two publishes refused by the ACL")
        assert client.cursors["feed_events"] == 0
        assert client.counters().connects == 1
    finally:
        client.stop()
        writer.close()
        broker.stop()
    assert any(
        r.levelname == "ERROR" and "refused batch feed_events/1-10" in r.getMessage()
        for r in caplog.records
    )


def test_the_status_is_refreshed_while_a_backlog_waits(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: 20,000 rows, a hub that never acknowledges (the backlog stays), a 0.1 s
    status interval. Kept: fresh online statuses keep coming, each with the full backlog."""
    hub.verdict = lambda header: "ignore"
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    put_events(writer, 0, 20_000)
    writer.flush()
    config = edge_config(tmp_path, plain_broker.port, status_interval_s=0.1)
    client = start_client(config, writer, db)
    try:
        assert hub.wait(lambda h: len(h.statuses) >= 4, 5)
    finally:
        client.stop()
        writer.close()
    online = [s for s in hub.statuses if s.state == "online"]
    assert len({s.ts_ns for s in online}) >= 4
    assert all(s.backlog["feed_events"].rows == 20_000 for s in online)
