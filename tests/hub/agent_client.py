"""A test agent: a plain paho v5 client speaking the sync protocol to a real broker.

It is deliberately not the edge's sync client (the hub's tests must not depend on
it): it publishes the batches a test builds, records every acknowledgement and
command it receives, and can answer commands with a chosen outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from shared.sync.codec import encode_batch
from shared.sync.messages import (
    Ack,
    AgentStatus,
    BatchHeader,
    Command,
    CommandResult,
)
from shared.sync.tables import TABLES
from shared.topics import (
    agent_command_result,
    agent_data,
    agent_status,
    hub_ack,
    hub_command,
)

T0_NS = 1_763_769_600_000_000_000
EPOCH = "0123456789abcdef" * 2
"""The database epoch a test agent's batches and statuses name unless told otherwise."""


def trade_rows(first_id: int, count: int) -> list[list[Any]]:
    """``count`` trades rows (id first, the contract's columns) from ``first_id``."""
    return [
        [i, "kraken", "BTC/USD", str(9_000_000 + i), f"{64_000 + i % 997}.{i % 100:02d}",
         f"0.{i * 7919 % 99_999:05d}", "buy" if i % 3 else "sell", T0_NS + i * 1_000_000,
         T0_NS + i * 1_000_000 + 250_000, "live"]
        for i in range(first_id, first_id + count)
    ]


def header_for(agent_id: str, data: list[list[Any]], /, **changes: Any) -> BatchHeader:
    """The trades header that truthfully describes ``data`` (then ``changes`` applied):
    epoch :data:`EPOCH`, the table's newest id the batch's last."""
    fields: dict[str, Any] = {
        "agent_id": agent_id, "table": "trades", "columns": TABLES["trades"].columns,
        "first_id": data[0][0], "last_id": data[-1][0], "rows": len(data),
        "created_ns": time.time_ns(), "sent_ns": time.time_ns(), "epoch": EPOCH,
        "table_last_id": data[-1][0],
    }
    fields.update(changes)
    return BatchHeader(**fields)


def trade_batch(agent_id: str, first_id: int, count: int) -> bytes:
    """A valid batch of ``count`` trades from ``first_id``."""
    rows = trade_rows(first_id, count)
    return encode_batch(header_for(agent_id, rows), rows)


class TestAgent:
    """One agent's MQTT side: publish batches and statuses, collect acks, answer commands."""

    __test__ = False  # not a test class, despite its name

    def __init__(
        self, port: int, agent_id: str, *, will: bool = True, epoch: str | None = EPOCH
    ) -> None:
        self.agent_id = agent_id
        self.epoch = epoch
        self.acks: list[Ack] = []
        self.raw_acks: list[bytes] = []
        """Every ack's payload as it came, for checks of its wire shape."""
        self.commands: list[Command] = []
        self.on_ack: Callable[[Ack], None] | None = None
        self.answer: Literal["done", "refused", "failed"] | None = "done"
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"agent-{agent_id}", protocol=paho.MQTTv5
        )
        if will:
            offline = AgentStatus(
                agent_id=agent_id, state="offline", ts_ns=time.time_ns(), epoch=epoch
            )
            self.client.will_set(agent_status(agent_id), offline.to_bytes(), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError(f"test agent {agent_id}: no SUBACK")

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        client.subscribe([(hub_ack(self.agent_id), 1), (hub_command(self.agent_id), 1)])

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if message.topic == hub_ack(self.agent_id):
            ack = Ack.from_bytes(bytes(message.payload))
            if self.on_ack is not None:
                self.on_ack(ack)
            with self._cond:
                self.acks.append(ack)
                self.raw_acks.append(bytes(message.payload))
                self._cond.notify_all()
        elif message.topic == hub_command(self.agent_id):
            command = Command.from_bytes(bytes(message.payload))
            with self._cond:
                self.commands.append(command)
                self._cond.notify_all()
            if self.answer is not None:
                result = CommandResult(
                    agent_id=self.agent_id, command_id=command.command_id, kind=command.kind,
                    outcome=self.answer, detail=f"{self.answer} by the test agent",
                    ts_ns=time.time_ns(),
                )
                client.publish(agent_command_result(self.agent_id), result.to_bytes(), qos=1)

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish and wait for the broker's PUBACK (not the hub's ack)."""
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def send(self, payload: bytes, table: str = "trades") -> None:
        """Publish a batch on this agent's data topic for ``table``."""
        self.publish_raw(agent_data(self.agent_id, table), payload)

    def status(
        self, state: Literal["online", "offline"] = "online", **fields: Any
    ) -> AgentStatus:
        """Publish a retained status."""
        fields.setdefault("epoch", self.epoch)
        status = AgentStatus(
            agent_id=self.agent_id, state=state, ts_ns=time.time_ns(), **fields
        )
        self.publish_raw(agent_status(self.agent_id), status.to_bytes(), retain=True)
        return status

    def wait_acks(self, count: int, timeout_s: float = 10.0) -> list[Ack]:
        """The first ``count`` acks; AssertionError when fewer come within ``timeout_s``."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.acks) >= count, timeout_s):
                raise AssertionError(f"{len(self.acks)} of {count} acks arrived: {self.acks}")
            return list(self.acks[:count])

    def crash(self) -> None:
        """Drop the connection without DISCONNECT, so the broker publishes the last will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

