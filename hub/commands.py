"""Sending one command to one agent and waiting for its answer.

The hub's ingest records every answer it sees as well, so a command sent while
``hub run`` is running is logged twice, idempotently (same command id). This client
uses its own short-lived, clean MQTT session under its own client id: reusing
``hub`` would take over (and end) the ingest's session. Its connection is a
:class:`shared.mqtt.Link` like every client's: a refused connection or a refused
subscription to the results ends the command with a :class:`TemporaryError`. It
keeps paho's own reconnect delays: it lives for one command.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from hub.store.store import HubStore
from shared.clock import Clock, LiveClock
from shared.config.mqtt import MqttConfig
from shared.errors import MessageError, TemporaryError
from shared.mqtt import Link, connect_properties, new_client
from shared.sync.messages import Command, CommandKind, CommandResult
from shared.topics import agent_command_result, hub_command

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """The command sent and the agent's result (None: no answer in time)."""

    command: Command
    result: CommandResult | None

    @property
    def ok(self) -> bool:
        """Answered and done."""
        return self.result is not None and self.result.outcome == "done"


def new_command(
    agent_id: str, kind: CommandKind, args: dict[str, str] | None = None, *,
    clock: Clock | None = None,
) -> Command:
    """A command with a fresh id."""
    return Command(
        agent_id=agent_id, command_id=uuid.uuid4().hex, kind=kind, args=args or {},
        issued_ns=(clock or LiveClock()).time_ns(),
    )


def send_command(
    mqtt: MqttConfig, store: HubStore, command: Command, *, wait_s: float,
    clock: Clock | None = None,
) -> CommandOutcome:
    """Publish ``command``, wait up to ``wait_s`` for its result, record both.

    :class:`TemporaryError` when the broker cannot be reached or refuses the connection,
    the subscription to the results or the publish.
    """
    clock = clock or LiveClock()
    published = threading.Event()
    answered = threading.Event()
    refused: list[str] = []
    results: list[CommandResult] = []
    broker = f"{mqtt.host}:{mqtt.port}"
    link = Link("hub command", [agent_command_result(command.agent_id)], broker=broker, log=log)

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
            answered.set()

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
        client.publish(hub_command(command.agent_id), command.to_bytes(), qos=1)
        if not published.wait(mqtt.connect_timeout_s) or refused:
            raise TemporaryError(f"command not accepted: {'; '.join(refused) or 'no PUBACK'}")
        answered.wait(wait_s)
    finally:
        link.closing()
        client.disconnect()
        client.loop_stop()
    result = results[0] if results else None
    if result is not None:
        store.record_command_result(result, received_ns=clock.time_ns())
    return CommandOutcome(command, result)
