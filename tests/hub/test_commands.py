"""send_command against a mosquitto that refuses the hub (shared.mqtt.Link's checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.commands import new_command, send_command
from hub.store.store import HubStore
from shared import topics
from shared.config.mqtt import MqttConfig
from shared.errors import TemporaryError
from tests.shared.dynsec import Account, start_dynsec_broker

PASSWORD_ENV = "TICKERML_TEST_HUB_PASSWORD"


@pytest.mark.parametrize(("password", "subscribe", "refused"), [
    ("wrong", (topics.agent_command_result("pi-1"),),
     "refused the connection: Not authorized"),
    ("right", (topics.agent_status("pi-1"),),
     f"refused the subscription to {topics.agent_command_result('pi-1')} (Not authorized)"),
])
def test_a_command_the_broker_refuses_fails_before_it_is_sent_or_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str,
    subscribe: tuple[str, ...], refused: str,
) -> None:
    """Tried: a wrong hub password; then the right one but no right to read the agent's
    results. Kept: a TemporaryError with the broker's reason, and no command recorded
    (it was never published: its answer could not have been heard)."""
    broker = start_dynsec_broker(tmp_path / "dynsec", {"hub": Account("right", subscribe)})
    monkeypatch.setenv(PASSWORD_ENV, password)
    mqtt = MqttConfig(host="127.0.0.1", port=broker.port, username="hub",
                      password_env=PASSWORD_ENV, connect_timeout_s=5)
    command = new_command("pi-1", "send_status")
    try:
        with HubStore.in_dir(tmp_path / "hub") as store:
            with pytest.raises(TemporaryError) as raised:
                send_command(mqtt, store, command, wait_s=0.2)
            recorded = store.command(command.command_id)
    finally:
        broker.stop()

    assert str(raised.value) == f"the broker at 127.0.0.1:{broker.port} {refused}"
    assert recorded is None
