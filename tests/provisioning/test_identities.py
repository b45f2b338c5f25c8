"""One certificate, one client id: nobody can take over the hub's or another agent's session.

The ACL limits topics, not client ids: without ``use_username_as_clientid`` any agent's
certificate could connect as client "hub" (or "pi-2") and the broker would close the
real one's connection, and with a clean start wipe the hub's persistent session. The
broker now makes every client id the certificate's CN. The catch it brings: a command
client with the hub's own certificate would become client "hub" too, so `hub command`
has its own identity (``hub-cli``, ``command_mqtt`` in hub.yaml).

Real parts throughout: the provisioned config in a real mosquitto, real paho clients over
TLS, the hub's real ingest and `hub command` with the provisioned hub-mqtt.yaml.
"""

from __future__ import annotations

import getpass
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from click.testing import CliRunner

from hub.cli import hub_group
from hub.commands import CommandOutcome, new_command, send_command
from hub.ingest.service import IngestService
from hub.store.store import HubStore
from provisioning.broker import free_port
from provisioning.bundle import provision_broker
from shared import topics
from shared.config.hub import HubConfig, IngestConfig
from shared.errors import ConfigError
from shared.sync.messages import AgentStatus, Command, CommandResult
from tests.hub.conftest import running_ingest
from tests.provisioning.conftest import Probe, TlsBroker, require_mosquitto, start_broker
from tests.waiting import wait_for

Connect = Callable[..., Probe]


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """A folder provisioned for agents pi-1 and pi-2, and mosquitto running its config."""
    require_mosquitto()
    root = tmp_path_factory.mktemp("identities")
    port = free_port()
    report = provision_broker(
        root, agents=("pi-1", "pi-2"), port=port, bind="127.0.0.1",
        broker_user=getpass.getuser(),
    )
    broker = start_broker(report.layout, port)
    try:
        yield TlsBroker(broker, report.layout)
    finally:
        broker.stop()


class BrokerLog:
    """What mosquitto logged since this was made (its log is the module's, shared)."""

    def __init__(self, tls_broker: TlsBroker) -> None:
        self.path = tls_broker.broker.log_path
        self.start = self.path.stat().st_size

    def text(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.start)
            return log.read().decode(errors="replace")

    def connections_as(self, client_id: str) -> int:
        return self.text().count(f" as {client_id} (")


