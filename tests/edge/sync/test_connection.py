"""The agent's broker connection against a mosquitto that refuses it (shared.mqtt.Link)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.sync.connection import BrokerConnection, Event
from shared import topics
from shared.clock import LiveClock
from tests.edge.sync.helpers import AGENT, edge_config
from tests.shared.dynsec import Account, start_dynsec_broker
from tests.waiting import wait_for

PASSWORD_ENV = "TICKERML_TEST_AGENT_PASSWORD"


def connection(tmp_path: Path, port: int, events: list[Event]) -> BrokerConnection:
    mqtt = {"host": "127.0.0.1", "port": port, "keepalive_s": 5, "connect_timeout_s": 2,
            "username": AGENT, "password_env": PASSWORD_ENV}
    config = edge_config(tmp_path, port, mqtt=mqtt).sync
    return BrokerConnection(AGENT, config, LiveClock(), on_event=events.append,
                            last_will=lambda: b"offline")


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_agent_with_a_wrong_password_is_refused_and_retries_with_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: the agent's password is wrong. Kept: never connected, no "connected" event,
    each refusal logged with the broker's reason and followed by a backoff wait."""
    broker = start_dynsec_broker(tmp_path / "dynsec", {AGENT: Account("right")})
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    events: list[Event] = []
    conn = connection(tmp_path, broker.port, events)
    conn.start()
    try:
        wait_for(lambda: conn.connect_failures >= 2, 10, "retries after the refusal")
        assert not conn.connected and conn.connects == 0
    finally:
        conn.stop()
        broker.stop()
    assert ("connected",) not in events
    refusal = f"sync: the broker at 127.0.0.1:{broker.port} refused the connection: Not authorized"
    assert refusal in error_lines(caplog)


def test_an_agent_refused_its_command_subscription_says_so_and_stays_connected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: the broker lets the agent subscribe to its acknowledgements only. Kept:
    connected (batches can still be acknowledged) and the refused topics logged as errors."""
    broker = start_dynsec_broker(
        tmp_path / "dynsec", {AGENT: Account("right", (topics.hub_ack(AGENT),))}
    )
    monkeypatch.setenv(PASSWORD_ENV, "right")
    events: list[Event] = []
    conn = connection(tmp_path, broker.port, events)
    conn.start()
    try:
        wait_for(lambda: any(topics.hub_command(AGENT) in line for line in error_lines(caplog)),
                 10, "the refused command subscription logged as an error")
        assert conn.connected and conn.connects == 1
    finally:
        conn.stop()
        broker.stop()
    assert events[0] == ("connected",)
    assert (f"sync: the broker at 127.0.0.1:{broker.port} refused the subscription to "
            f"{topics.hub_command(AGENT)} (Not authorized), {topics.MODELS} (Not authorized)"
            ) in error_lines(caplog)
