"""A tiny hub for the sync tests: a real paho client on the real broker that
"commits" each batch into a dict keyed on (table, local id) and then acknowledges
it, or rejects it, or stays silent, as the test says. Plus config and row helpers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.store.writer import StoreWriter
from shared import topics
from shared.config.edge import EdgeConfig
from shared.config.store import StoreConfig
from shared.sync.codec import decode_header, decode_rows
from shared.sync.messages import Ack, AgentStatus, BatchHeader, Command, CommandResult

AGENT = "pi-test"

Verdict = Callable[[BatchHeader], str]
"""Given a batch header: 'commit', 'reject', 'conflict' (keeps nothing, answers
conflict) or 'ignore'."""


def edge_config(tmp_path: Path, port: int, **sync: Any) -> EdgeConfig:
    """An edge config syncing to the loopback broker on ``port``, fast timers."""
    settings: dict[str, Any] = {
        "enabled": True,
        "mqtt": {"host": "127.0.0.1", "port": port, "keepalive_s": 5, "connect_timeout_s": 2},
        "batch_interval_s": 0.05,
        "status_interval_s": 30.0,
        "ack_timeout_s": 5.0,
        "backoff": {"initial_s": 0.05, "max_s": 0.3},
    }
    settings.update(sync)
    return EdgeConfig.model_validate(
        {"agent_id": AGENT, "data_dir": str(tmp_path), "sync": settings}
    )


def new_writer(db: Path) -> StoreWriter:
    """A store writer committing every 20 ms, so tests wait little for rows."""
    return StoreWriter(db, StoreConfig(commit_interval_s=0.02))


def put_events(writer: StoreWriter, start: int, count: int, ts_ns: int = 1_000) -> None:
    """``count`` feed_events rows, detail ``e<start>``.. (the detail identifies a row)."""
    for i in range(start, start + count):
        writer.put("feed_events", ("kraken", "BTC/USD", "connected", f"e{i}", ts_ns + i))


def put_trades(writer: StoreWriter, start: int, count: int) -> None:
    for i in range(start, start + count):
        writer.put(
            "trades", ("kraken", "BTC/USD", str(i), "1.5", "0.1", "buy", i, i, "live")
        )


class Hub:
    """The test's hub: commits, acknowledges, records statuses and command results."""

    def __init__(self, port: int, verdict: Verdict | None = None) -> None:
        self.verdict: Verdict = verdict or (lambda header: "commit")
        self.store: dict[tuple[str, int], list[Any]] = {}
        self.deliveries = 0
        self.headers: list[BatchHeader] = []
        self.statuses: list[AgentStatus] = []
        self.retained_statuses: list[AgentStatus] = []
        self.results: list[CommandResult] = []
        self._cond = threading.Condition()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="test-hub", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port, 5)
        self.client.loop_start()
        assert self._subscribed.wait(5), "test hub did not subscribe"

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        client.subscribe([(t, 1) for t in topics.HUB_SUBSCRIPTIONS])

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        kind = topics.parse_agent_topic(msg.topic).kind
        with self._cond:
            if kind == "status":
                status = AgentStatus.from_bytes(bytes(msg.payload))
                (self.retained_statuses if msg.retain else self.statuses).append(status)
            elif kind == "cmd-result":
                self.results.append(CommandResult.from_bytes(bytes(msg.payload)))
            else:
                self._on_batch(client, bytes(msg.payload))
            self._cond.notify_all()

    def _on_batch(self, client: paho.Client, payload: bytes) -> None:
        header, start = decode_header(payload)
        rows = decode_rows(payload, header, start, max_bytes=64_000_000)
        self.deliveries += 1
        self.headers.append(header)
        verdict = self.verdict(header)
        if verdict == "ignore":
            return
        if verdict == "commit":
            for row in rows:
                self.store[(header.table, row[0])] = row
        outcome = {"commit": "committed", "conflict": "conflict"}.get(verdict, "rejected")
        ack = Ack.model_validate({
            "agent_id": header.agent_id, "table": header.table, "first_id": header.first_id,
            "last_id": header.last_id, "outcome": outcome, "epoch": header.epoch,
            "reason": "" if verdict == "commit" else f"test hub says {verdict}",
            "rows_conflict": header.rows if verdict == "conflict" else 0, "ts_ns": time.time_ns(),
        })
        client.publish(topics.hub_ack(header.agent_id), ack.to_bytes(), qos=1)

    def rows(self, table: str) -> dict[int, list[Any]]:
        with self._cond:
            return {i: row for (t, i), row in self.store.items() if t == table}

    def wait(self, predicate: Callable[[Hub], bool], timeout_s: float = 10.0) -> bool:
        """Wait until ``predicate(self)`` holds (checked on every message)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True

    def command(self, payload: bytes | Command) -> None:
        data = payload.to_bytes() if isinstance(payload, Command) else payload
        self.client.publish(topics.hub_command(AGENT), data, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def command(command_id: str, kind: str, **args: str) -> Command:
    """A hub command to :data:`AGENT`, issued now."""
    return Command.model_validate({
        "agent_id": AGENT, "command_id": command_id, "kind": kind, "args": args,
        "issued_ns": time.time_ns(),
    })


def result_of(hub: Hub, command_id: str, count: int = 1) -> list[CommandResult]:
    """The agent's answers to ``command_id``, once ``count`` of them reached ``hub``."""
    assert hub.wait(lambda h: sum(r.command_id == command_id for r in h.results) >= count)
    return [r for r in hub.results if r.command_id == command_id]
