"""The rendered TLS config and ACL, enforced by a real mosquitto against real TLS clients.

Agents pi-a and pi-b and the hub connect with the certificates provisioning issued.
"Received nothing" is proven without sleeping: the forbidden message is followed by
an allowed sentinel, and mosquitto queues a QoS 1 message for its subscribers before
it acknowledges it, so a forbidden message that got through would arrive first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho

from provisioning.certs import CertificateAuthority
from shared import topics
from tests.provisioning.conftest import Probe, TlsBroker

NOT_AUTHORIZED = 0x87

Connect = Callable[..., Probe]


def topics_of(messages: list[paho.MQTTMessage]) -> list[str]:
    return [m.topic for m in messages]


def test_an_agent_publishing_on_its_own_data_topic_reaches_the_hub(connect: Connect) -> None:
    """pi-a publishes a QoS 1 batch on its own data topic: PUBACK success, the hub gets it."""
    hub = connect("hub")
    hub.subscribe(topics.HUB_SUBSCRIPTIONS[0])
    agent = connect("pi-a")
    topic = topics.agent_data("pi-a", "trades")

    reason = agent.publish(topic, b"batch-1")

    assert not reason.is_failure
    received = hub.receive_until(topic)
    assert received[-1].payload == b"batch-1"


def test_an_agent_cannot_publish_as_another_agent(connect: Connect) -> None:
    """pi-a publishes on pi-b's data, status and cmd-result topics: each PUBACK is 0x87
    and the hub gets none of them; pi-a's own message sent after them arrives alone."""
    hub = connect("hub")
    hub.subscribe("tickerml/v1/agent/#")
    forged = [topics.agent_data("pi-b", "trades"), topics.agent_status("pi-b"),
              topics.agent_command_result("pi-b")]

    # A connection each, one at a time: mosquitto 2.0.11 drops a client after a denied
    # publish, and the broker allows pi-a one connection (its client id is its name).
    reasons = [connect("pi-a").publish_and_close(topic, b"forged") for topic in forged]
    sentinel = topics.agent_data("pi-a", "sentinel_forge")
    assert not connect("pi-a").publish(sentinel).is_failure

    assert [(r.is_failure, r.value) for r in reasons] == [(True, NOT_AUTHORIZED)] * 3
    assert topics_of(hub.receive_until(sentinel)) == [sentinel]


def test_after_a_denied_publish_the_agents_own_batches_still_flow(connect: Connect) -> None:
    """pi-a publishes on pi-b's status (0x87; mosquitto 2.0.11 may then close
    pi-a's connection), then on its own data topic from the same client:
    paho reconnects and the hub receives pi-a's batch, and only that."""
    hub = connect("hub")
    hub.subscribe("tickerml/v1/agent/#")
    agent = connect("pi-a")

    denied = agent.publish(topics.agent_status("pi-b"), b"forged")
    own = topics.agent_data("pi-a", "after_denial")
    allowed = agent.publish(own, b"batch")

    assert denied.value == NOT_AUTHORIZED
    assert not allowed.is_failure
    assert [(m.topic, m.payload) for m in hub.receive_until(own)] == [(own, b"batch")]


def test_an_agent_cannot_read_another_agents_commands(connect: Connect) -> None:
    """pi-a subscribes to pi-b's command topic (the SUBACK still grants it): the hub's
    command for pi-b reaches pi-b only; pi-a gets just the command sent to itself."""
    hub = connect("hub")
    pi_a, pi_b = connect("pi-a"), connect("pi-b")
    granted = pi_a.subscribe(topics.hub_command("pi-b"))
    pi_a.subscribe(topics.hub_command("pi-a"))
    pi_b.subscribe(topics.hub_command("pi-b"))

    assert not hub.publish(topics.hub_command("pi-b"), b"resync").is_failure
    assert not hub.publish(topics.hub_command("pi-a"), b"send_status").is_failure

    assert not granted[0].is_failure  # mosquitto grants it; the ACL acts on delivery
    assert pi_b.receive_until(topics.hub_command("pi-b"))[-1].payload == b"resync"
    assert topics_of(pi_a.receive_until(topics.hub_command("pi-a"))) == [
        topics.hub_command("pi-a")
    ]


def test_an_agent_cannot_read_other_agents_data_even_with_a_wildcard(connect: Connect) -> None:
    """pi-b subscribes to every agent's data and to all hub topics: pi-a's batch and the
    hub's acknowledgement for pi-a never reach it; its own acknowledgement does."""
    hub, pi_a, pi_b = connect("hub"), connect("pi-a"), connect("pi-b")
    pi_b.subscribe("tickerml/v1/agent/+/data/+")
    pi_b.subscribe("tickerml/v1/hub/+/ack")

    assert not pi_a.publish(topics.agent_data("pi-a", "book_snapshots")).is_failure
    assert not hub.publish(topics.hub_ack("pi-a")).is_failure
    assert not hub.publish(topics.hub_ack("pi-b")).is_failure

    assert topics_of(pi_b.receive_until(topics.hub_ack("pi-b"))) == [topics.hub_ack("pi-b")]


