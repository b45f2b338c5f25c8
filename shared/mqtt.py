"""One way to make an MQTT client and keep it connected: paho 2.x, MQTT v5, TLS from
the config, and one :class:`Link` for the reason codes, the subscriptions and the
reconnect backoff.

MQTT v5 because under it a publish the broker's ACL denies comes back with a
failing PUBACK reason code (0x87); under 3.1.1 it is acknowledged as a success and
silently dropped. Callers check ``reason_code.is_failure`` in ``on_publish`` (what a
refused publish means differs: the agent keeps its batch, the hub logs a lost ack)
and never take a PUBACK for "stored by the hub": only the hub's own acknowledgement
says that. Everything about the connection itself is the same for every client and
lives in :class:`Link`.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from shared.backoff import Backoff
from shared.config.mqtt import MqttConfig
from shared.errors import ConfigError

SESSION_EXPIRY_S = 7 * 24 * 3600
"""A persistent session outlives a week-long outage of its client."""


def new_client(config: MqttConfig, client_id: str, *, max_inflight: int = 20) -> paho.Client:
    """An unconnected v5 client for ``client_id`` with TLS and credentials applied."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5,
    )
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    client.on_socket_open = _no_delay
    if config.tls is not None:
        tls = config.tls
        for key, path in (("ca_file", tls.ca_file), ("cert_file", tls.cert_file),
                          ("key_file", tls.key_file)):
            if path is not None and not os.path.isfile(path):
                raise ConfigError(f"mqtt.tls.{key}: no such file {path}")
        client.tls_set(
            ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file,
            cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    if config.username is not None:
        password = None
        if config.password_env is not None:
            password = os.environ.get(config.password_env)
            if password is None:
                raise ConfigError(
                    f"mqtt.password_env: environment variable {config.password_env} is not set"
                )
        client.username_pw_set(config.username, password)
    return client


def _no_delay(client: paho.Client, userdata: object, sock: object) -> None:
    # Without TCP_NODELAY a small publish written right after a PUBACK waits for the
    # broker's delayed ACK (Nagle): ~40 ms on every hop of a batch and of its ack.
    raw = getattr(sock, "setsockopt", None)
    if raw is not None:
        raw(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect_properties(*, persistent: bool) -> Properties:
    """CONNECT properties: a session that outlives a disconnect when ``persistent``."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    if persistent:
        props.SessionExpiryInterval = SESSION_EXPIRY_S
    return props


class Link:
    """One client's link to the broker, kept the same way by every TickerML client.

    :meth:`attach` installs paho's connection callbacks on a client; from then on:

    * **A failing CONNACK is a failure.** Its reason is logged as an error and kept in
      :attr:`connect_refusal`; nothing is subscribed.
    * **Every accepted connection subscribes again** to ``topics`` at QoS 1: a clean
      session starts with none, and a persistent one loses them to a broker restarted
      without its persistence. Then ``on_up(session_present)``.
    * **A refused subscription is reported.** A SUBACK that refuses a topic, or grants it
      below QoS 1 (the delivery guarantee the sync relies on), is logged as an error and
      kept in :attr:`subscribe_refusal`; :attr:`subscribed` is set only when every topic
      was granted. :attr:`settled` is set once the broker answered either way.
    * **Every wait before another attempt is a draw from** ``backoff`` (capped
      exponential, full jitter). It starts over after a connection that lasted
      ``stable_after_s``: 0 resets it after any accepted connection; more keeps a
      broker that accepts and at once drops a client from getting a reconnect storm.
      With ``reconnect=True`` paho's own loop reconnects and each of its waits is set to
      such a draw; otherwise the owner's loop asks :meth:`retry_delay`. Without a
      backoff, paho's own delays stand (a one-shot client).
    * **A drop** clears :attr:`connected` and :attr:`subscribed`, is logged unless
      :meth:`closing` said it is meant, and calls ``on_down(reason)``.

    paho calls these on its network thread; ``on_up`` and ``on_down`` must only hand
    the news on and return.
    """

    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        *,
        broker: str,
        log: logging.Logger,
        backoff: Backoff | None = None,
        stable_after_s: float = 0.0,
        on_up: Callable[[bool], None] | None = None,
        on_down: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.topics = tuple(topics)
        self.broker = broker
        self.log = log
        self.backoff = backoff
        self.stable_after_s = stable_after_s
        self.on_up = on_up
        self.on_down = on_down
        self.connected = threading.Event()
        """Set from an accepted CONNACK until the connection drops."""
        self.subscribed = threading.Event()
        """Set once every topic of the current connection was granted at QoS 1."""
        self.settled = threading.Event()
        """Set once the broker answered the latest attempt: a refused CONNACK or a SUBACK."""
        self.connect_refusal: str | None = None
        """Why the broker refused the latest connection attempt; None once one is accepted."""
        self.subscribe_refusal: str | None = None
        """The topics the broker refused on the current connection, with its reasons."""
        self.connects = 0
        """Accepted connections so far."""
        self.retries = 0
        """Waits drawn before another attempt so far."""
        self._reconnect = False
        self._closing = False
        self._up_at: float | None = None
        self._subscribe_mid: int | None = None

    @property
    def refusal(self) -> str | None:
        """What the broker refused last on this attempt (the connection or a
        subscription), None when nothing."""
        if self.connect_refusal is not None:
            return f"the broker at {self.broker} refused the connection: {self.connect_refusal}"
        if self.subscribe_refusal is not None:
            return f"the broker at {self.broker} refused {self.subscribe_refusal}"
        return None

    def attach(self, client: paho.Client, *, reconnect: bool) -> None:
        """Install the callbacks on ``client`` (before it connects) and start afresh."""
        self._reconnect = reconnect
        self._closing = False
        self._subscribe_mid = None
        self.connect_refusal = self.subscribe_refusal = None
        self.connected.clear()
        self.subscribed.clear()
        self.settled.clear()
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        if reconnect:
            client.on_connect_fail = self._on_connect_fail
            if self.backoff is not None:
                _set_next_delay(client, self.backoff.initial_s)

    def closing(self) -> None:
        """Every drop from now on is meant (a clean stop): no log, no wait drawn, until
        the next :meth:`attach`."""
        self._closing = True

    def retry_delay(self, why: str) -> float:
        """Draw the wait before the next attempt after ``why`` and log both."""
        if self.backoff is None:
            raise RuntimeError(f"{self.name}: a link without a backoff draws no delays")
        if self._up_at is not None and time.monotonic() - self._up_at >= self.stable_after_s:
            self.backoff.reset()
        self._up_at = None
        delay = self.backoff.next_delay()
        self.retries += 1
        self.log.warning("%s: %s; reconnecting in %.2f s", self.name, why, delay)
        return delay

    # -- paho callbacks (its network thread) --------------------------------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self.settled.clear()
        self.subscribed.clear()
        self.subscribe_refusal = None
        if reason.is_failure:
            self.connect_refusal = str(reason)
            self.log.error(
                "%s: the broker at %s refused the connection: %s", self.name, self.broker, reason
            )
            self.settled.set()
            return
        self.connect_refusal = None
        self._up_at = time.monotonic()
        self.connects += 1
        if self.topics:
            options = SubscribeOptions(qos=1)
            rc, self._subscribe_mid = client.subscribe([(t, options) for t in self.topics])
            if rc != paho.MQTT_ERR_SUCCESS:
                self.subscribe_refusal = (f"the subscription to {', '.join(self.topics)} "
                                          f"(not sent: {paho.error_string(rc)})")
                self.log.error("%s: %s", self.name, self.subscribe_refusal)
                self.settled.set()
        else:
            self.subscribed.set()
            self.settled.set()
        self.connected.set()
        session_present = bool(getattr(flags, "session_present", False))
        self.log.info(
            "%s: connected to %s (session present: %s)", self.name, self.broker, session_present
        )
        if self.on_up is not None:
            self.on_up(session_present)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        if mid != self._subscribe_mid:
            return  # the owner's own subscribe, not this link's
        refused = [
            f"{topic} ({code})" for topic, code in zip(self.topics, reasons, strict=False)
            if code.is_failure or code.value < 1
        ]
        if refused:
            self.subscribe_refusal = "the subscription to " + ", ".join(refused)
            self.log.error("%s: the broker at %s refused %s", self.name, self.broker,
                           self.subscribe_refusal)
        else:
            self.subscribed.set()
        self.settled.set()

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        was_up = self.connected.is_set()
        self.connected.clear()
        self.subscribed.clear()
        if not self._closing:
            why = (f"refused ({self.connect_refusal})" if self.connect_refusal is not None
                   else f"disconnected ({reason})")
            if self._reconnect and self.backoff is not None:
                _set_next_delay(client, self.retry_delay(why))
            elif was_up:
                self.log.warning("%s: %s", self.name, why)
        if self.on_down is not None:
            self.on_down(str(reason))

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        if self.backoff is not None:
            why = f"cannot reach the broker at {self.broker}"
            _set_next_delay(client, self.retry_delay(why))


def _set_next_delay(client: paho.Client, delay_s: float) -> None:
    # reconnect_delay_set resets paho's doubling, so its next wait is exactly this
    # draw (its annotation says int; it sleeps on any number).
    client.reconnect_delay_set(delay_s, delay_s)  # type: ignore[arg-type]
