"""Fixtures for the hub's tests: a config on a real broker, a running ingest, agents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hub.ingest.service import IngestService
from hub.store.store import HubStore
from provisioning.broker import Broker
from shared.config.hub import HubConfig, IngestConfig
from shared.config.mqtt import MqttConfig
from tests.hub.agent_client import TestAgent

# Small limits so refusal tests need small payloads.
MAX_PAYLOAD = 200_000
MAX_BATCH = 1_000_000


@pytest.fixture()
def hub_config(tmp_path: Path, plain_broker: Broker) -> HubConfig:
    """A hub config on the test broker, its store in tmp_path/hub."""
    return HubConfig(
        data_dir=str(tmp_path / "hub"),
        mqtt=MqttConfig(host="127.0.0.1", port=plain_broker.port, connect_timeout_s=5),
        ingest=IngestConfig(max_payload_bytes=MAX_PAYLOAD, max_batch_bytes=MAX_BATCH,
                            status_interval_s=0.5),
    )


@pytest.fixture()
def store(hub_config: HubConfig) -> Iterator[HubStore]:
    """The hub store (a real SQLite file) the ingest writes to."""
    with HubStore.in_dir(hub_config.data_dir) as opened:
        yield opened


@contextmanager
def running_ingest(config: HubConfig, store: HubStore | None = None) -> Iterator[IngestService]:
    """`hub run`'s ingest on ``config``'s broker, started and subscribed; stopped after."""
    service = IngestService(config, store=store)
    service.start()
    try:
        assert service.wait_subscribed(10), "the ingest never subscribed"
        yield service
    finally:
        service.stop()


@pytest.fixture()
def ingest(hub_config: HubConfig, store: HubStore) -> Iterator[IngestService]:
    """A running ingest, subscribed."""
    with running_ingest(hub_config, store) as service:
        yield service


@pytest.fixture()
def make_agent(plain_broker: Broker) -> Iterator[Callable[..., TestAgent]]:
    """Connect test agents to the broker; each is closed at the end."""
    agents: list[TestAgent] = []

    def make(agent_id: str = "pi-1", **kwargs: object) -> TestAgent:
        agent = TestAgent(plain_broker.port, agent_id, **kwargs)  # type: ignore[arg-type]
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()