def test_an_agent_cannot_publish_on_hub_owned_topics(connect: Connect) -> None:
    """pi-a publishes on its own ack and command topics and on the models: every PUBACK
    is 0x87, and neither pi-a (subscribed to them) nor the hub receives any of them."""
    hub = connect("hub")
    hub.subscribe("tickerml/v1/#")
    # pi-a has one connection (the broker makes its client id its name), so the listener
    # forges too; mosquitto 2.0.11 drops it after each denied publish and paho reconnects
    # into its persistent session, subscriptions and all.
    listener = connect("pi-a", persistent=True)
    for topic in topics.agent_subscriptions("pi-a"):
        listener.subscribe(topic)
    hub_owned = [topics.hub_ack("pi-a"), topics.hub_command("pi-a"),
                 "tickerml/v1/models/transformer/latest"]

    reasons = [listener.publish(topic, b"forged") for topic in hub_owned]
    sentinel = topics.hub_command("pi-a")
    assert not hub.publish(sentinel, b"real").is_failure

    assert [r.value for r in reasons] == [NOT_AUTHORIZED] * 3
    expected = [(sentinel, b"real")]
    assert [(m.topic, m.payload) for m in listener.receive_until(sentinel)] == expected
    assert [(m.topic, m.payload) for m in hub.receive_until(sentinel)] == expected


def test_every_agent_reads_the_models_the_hub_publishes(connect: Connect) -> None:
    """The hub publishes a model release: pi-a and pi-b both receive it."""
    hub, pi_a, pi_b = connect("hub"), connect("pi-a"), connect("pi-b")
    pi_a.subscribe(topics.MODELS)
    pi_b.subscribe(topics.MODELS)
    release = "tickerml/v1/models/release"

    assert not hub.publish(release, b"v7").is_failure

    assert pi_a.receive_until(release)[-1].payload == b"v7"
    assert pi_b.receive_until(release)[-1].payload == b"v7"


def test_the_hub_reads_and_writes_everything_under_the_namespace(connect: Connect) -> None:
    """The hub publishes on agent-, hub- and model-topics: every PUBACK succeeds and its
    own subscription to tickerml/v1/# delivers each one back to it."""
    hub = connect("hub")
    hub.subscribe("tickerml/v1/#")
    everywhere = [topics.agent_data("pi-a", "trades"), topics.agent_status("pi-b"),
                  topics.agent_command_result("pi-a"), topics.hub_ack("pi-a"),
                  topics.hub_command("pi-b"), "tickerml/v1/models/release"]

    reasons = [hub.publish(topic) for topic in everywhere]

    assert not any(r.is_failure for r in reasons)
    assert topics_of(hub.receive_until(everywhere[-1])) == everywhere


def test_a_username_cannot_override_the_certificates_identity(connect: Connect) -> None:
    """pi-a's certificate with username "hub" sent along: the broker still takes it for
    pi-a (use_identity_as_username), so publishing a model is refused with 0x87."""
    agent = connect("pi-a", username="hub")

    reason = agent.publish("tickerml/v1/models/release")

    assert reason.value == NOT_AUTHORIZED


def test_a_client_without_a_certificate_is_refused(
    try_connect: Connect, tls_broker: TlsBroker,
) -> None:
    """A TLS client that trusts the CA but has no certificate of its own (anonymous):
    no CONNACK ever comes, the connection drops, and mosquitto logs why."""
    probe = try_connect(None)

    assert not probe.connected.is_set()
    assert probe.refused.is_set()
    log = tls_broker.broker.log_path.read_text(errors="replace")
    assert "peer did not return a certificate" in log


def test_a_certificate_from_another_ca_is_refused(
    try_connect: Connect, tls_broker: TlsBroker, tmp_path: Path,
) -> None:
    """A client certificate named pi-a but signed by a rogue CA: refused at the TLS
    handshake, so it never gets a CONNACK and never speaks as pi-a."""
    rogue = CertificateAuthority.ensure(tmp_path / "rogue-ca")
    folder = tmp_path / "rogue-pi-a"
    rogue.ensure_client(folder / "client.crt", folder / "client.key", "pi-a")

    probe = try_connect("pi-a", cert_dir=folder)

    assert not probe.connected.is_set()
    assert probe.refused.is_set()
