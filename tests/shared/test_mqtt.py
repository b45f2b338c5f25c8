"""shared.mqtt.Link against a real mosquitto: refusals are failures with their reasons,
every connect subscribes again, the waits between attempts come from the backoff."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from provisioning.broker import Broker
from shared import topics
from shared.backoff import Backoff
from shared.config.feeds import BackoffConfig
from shared.config.mqtt import MqttConfig
from shared.mqtt import Link, connect_properties, new_client
from tests.shared.dynsec import Account, start_dynsec_broker
from tests.waiting import wait_for

AGENT = "pi-1"
PASSWORD_ENV = "TICKERML_TEST_MQTT_PASSWORD"
log = logging.getLogger("tests.shared.mqtt")


def fast_backoff() -> Backoff:
    return Backoff(BackoffConfig(initial_s=0.05, max_s=0.2))


class Clients:
    """Connects paho clients the way the project does (new_client) and closes them."""

    def __init__(self) -> None:
        self._started: list[paho.Client] = []

    def start(
        self, port: int, link: Link, *, client_id: str = AGENT, username: str | None = None
    ) -> paho.Client:
        config = MqttConfig(
            host="127.0.0.1", port=port, connect_timeout_s=5, username=username,
            password_env=PASSWORD_ENV if username else None,
        )
        client = new_client(config, client_id)
        link.attach(client, reconnect=True)
        client.connect(config.host, config.port, config.keepalive_s, clean_start=True,
                       properties=connect_properties(persistent=False))
        client.loop_start()
        self._started.append(client)
        return client

    def close(self) -> None:
        for client in self._started:
            client.disconnect()
            client.loop_stop()


@pytest.fixture()
def clients() -> Iterator[Clients]:
    made = Clients()
    yield made
    made.close()


@pytest.fixture()
def strict_broker(tmp_path: Path) -> Iterator[Broker]:
    """pi-1 (password ``right``) may subscribe to its acknowledgements only."""
    broker = start_dynsec_broker(
        tmp_path / "dynsec", {AGENT: Account("right", (topics.hub_ack(AGENT),))}
    )
    yield broker
    broker.stop()


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_connection_refused_for_bad_credentials_is_a_failure_with_its_reason(
    strict_broker: Broker, clients: Clients, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tried: pi-1 with a wrong password. Kept: CONNACK 0x87 is a failure, its reason kept
    and logged as an error, nothing subscribed, and the attempts go on with backoff."""
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    link = Link("test", topics.agent_subscriptions(AGENT), broker="the broker", log=log,
                backoff=fast_backoff())

    clients.start(strict_broker.port, link, username=AGENT)

    assert link.settled.wait(5), "the broker never answered"
    assert link.connect_refusal == "Not authorized"
    assert link.refusal == "the broker at the broker refused the connection: Not authorized"
    assert not link.connected.is_set() and not link.subscribed.is_set()
    assert link.connects == 0
    wait_for(lambda: link.retries >= 2, 10, "retries after the refusal")
    assert "test: the broker at the broker refused the connection: Not authorized" in errors(
        caplog
    )


