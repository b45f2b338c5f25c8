"""Sending one command to one agent and waiting for its answer.

**Identity.** The broker makes every client's id its certificate's CN (one
certificate, one connection), so a command client holding the hub's own certificate
would take over the running ingest's session. This client connects with the
operator's identity instead, ``command_mqtt`` in hub.yaml (provisioning's ``hub-cli``
certificate; :func:`command_mqtt` refuses to fall back on an ``mqtt`` that carries an
identity), with a short-lived clean session. Its connection is a
:class:`shared.mqtt.Link` like every client's: a refused connection or a refused
subscription to the results ends the command with a :class:`TemporaryError`. It
keeps paho's own reconnect delays: it lives for one command.

**An offline agent.** Agents keep a persistent session, so the broker holds a command
for an agent that is away and delivers it when the agent is back. Every command
carries an expiry (``expires_ns``, and the same as its MQTT v5 message expiry
interval): the broker drops it once expired, and an agent that gets it late answers
``expired`` without running it. When the hub store shows the agent offline (its last
will, or not heard from for ``ingest.offline_after_s``), :func:`agent_absence` says
since when, and the caller reports the command queued at once instead of waiting;
``hub run`` records the answer when it comes. The ingest records every answer it
sees anyway, so a command sent while ``hub run`` is running is logged twice,
idempotently (same command id).
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.fleet import agent_view
from hub.store.store import HubStore
from shared.clock import Clock, LiveClock
from shared.config.hub import HubConfig, IngestConfig
from shared.config.mqtt import MqttConfig
from shared.errors import ConfigError, MessageError, TemporaryError
from shared.mqtt import SESSION_EXPIRY_S, Link, connect_properties, new_client
from shared.sync.messages import Command, CommandKind, CommandResult
from shared.topics import agent_command_result, hub_command

log = logging.getLogger(__name__)

DEFAULT_EXPIRES_IN_S = 600.0
"""How long a command stays valid by default: kept for an agent that is away for ten
minutes, not acted on hours later."""
MAX_EXPIRES_IN_S = float(SESSION_EXPIRY_S)
"""No longer than the broker keeps an absent agent's session (and the command in it)."""


@dataclass(frozen=True, slots=True)
class AgentAbsence:
    """Why the hub store shows an agent offline, and since when it was last heard from."""

    agent_id: str
    state: str
    """The state of its last status: ``offline`` (its last will or its farewell), or
    ``online`` from a status too old to trust (see ``ingest.offline_after_s``)."""
    since_ns: int | None
    """When the hub last heard from or about it (None: never)."""
    offline_after_s: float


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """The command sent and the agent's result (None: no answer in time)."""

    command: Command
    result: CommandResult | None
    dropped: str | None = None
    """Why the connection dropped while waiting for the answer, if it did (the command
    was sent; the running hub records its answer)."""

    @property
    def ok(self) -> bool:
        """Answered and done."""
        return self.result is not None and self.result.outcome == "done"


def new_command(
    agent_id: str, kind: CommandKind, args: dict[str, str] | None = None, *,
    expires_in_s: float = DEFAULT_EXPIRES_IN_S, clock: Clock | None = None,
) -> Command:
    """A command with a fresh id, valid for ``expires_in_s`` from now."""
    now_ns = (clock or LiveClock()).time_ns()
    return Command(
        agent_id=agent_id, command_id=uuid.uuid4().hex, kind=kind, args=args or {},
        issued_ns=now_ns, expires_ns=now_ns + int(expires_in_s * 1e9),
    )


def command_mqtt(config: HubConfig) -> MqttConfig:
    """How ``hub command`` reaches the broker: ``command_mqtt``, else ``mqtt`` when that
    has no identity; :class:`ConfigError` when it has one (it is the ingest's own)."""
    if config.command_mqtt is not None:
        return config.command_mqtt
    mqtt = config.mqtt
    if (mqtt.tls is not None and mqtt.tls.cert_file is not None) or mqtt.username is not None:
        raise ConfigError(
            "command_mqtt: not set, and `mqtt` is the hub's own identity: the broker allows "
            "one connection per identity, so `hub command` would take over the running "
            "ingest's session. Paste the `command_mqtt:` section of the provisioning "
            "folder's hub-mqtt.yaml (the hub-cli certificate) into hub.yaml"
        )
    return mqtt


