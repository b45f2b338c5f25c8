"""The agent's connection to the broker, kept up by one thread.

A fresh paho client per attempt (MQTT v5, TLS and identity from the config, a
retained ``offline`` last will), ``loop()`` until the connection drops, then a
capped, jittered backoff before the next attempt. paho's own reconnect has no
jitter, and a fresh client also means nothing of a dead connection is replayed
behind the outbox's back: the outbox decides what is sent again.

The session is persistent (``clean_start=False`` from the first connect, a session
expiry of :data:`shared.mqtt.SESSION_EXPIRY_S`): while the agent is away the broker
keeps what the hub addressed to it — a command sent meanwhile (``hub command`` says
it is queued; the command's MQTT message expiry and its ``expires_ns`` keep it from
acting late) and acknowledgements the outbox may still be waiting for. A client
presents the same id on every attempt: the broker makes it the certificate's CN.

The reason codes, the subscriptions made again on every connect and the backoff
are :class:`shared.mqtt.Link`'s, as for every TickerML client: a non-zero CONNACK
is a failure (not authorized, bad identity, server busy) and ends the attempt.
paho calls back on this thread, holding its own locks during ``on_publish``, so
every callback only hands an event to the owner (``on_event``) and returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from shared import topics
from shared.backoff import Backoff
from shared.clock import Clock
from shared.config.sync import SyncConfig
from shared.errors import ConfigError
from shared.mqtt import Link, connect_properties, new_client

log = logging.getLogger("edge.sync")

Event = tuple[Any, ...]
"""``("connected",)``, ``("disconnected", why)``, ``("puback", mid, failed, reason)``,
``("ack", payload)`` or ``("command", payload)``."""

STOP_PUBLISH_TIMEOUT_S = 2.0
STABLE_AFTER_S = 10.0
"""A connection that lasted this long resets the backoff. Not every CONNACK does: a
broker that accepts the connection and then drops it (mosquitto 2.0.11 disconnects a
client right after refusing one of its publishes) must not get a reconnect storm."""
PAHO_SPARE_INFLIGHT = 8
"""paho's in-flight window beyond the outbox's: statuses and command results never
wait behind data batches for a PUBACK."""


class BrokerConnection:
    """Connects, reconnects with backoff, and publishes for one agent."""

    def __init__(
        self,
        agent_id: str,
        config: SyncConfig,
        clock: Clock,
        *,
        on_event: Callable[[Event], None],
        last_will: Callable[[], bytes],
    ) -> None:
        self.agent_id = agent_id
        self.config = config
        self.clock = clock
        self.on_event = on_event
        self.last_will = last_will
        self.connected_since_ns: int | None = None
        self._client: paho.Client | None = None
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._link = Link(
            "sync", topics.agent_subscriptions(agent_id),
            broker=f"{config.mqtt.host}:{config.mqtt.port}", log=log,
            backoff=Backoff(config.backoff), stable_after_s=STABLE_AFTER_S,
            on_up=self._on_up, on_down=self._set_disconnected,
        )
        self._thread: threading.Thread | None = None
        # Fails now, in the caller, on a TLS file or password variable that is missing.
        self._new_client()

    @property
    def connected(self) -> bool:
        """True from a successful CONNACK until the connection drops."""
        return self._connected.is_set()

    @property
    def connects(self) -> int:
        """Connections the broker accepted so far."""
        return self._link.connects

    @property
    def connect_failures(self) -> int:
        """Attempts that failed or connections that dropped, each followed by a backoff."""
        return self._link.retries

    def start(self) -> None:
        """Start the connection thread; returns at once."""
        self._thread = threading.Thread(target=self._run, name="sync-network", daemon=True)
        self._thread.start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        """Publish at QoS 1; the message id, or None when there is no connection."""
        client = self._client
        if client is None or not self._connected.is_set():
            return None
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            log.debug("sync: publish on %s failed: %s", topic, paho.error_string(info.rc))
            return None
        return info.mid

    def stop(self, farewell: bytes | None = None) -> None:
        """Publish ``farewell`` (retained, on the status topic), disconnect cleanly, end the
        thread. A clean disconnect does not fire the last will, hence the farewell."""
        self._stopping.set()
        self._link.closing()
        client = self._client
        if client is not None and self._connected.is_set():
            if farewell is not None:
                info = client.publish(
                    topics.agent_status(self.agent_id), farewell, qos=1, retain=True
                )
                try:
                    info.wait_for_publish(STOP_PUBLISH_TIMEOUT_S)
                except (RuntimeError, ValueError) as exc:
                    log.warning("sync: offline status not confirmed: %s", exc)
            client.disconnect()
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    # -- the connection thread -----------------------------------------------------------

    def _new_client(self) -> paho.Client:
        client = new_client(
            self.config.mqtt, self.agent_id,
            max_inflight=self.config.max_inflight + PAHO_SPARE_INFLIGHT,
        )
        client.connect_timeout = self.config.mqtt.connect_timeout_s
        client.will_set(topics.agent_status(self.agent_id), self.last_will(), qos=1, retain=True)
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        # Only this thread may touch the socket. Driven by loop() (no loop_start), paho
        # otherwise writes a publish straight to the socket from the publishing thread,
        # racing this thread's reads and writes: under TLS that corrupts the stream
        # ("decryption failed or bad record mac" at the broker, then a disconnect).
        # With a write hook registered, a publish only queues the packet and wakes
        # loop()'s select through paho's socket pair; loop() then writes it here.
        client.on_socket_register_write = _queue_only
        return client

    def _run(self) -> None:
        mqtt = self.config.mqtt
        while not self._stopped.is_set():
            try:
                client = self._new_client()
                self._link.attach(client, reconnect=False)
                self._client = client
                client.connect(
                    mqtt.host, mqtt.port, mqtt.keepalive_s, clean_start=False,
                    properties=connect_properties(persistent=True),
                )
            except (OSError, ValueError, ConfigError) as exc:
                self._retry_later(f"cannot reach the broker at {mqtt.host}:{mqtt.port}: {exc}")
                continue
            deadline = time.monotonic() + mqtt.connect_timeout_s
            connects = self._link.connects
            while not self._stopped.is_set():
                rc = client.loop(timeout=0.1)
                if rc != paho.MQTT_ERR_SUCCESS or self._link.connect_refusal is not None:
                    break
                # Only an attempt that never got its CONNACK is late. "Not connected" alone
                # is also true once stop() has disconnected (the farewell sent): checking
                # that logged a false "no CONNACK" error at every clean stop.
                answered = self._link.connects > connects
                if answered and not self._connected.is_set():
                    break  # dropped, or ended by stop()
                if not answered and not self._stopping.is_set() and time.monotonic() > deadline:
                    log.error("sync: no CONNACK from %s:%d in %.1f s", mqtt.host, mqtt.port,
                              mqtt.connect_timeout_s)
                    break
            if self._stopping.is_set():
                # stop() disconnected on purpose, after the farewell went out.
                self._set_disconnected("stopped")
                return
            if client.is_connected():
                client.disconnect()
            client.loop(timeout=0.01)
            self._set_disconnected("connection lost")
            self._retry_later("disconnected from the broker")

    def _retry_later(self, why: str) -> None:
        self._stopped.wait(self._link.retry_delay(why))

    def _set_disconnected(self, why: str) -> None:
        if self._connected.is_set():
            self._connected.clear()
            self.on_event(("disconnected", why))

    def _on_up(self, session_present: bool) -> None:
        self.connected_since_ns = self.clock.time_ns()
        self._connected.set()
        self.on_event(("connected",))

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason_code: Any,
                    properties: Any) -> None:
        self.on_event(("puback", mid, reason_code.is_failure, str(reason_code)))

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if message.topic == topics.hub_ack(self.agent_id):
            self.on_event(("ack", message.payload))
        elif message.topic == topics.hub_command(self.agent_id):
            self.on_event(("command", message.payload))
        else:
            log.debug("sync: ignoring a message on %s", message.topic)


def _queue_only(client: paho.Client, userdata: Any, sock: Any) -> None:
    """paho's write hook: leave the write to the connection thread's ``loop()``."""
