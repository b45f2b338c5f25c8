"""A provisioned folder, a real mosquitto running its config, and probe clients.

The probes are real paho MQTT v5 clients over TLS made by ``shared.mqtt.new_client``,
the same way the hub and the agents make theirs. They record every CONNACK, SUBACK,
PUBACK and message so a test waits on events, never on sleeps.
"""

from __future__ import annotations

import getpass
import itertools
import queue
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from provisioning.broker import Broker, free_port, mosquitto_binary
from provisioning.bundle import Layout, provision_broker
from shared.config.mqtt import MqttConfig, TlsConfig
from shared.mqtt import connect_properties, new_client

WAIT_S = 5.0
AGENTS = ("pi-a", "pi-b")
_ids = itertools.count()


class Probe:
    """One MQTT v5 TLS client and everything the broker told it.

    ``client_id`` is the id it asks for (the broker replaces it with the certificate's
    CN); ``persistent`` gives it a session that outlives a dropped connection, so paho's
    reconnect finds its subscriptions again. The broker allows one connection per
    identity, so a test closes a probe before it connects another with the same one.
    """

    def __init__(self, config: MqttConfig, name: str, *, client_id: str | None = None,
                 persistent: bool = False) -> None:
        self.name = name
        self.client = new_client(config, client_id or f"probe-{name}-{next(_ids)}")
        self.config = config
        self.persistent = persistent
        self.disconnects: list[ReasonCode] = []
        """Every drop of an accepted connection, with the reason paho reported."""
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.settled = threading.Event()
        self.connack: ReasonCode | None = None
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self._lock = threading.Condition()
        self._pubacks: dict[int, ReasonCode] = {}
        self._subacks: dict[int, list[ReasonCode]] = {}
        # paho annotates these as int but sleeps on floats; a tenth of a second keeps
        # reconnects after a dropped connection, and loop_stop() after one, quick.
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack = reason
        (self.refused if reason.is_failure else self.connected).set()
        self.settled.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if self.connected.is_set():
            self.disconnects.append(reason)
        else:
            self.refused.set()
        self.settled.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._lock:
            self._pubacks[mid] = reason
            self._lock.notify_all()

    def _on_subscribe(
        self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any,
    ) -> None:
        with self._lock:
            self._subacks[mid] = reasons
            self._lock.notify_all()

    def connect(self) -> bool:
        """Connect and wait for the outcome: True once CONNACK success, False if refused."""
        try:
            self.client.connect(self.config.host, self.config.port, keepalive=30,
                                properties=connect_properties(persistent=self.persistent))
        except (ssl.SSLError, OSError):
            # A refused handshake can fail here (TLS 1.2) or, more often, only after
            # connect() returns (TLS 1.3 sends the verdict on the client certificate late).
            return False
        self.client.loop_start()
        self.settled.wait(WAIT_S)
        return self.connected.is_set()

    def subscribe(self, topic: str) -> list[ReasonCode]:
        """Subscribe at QoS 1 and return the SUBACK's reason codes."""
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None, f"{self.name}: subscribe to {topic} was not sent"
        with self._lock:
            assert self._lock.wait_for(lambda: mid in self._subacks, WAIT_S), "no SUBACK"
            return self._subacks.pop(mid)

    def publish(self, topic: str, payload: bytes = b"x", *, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code.

        mosquitto routes a QoS 1 message to its subscribers *before* it sends the
        PUBACK, so once this returns, anything it will deliver is already queued ahead
        of any later message: a later "sentinel" proves an earlier one was not sent.
        """
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._lock:
            assert self._lock.wait_for(lambda: info.mid in self._pubacks, WAIT_S), "no PUBACK"
            return self._pubacks.pop(info.mid)

    def receive_until(self, topic: str) -> list[paho.MQTTMessage]:
        """Every message up to and including the first on ``topic`` (fails after WAIT_S)."""
        seen: list[paho.MQTTMessage] = []
        while True:
            try:
                message = self.messages.get(timeout=WAIT_S)
            except queue.Empty:
                topics = [m.topic for m in seen]
                raise AssertionError(f"{self.name}: nothing on {topic} (got {topics})") from None
            seen.append(message)
            if message.topic == topic:
                return seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish_and_close(self, topic: str, payload: bytes = b"x") -> ReasonCode:
        """:meth:`publish`, then :meth:`close`: the identity's one connection is free again."""
        try:
            return self.publish(topic, payload)
        finally:
            self.close()


@dataclass
class TlsBroker:
    """A running mosquitto with the rendered TLS config, and the folder it came from."""

    broker: Broker
    layout: Layout

    @property
    def port(self) -> int:
        return self.broker.port

    def config(self, identity: str | None, *, ca_file: Path | None = None,
               cert_dir: Path | None = None, username: str | None = None) -> MqttConfig:
        """Client settings for ``identity`` (None: no client certificate at all)."""
        ca = ca_file or self.layout.broker_dir / "ca.crt"
        if identity is None:
            tls = TlsConfig(ca_file=str(ca))
        else:
            folder = cert_dir or self.layout.identity_dir(identity)
            tls = TlsConfig(ca_file=str(ca), cert_file=str(folder / "client.crt"),
                            key_file=str(folder / "client.key"))
        return MqttConfig(host="127.0.0.1", port=self.port, tls=tls, username=username)


def require_mosquitto() -> None:
    """Skip the test, saying how to fix it, when mosquitto is not installed."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (make venv installs it from Debian's packages)")


def start_broker(layout: Layout, port: int) -> Broker:
    """Start mosquitto on the folder's own rendered config, unchanged."""
    text = layout.broker_config.read_text(encoding="utf-8")
    return Broker(layout.broker_dir, text, port).start()


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """A provisioned folder (agents pi-a and pi-b) and mosquitto running its config.

    ``--broker-user`` is whoever runs the tests: started as root, mosquitto would
    otherwise become ``mosquitto`` and could not reach the key under pytest's 0700 tmp.
    """
    require_mosquitto()
    root = tmp_path_factory.mktemp("provisioned")
    port = free_port()
    report = provision_broker(
        root, agents=AGENTS, port=port, bind="127.0.0.1", broker_user=getpass.getuser(),
    )
    broker = start_broker(report.layout, port)
    try:
        yield TlsBroker(broker, report.layout)
    finally:
        broker.stop()


@pytest.fixture()
def probes() -> Iterator[list[Probe]]:
    """Every probe a test makes, closed after it."""
    made: list[Probe] = []
    yield made
    for probe in made:
        probe.close()


@pytest.fixture()
def connect(tls_broker: TlsBroker, probes: list[Probe]) -> Callable[..., Probe]:
    """``connect(identity, **config)``: a probe connected as ``identity``, or failing."""

    def make(identity: str | None, *, client_id: str | None = None, persistent: bool = False,
             **kwargs: Any) -> Probe:
        probe = Probe(tls_broker.config(identity, **kwargs), identity or "anonymous",
                      client_id=client_id, persistent=persistent)
        probes.append(probe)
        assert probe.connect(), f"{probe.name} was refused: {probe.connack}"
        return probe

    return make


@pytest.fixture()
def try_connect(tls_broker: TlsBroker, probes: list[Probe]) -> Callable[..., Probe]:
    """``try_connect(identity, **config)``: a probe that tried; its events say how it went."""

    def make(identity: str | None, **kwargs: Any) -> Probe:
        probe = Probe(tls_broker.config(identity, **kwargs), identity or "anonymous")
        probes.append(probe)
        probe.connect()
        return probe

    return make