def answer_commands(probe: Probe, agent_id: str) -> list[Command]:
    """Make ``probe`` answer every command on its command topic with ``done``."""
    received: list[Command] = []
    probe.subscribe(topics.hub_command(agent_id))

    def on_message(client: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        command = Command.from_bytes(bytes(message.payload))
        received.append(command)
        result = CommandResult(agent_id=agent_id, command_id=command.command_id,
                               kind=command.kind, outcome="done", detail="by the probe",
                               ts_ns=time.time_ns())
        client.publish(topics.agent_command_result(agent_id), result.to_bytes(), qos=1)

    probe.client.on_message = on_message
    return received


@pytest.fixture()
def hub_config(tls_broker: TlsBroker, tmp_path: Path) -> HubConfig:
    """The hub's config as provisioning wrote it (hub-mqtt.yaml), its store in tmp_path."""
    sections = yaml.safe_load(tls_broker.layout.hub_yaml.read_text())
    return HubConfig.model_validate({
        **sections, "data_dir": str(tmp_path / "hub"),
        "ingest": IngestConfig(status_interval_s=0.5).model_dump(mode="json"),
    })


@pytest.fixture()
def ingest(hub_config: HubConfig) -> Iterator[IngestService]:
    """`hub run`'s ingest on the TLS broker, with the hub's certificate, subscribed."""
    with running_ingest(hub_config) as service:
        yield service


def write_config(config: HubConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    return path


def test_pi_1s_certificate_asking_for_client_id_hub_or_pi_2_disconnects_neither(
    connect: Connect, tls_broker: TlsBroker,
) -> None:
    """Tried: the hub (persistent session, subscribed to every agent's data) and pi-2
    (subscribed to its commands) connected; then pi-1's certificate connects asking for
    client id "hub", publishes on its own data topic, closes, and again asking for
    "pi-2". Kept: the broker named both connections pi-1, neither the hub nor pi-2
    saw a disconnect, the hub's session received pi-1's two batches, and pi-2 still gets
    the hub's command. (Before `use_username_as_clientid`, each of those connections
    closed the real client's.)"""
    log = BrokerLog(tls_broker)
    hub = connect("hub", client_id="hub", persistent=True)
    hub.subscribe(topics.HUB_SUBSCRIPTIONS[0])
    pi_2 = connect("pi-2", client_id="pi-2")
    pi_2.subscribe(topics.hub_command("pi-2"))

    for client_id in ("hub", "pi-2"):
        intruder = connect("pi-1", client_id=client_id)
        assert not intruder.publish_and_close(
            topics.agent_data("pi-1", "trades"), client_id.encode()).is_failure
    # A round trip on each connection after the intruders: had either been closed, paho
    # would have seen it (and said so in on_disconnect) before this PUBACK came back.
    assert not hub.publish(topics.hub_command("pi-2"), b"resync").is_failure
    assert not pi_2.publish(topics.agent_data("pi-2", "trades"), b"own").is_failure

    assert hub.disconnects == [] and pi_2.disconnects == []
    data = [m.payload for m in hub.receive_until(topics.agent_data("pi-2", "trades"))
            if m.topic == topics.agent_data("pi-1", "trades")]
    assert data == [b"hub", b"pi-2"]
    assert pi_2.receive_until(topics.hub_command("pi-2"))[-1].payload == b"resync"
    assert log.connections_as("pi-1") == 2
    assert (log.connections_as("hub"), log.connections_as("pi-2")) == (1, 1)
    assert "already connected, closing old connection" not in log.text()


def test_hub_command_uses_the_operator_identity_and_leaves_the_ingest_connected(
    ingest: IngestService, hub_config: HubConfig, connect: Connect, tls_broker: TlsBroker,
    tmp_path: Path,
) -> None:
    """Tried: `hub command pi-1 send_status` with the provisioned hub-mqtt.yaml while the
    ingest runs with the hub's certificate, pi-1 answering. Kept: exit 0 with the answer,
    the broker saw the command client as hub-cli, the ingest was never disconnected (no
    second connection as "hub"), and its session goes on receiving: pi-1's next status
    reaches the ingest. (With the hub's certificate the command client would have become
    client "hub" and taken over the ingest's session.)"""
    log = BrokerLog(tls_broker)
    pi_1 = connect("pi-1")
    answered = answer_commands(pi_1, "pi-1")
    statuses = ingest.stats.statuses

    result = CliRunner().invoke(hub_group, [
        "command", "-c", str(write_config(hub_config, tmp_path / "hub.yaml")),
        "pi-1", "send_status", "--wait", "5"])

    assert result.exit_code == 0, result.output
    assert ": done (by the probe)" in result.output
    assert len(answered) == 1
    status = AgentStatus(agent_id="pi-1", state="online", ts_ns=time.time_ns())
    assert not pi_1.publish(topics.agent_status("pi-1"), status.to_bytes()).is_failure
    wait_for(lambda: ingest.stats.statuses > statuses, 10, "pi-1's status at the ingest")
    assert log.connections_as("hub-cli") == 1
    assert log.connections_as("hub") == 0
    assert "already connected, closing old connection" not in log.text()
    assert ingest.connected
    with HubStore.in_dir(hub_config.data_dir) as store:
        record = store.command(answered[0].command_id)
    assert record is not None and record.outcome == "done"


def test_hub_command_without_an_operator_identity_refuses_instead_of_taking_over(
    ingest: IngestService, hub_config: HubConfig, tls_broker: TlsBroker, tmp_path: Path,
) -> None:
    """Tried: a hub.yaml with only the hub's `mqtt` (its certificate) and no
    `command_mqtt`, then `hub command`. Kept: it refuses before connecting, naming
    `command_mqtt` and the provisioned section to paste; the broker saw no connection,
    so the ingest's is untouched."""
    log = BrokerLog(tls_broker)
    only_hub = hub_config.model_copy(update={"command_mqtt": None})

    result = CliRunner().invoke(hub_group, [
        "command", "-c", str(write_config(only_hub, tmp_path / "hub.yaml")),
        "pi-1", "send_status", "--wait", "1"])

    assert isinstance(result.exception, ConfigError), result.output
    assert str(result.exception).startswith("command_mqtt: not set")
    assert "hub-mqtt.yaml" in str(result.exception)
    assert "New client connected" not in log.text()
    assert ingest.connected


def test_a_second_hub_command_at_once_takes_the_operator_connection_and_the_first_says_so(
    hub_config: HubConfig, connect: Connect,
) -> None:
    """Tried: a command to pi-2 waiting for an answer (pi-2 receives it and stays silent),
    then a second command from the same operator identity to pi-1, which answers. Kept:
    the second is done; the first stops waiting at once and reports the dropped
    connection instead of a silent timeout. One certificate, one connection: the
    operator's too, so `hub command`s run one at a time."""
    operator = hub_config.command_mqtt
    assert operator is not None
    pi_1, pi_2 = connect("pi-1"), connect("pi-2")
    answer_commands(pi_1, "pi-1")
    pi_2.subscribe(topics.hub_command("pi-2"))
    outcomes: list[CommandOutcome] = []
    with HubStore.in_dir(hub_config.data_dir) as store:
        first = threading.Thread(target=lambda: outcomes.append(
            send_command(operator, store, new_command("pi-2", "send_status"), wait_s=30)))
        started_at = time.monotonic()
        first.start()
        pi_2.receive_until(topics.hub_command("pi-2"))
        second = send_command(operator, store, new_command("pi-1", "send_status"), wait_s=5)
        first.join(10)

    assert second.ok
    [dropped] = outcomes
    assert dropped.result is None and dropped.dropped is not None
    assert time.monotonic() - started_at < 15, "the first command waited out its 30 s"
