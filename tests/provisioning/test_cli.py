"""``tickerml provision`` end to end: its files start a real broker, re-running is safe.

The YAML snippets it writes are loaded with the project's own config models and used
verbatim to connect, so a field renamed in shared/config/mqtt.py breaks this test.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from provisioning.broker import Broker, free_port
from provisioning.bundle import Layout
from shared import topics
from shared.cli import cli
from shared.config.hub import HubConfig
from shared.config.mqtt import MqttConfig
from shared.config.sync import SyncConfig
from tests.provisioning.conftest import Probe, require_mosquitto, start_broker
from tests.terminal import assert_whole, in_terminal, piped


def provision(*args: str) -> Result:
    return CliRunner().invoke(cli, ["provision", *args], prog_name="tickerml")


def fingerprint(output: str) -> str:
    """The printed CA fingerprint, whole: 32 hex pairs and nothing else on the line
    (rich once turned a ":CD:" pair into an emoji)."""
    found = re.search(r"CA fingerprint \(SHA-256\): (\S+)$", output, flags=re.MULTILINE)
    assert found, output
    assert re.fullmatch(r"[0-9A-F]{2}(:[0-9A-F]{2}){31}", found.group(1)), found.group(1)
    return found.group(1)


def hub_config(layout: Layout) -> MqttConfig:
    return HubConfig.model_validate(yaml.safe_load(layout.hub_yaml.read_text())).mqtt


def agent_config(layout: Layout, agent_id: str) -> MqttConfig:
    doc = yaml.safe_load(layout.agent_yaml(agent_id).read_text())
    return SyncConfig.model_validate(doc["sync"]).mqtt


@pytest.fixture()
def probes() -> Iterator[list[Probe]]:
    made: list[Probe] = []
    yield made
    for probe in made:
        probe.close()


def connected(probes: list[Probe], config: MqttConfig, name: str) -> Probe:
    probe = Probe(config, name)
    probes.append(probe)
    assert probe.connect(), f"{name} was refused: {probe.connack}"
    return probe


def test_provision_broker_writes_files_a_broker_starts_with_and_reruns_idempotently(
    tmp_path: Path, probes: list[Probe],
) -> None:
    """Provision with agent pi-a, start mosquitto on the written config, connect the hub
    and pi-a with the written YAML and pass a batch; then re-run with pi-c and run
    add-agent pi-d: same CA, pi-a's files untouched, and the running broker lets the new
    agents in without a restart."""
    require_mosquitto()
    out, port = tmp_path / "pki", free_port()
    first = provision("broker", "--out", str(out), "--agent", "pi-a", "--port", str(port),
                      "--bind", "127.0.0.1", "--broker-user", getpass.getuser())
    assert first.exit_code == 0, first.output
    layout = Layout(out.resolve())
    broker: Broker = start_broker(layout, port)
    try:
        hub = connected(probes, hub_config(layout), "hub")
        hub.subscribe(topics.HUB_SUBSCRIPTIONS[0])
        pi_a = connected(probes, agent_config(layout, "pi-a"), "pi-a")
        assert not pi_a.publish(topics.agent_data("pi-a", "trades"), b"one").is_failure
        assert hub.receive_until(topics.agent_data("pi-a", "trades"))[-1].payload == b"one"
        kept = {p: p.read_bytes() for p in (layout.ca_dir / "ca.crt", layout.ca_dir / "ca.key",
                                            layout.agent_dir("pi-a") / "client.crt",
                                            layout.agent_dir("pi-a") / "client.key",
                                            layout.server_key, layout.broker_config)}

        again = provision("broker", "--out", str(out), "--agent", "pi-c")
        added = provision("add-agent", "pi-d", "--out", str(out))

        assert again.exit_code == 0, again.output
        assert added.exit_code == 0, added.output
        assert fingerprint(again.output) == fingerprint(added.output) == fingerprint(first.output)
        assert {p: p.read_bytes() for p in kept} == kept
        for agent_id in ("pi-c", "pi-d"):
            agent = connected(probes, agent_config(layout, agent_id), agent_id)
            topic = topics.agent_data(agent_id, "trades")
            assert not agent.publish(topic, agent_id.encode()).is_failure
            assert hub.receive_until(topic)[-1].payload == agent_id.encode()
    finally:
        broker.stop()


def test_a_rerun_lists_every_file_as_kept(tmp_path: Path) -> None:
    """Running the same command twice: the second run creates and changes nothing;
    the piped table and --json list the same files, each kept."""
    args = ("broker", "--out", str(tmp_path / "pki"), "--agent", "pi-a", "--host", "hub.lan")
    first = json.loads(provision(*args, "--json").output)

    again = provision(*args)
    as_json = provision(*args, "--json")

    assert again.exit_code == 0 and as_json.exit_code == 0, again.output + as_json.output
    files = json.loads(as_json.output)["files"]
    assert "created" in {f["action"] for f in first["files"]}
    assert {f["action"] for f in files} == {"kept"}
    piped = re.findall(r"^(\S+) +(created|kept|reissued|updated)$", again.output, re.MULTILINE)
    assert piped == [(f["file"], "kept") for f in files]


def test_in_an_80_column_terminal_paths_fold_and_no_action_is_cut(tmp_path: Path) -> None:
    """Tried: `provision broker` in an 80-column pty under a long folder name (was: the
    action column could be cut to `cre…`). Kept: one whole action per file --json
    lists, nothing cut, the table no wider than the terminal."""
    out = tmp_path / ("a-provisioning-folder-with-a-rather-long-name-" * 2)
    args = ("provision", "broker", "--out", str(out), "--agent", "pi-a")

    output = in_terminal(*args, cwd=tmp_path)
    files = json.loads(piped(*args, "--json", cwd=tmp_path).stdout)["files"]

    assert_whole(output, [fingerprint(output.stdout)], terminal=True,
                 echoed=["Provisioning folder", "CA fingerprint", "Start the broker",
                         "Hub config", "Agent config"])
    actions = re.findall(r"│ (created|kept|reissued|updated|owned) +│", output.stdout)
    assert len(actions) == len(files) and set(actions) == {"created"}


@pytest.mark.parametrize(
    ("agent_id", "message"),
    [("hub", "reserved for the hub"), ("pi/a", "1-64 letters"), ("x" * 65, "1-64 letters")],
)
def test_provision_broker_refuses_bad_agent_ids_before_writing(
    tmp_path: Path, agent_id: str, message: str,
) -> None:
    """A bad --agent stops the command with a clear error and no folder is made."""
    result = provision("broker", "--out", str(tmp_path / "pki"), "--agent", agent_id)

    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "pki").exists()


def test_add_agent_needs_a_provisioned_folder_and_names_the_missing_file(tmp_path: Path) -> None:
    """add-agent on an empty folder: an error naming the CA file, nothing created."""
    result = provision("add-agent", "pi-a", "--out", str(tmp_path))

    assert result.exit_code != 0
    assert f"{tmp_path.resolve()}/ca/ca.crt: no such file" in result.output
    assert not (tmp_path / "agents").exists()


def test_the_snippets_fit_the_config_models(tmp_path: Path) -> None:
    """hub-mqtt.yaml is a valid hub.yaml on its own, an agent's mqtt.yaml a valid sync
    section, each pointing at the absolute paths of that identity's files: the hub's
    `mqtt` at hub/, its `command_mqtt` (for `hub command`) at the operator's hub-cli/."""
    assert provision("broker", "--out", str(tmp_path), "--agent", "pi-a",
                     "--host", "hub.lan", "--port", "9883").exit_code == 0
    layout = Layout(tmp_path.resolve())

    hub, agent = hub_config(layout), agent_config(layout, "pi-a")

    assert (hub.host, hub.port, agent.host, agent.port) == ("hub.lan", 9883, "hub.lan", 9883)
    assert hub.tls is not None and agent.tls is not None
    assert hub.tls.cert_file == str(layout.hub_dir / "client.crt")
    operator = HubConfig.model_validate(yaml.safe_load(layout.hub_yaml.read_text())).command_mqtt
    assert operator is not None and operator.tls is not None
    assert (operator.host, operator.port) == ("hub.lan", 9883)
    assert operator.tls.cert_file == str(layout.operator_dir / "client.crt")
    assert agent.tls.key_file == str(layout.agent_dir("pi-a") / "client.key")
    assert Path(agent.tls.ca_file).read_bytes() == (layout.ca_dir / "ca.crt").read_bytes()


def test_provision_broker_refuses_a_bad_host_before_writing(tmp_path: Path) -> None:
    """A --host that is neither a DNS name nor an IP stops the command; no folder is made."""
    result = provision("broker", "--out", str(tmp_path / "pki"), "--host", "hub lan")

    assert result.exit_code != 0
    assert "host 'hub lan': not a DNS name or an IP address" in result.output
    assert not (tmp_path / "pki").exists()