def test_the_right_credentials_connect_where_the_wrong_ones_were_refused(
    strict_broker: Broker, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tried: the same broker, the right password. Kept: accepted, and subscribed to the
    one topic its ACL allows (the refusal above was the credentials, not the setup)."""
    monkeypatch.setenv(PASSWORD_ENV, "right")
    link = Link("test", [topics.hub_ack(AGENT)], broker="the broker", log=log)

    clients.start(strict_broker.port, link, username=AGENT)

    assert link.subscribed.wait(5)
    assert link.refusal is None and link.connects == 1


def test_a_refused_subscription_is_reported_with_its_topics(
    strict_broker: Broker, clients: Clients, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tried: pi-1 subscribes to its acks (allowed), its commands and the models (not).
    Kept: connected but not subscribed; the two refused topics named with 0x87, logged."""
    monkeypatch.setenv(PASSWORD_ENV, "right")
    link = Link("test", topics.agent_subscriptions(AGENT), broker="the broker", log=log)

    clients.start(strict_broker.port, link, username=AGENT)

    assert link.settled.wait(5), "no SUBACK"
    assert link.connected.is_set() and not link.subscribed.is_set()
    refused = (f"the subscription to {topics.hub_command(AGENT)} (Not authorized), "
               f"{topics.MODELS} (Not authorized)")
    assert link.subscribe_refusal == refused
    assert link.refusal == f"the broker at the broker refused {refused}"
    assert f"test: the broker at the broker refused {refused}" in errors(caplog)


def test_after_a_broker_restart_the_client_resubscribes_and_gets_what_is_published(
    plain_broker: Broker, clients: Clients
) -> None:
    """Tried: a clean-session client subscribed to pi-1's commands, the broker restarted
    (no persistence: it forgets every subscription), then a command published. Kept: the
    client reconnected by itself, subscribed again and received the command; the owner
    heard of the drop and of both connections."""
    received: list[bytes] = []
    got = threading.Event()
    ups: list[bool] = []
    downs: list[str] = []
    link = Link("test", [topics.hub_command(AGENT)], broker="the broker", log=log,
                backoff=fast_backoff(), on_up=ups.append, on_down=downs.append)
    client = clients.start(plain_broker.port, link)

    def on_message(c: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        got.set()

    client.on_message = on_message
    assert link.subscribed.wait(5)

    plain_broker.restart()
    wait_for(lambda: link.connects == 2 and link.subscribed.is_set(), 10,
             "the client reconnected and resubscribed")
    sender = Link("sender", [], broker="the broker", log=log)
    publisher = clients.start(plain_broker.port, sender, client_id="test-hub")
    assert sender.connected.wait(5)
    publisher.publish(topics.hub_command(AGENT), b"after the restart", qos=1)

    assert got.wait(5), "nothing arrived after the restart"
    assert received == [b"after the restart"]
    assert ups == [False, False]
    assert len(downs) == 1


@pytest.mark.parametrize("stable_after_s", [0.0, 3600.0])
def test_the_backoff_starts_over_only_after_a_connection_that_lasted(
    plain_broker: Broker, clients: Clients, stable_after_s: float
) -> None:
    """Tried: two broker restarts under a client that reconnects between them. Kept: with
    stable_after_s 0 each drop of an accepted connection draws from the first ceiling
    again; with an hour, the second drop goes on from where the first left off."""
    backoff = fast_backoff()
    attempts_at_drop: list[int] = []
    link = Link("test", [topics.hub_ack(AGENT)], broker="the broker", log=log,
                backoff=backoff, stable_after_s=stable_after_s,
                on_down=lambda why: attempts_at_drop.append(backoff.attempt))
    clients.start(plain_broker.port, link)
    assert link.subscribed.wait(5)

    plain_broker.restart()
    wait_for(lambda: link.connects == 2 and link.subscribed.is_set(), 10, "the 2nd connection")
    plain_broker.restart()
    wait_for(lambda: link.connects == 3 and link.subscribed.is_set(), 10, "the 3rd connection")

    # on_down runs right after the drop's own draw, before any failed attempt's.
    if stable_after_s == 0:
        assert attempts_at_drop == [1, 1]
    else:
        assert attempts_at_drop[0] == 1 and attempts_at_drop[1] >= 2


def test_a_meant_disconnect_is_neither_logged_nor_retried(
    plain_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: closing() then a clean disconnect. Kept: no warning, no wait drawn, the owner
    still told of the drop."""
    downs: list[str] = []
    link = Link("test", [topics.hub_ack(AGENT)], broker="the broker", log=log,
                backoff=fast_backoff(), on_down=downs.append)
    made = Clients()
    made.start(plain_broker.port, link)
    assert link.subscribed.wait(5)
    caplog.clear()

    link.closing()
    made.close()

    assert link.retries == 0 and not link.connected.is_set()
    assert downs == ["Normal disconnection"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_link_without_a_backoff_refuses_to_draw_a_delay() -> None:
    """A one-shot link keeps paho's own delays; asking it for a draw is a bug."""
    link = Link("test", [], broker="the broker", log=log)

    with pytest.raises(RuntimeError, match="without a backoff"):
        link.retry_delay("dropped")