def agent_absence(
    store: HubStore, agent_id: str, ingest: IngestConfig, *, now_ns: int
) -> AgentAbsence | None:
    """The agent's absence as the hub store's fleet status shows it; None when it is
    online or the hub has never heard of it (then a command is sent and awaited)."""
    record = store.agent(agent_id)
    if record is None:
        return None
    view = agent_view(record, {}, ingest, now_ns=now_ns)
    if view.online:
        return None
    return AgentAbsence(agent_id, record.state, record.last_seen_ns, ingest.offline_after_s)


def send_command(
    mqtt: MqttConfig, store: HubStore, command: Command, *, wait_s: float,
    clock: Clock | None = None,
) -> CommandOutcome:
    """Publish ``command`` (its MQTT message expiry from ``expires_ns``), wait up to
    ``wait_s`` for its result, record both.

    :class:`TemporaryError` when the broker cannot be reached or refuses the connection,
    the subscription to the results or the publish.
    """
    clock = clock or LiveClock()
    published = threading.Event()
    settled = threading.Event()
    refused: list[str] = []
    dropped: list[str] = []
    results: list[CommandResult] = []
    broker = f"{mqtt.host}:{mqtt.port}"
    finishing = threading.Event()

    def on_down(why: str) -> None:
        # The broker gives the operator's identity one connection: a second `hub command`
        # running at the same time takes this one over, and its answer is lost to us.
        if published.is_set() and not finishing.is_set():
            dropped.append(why)
            settled.set()

    link = Link("hub command", [agent_command_result(command.agent_id)], broker=broker, log=log,
                on_down=on_down)

    def on_publish(
        client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            refused.append(f"the broker refused the command: {reason}")
        published.set()

    def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            result = CommandResult.from_bytes(bytes(message.payload), where=message.topic)
        except MessageError:
            return  # someone else's malformed answer: the ingest dead-letters it
        if result.command_id == command.command_id and result.agent_id == command.agent_id:
            results.append(result)
            settled.set()

    client = new_client(mqtt, f"hub-cmd-{command.command_id[:16]}")
    link.attach(client, reconnect=True)
    client.on_publish = on_publish
    client.on_message = on_message
    client.connect_timeout = mqtt.connect_timeout_s
    try:
        client.connect(mqtt.host, mqtt.port, mqtt.keepalive_s, clean_start=True,
                       properties=connect_properties(persistent=False))
    except OSError as exc:
        raise TemporaryError(f"cannot reach the broker at {broker}: {exc}") from None
    client.loop_start()
    try:
        if not link.settled.wait(mqtt.connect_timeout_s) or not link.subscribed.is_set():
            raise TemporaryError(link.refusal or f"the broker at {broker} did not answer")
        store.record_command(command)
        client.publish(hub_command(command.agent_id), command.to_bytes(), qos=1,
                       properties=_expiry(command, clock))
        if not published.wait(mqtt.connect_timeout_s) or refused:
            raise TemporaryError(f"command not accepted: {'; '.join(refused) or 'no PUBACK'}")
        settled.wait(wait_s)
    finally:
        finishing.set()
        link.closing()
        client.disconnect()
        client.loop_stop()
    result = results[0] if results else None
    if result is not None:
        store.record_command_result(result, received_ns=clock.time_ns())
    return CommandOutcome(command, result, None if result is not None or not dropped
                          else dropped[0])


def _expiry(command: Command, clock: Clock) -> Properties:
    """PUBLISH properties: the broker drops the command once ``expires_ns`` has passed."""
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if command.expires_ns is not None:
        left_s = (command.expires_ns - clock.time_ns()) / 1e9
        props.MessageExpiryInterval = max(1, math.ceil(left_s))
    return props
