"""The ingest against a real mosquitto and a real SQLite file: stored once, acked after commit."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.ingest.service import IngestService
from hub.store.db import STORE_FILE
from hub.store.store import HubStore
from provisioning.broker import Broker
from shared.config.hub import HubConfig
from shared.sync.digest import rows_digest
from shared.sync.messages import Ack
from shared.topics import HUB_SUBSCRIPTIONS
from tests.hub.agent_client import TestAgent, trade_batch, trade_rows
from tests.shared.dynsec import Account, start_dynsec_broker
from tests.waiting import wait_for


def test_a_batch_is_acknowledged_only_after_its_rows_are_committed(
    ingest: IngestService, hub_config: HubConfig, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: one 500-row batch. Kept: the rows, readable from a separate connection at
    the very moment the agent receives the committed ack, which reports 500 new rows."""
    agent = make_agent("pi-1")
    db = f"{hub_config.data_dir}/{STORE_FILE}"
    seen_at_ack: list[int] = []

    def count_on_ack(ack: Ack) -> None:
        with sqlite3.connect(db) as conn:
            seen_at_ack.append(
                conn.execute("SELECT count(*) FROM trades WHERE agent_id = 'pi-1'").fetchone()[0]
            )

    agent.on_ack = count_on_ack

    agent.send(trade_batch("pi-1", 1, 500))
    [ack] = agent.wait_acks(1)

    assert (ack.outcome, ack.table, ack.first_id, ack.last_id) == ("committed", "trades", 1, 500)
    assert ack.rows_new == 500
    assert seen_at_ack == [500]


def test_a_resent_batch_is_stored_once_and_acknowledged_again_with_no_new_rows(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: the same batch twice (an agent that missed the first ack). Kept: its rows
    once; both sends acknowledged, the second with rows_new=0."""
    agent = make_agent("pi-1")
    payload = trade_batch("pi-1", 1, 200)

    agent.send(payload)
    agent.wait_acks(1)
    agent.send(payload)
    first, second = agent.wait_acks(2)

    assert (first.outcome, first.rows_new) == ("committed", 200)
    assert (second.outcome, second.rows_new) == ("committed", 0)
    assert store.count("trades", "pi-1") == 200


def test_overlapping_ranges_keep_each_row_once_and_match_the_agents_digest(
    ingest: IngestService, store: HubStore, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: rows 1-100, then 51-150 (a re-send that overlaps), from two agents with the
    same local ids. Kept: 150 rows per agent, rows_new 100 then 50, and each agent's
    digest equal to one computed from the rows it sent."""
    agents = [make_agent("pi-1"), make_agent("pi-2")]

    for agent in agents:
        agent.send(trade_batch(agent.agent_id, 1, 100))
        agent.send(trade_batch(agent.agent_id, 51, 100))

    for agent in agents:
        acks = agent.wait_acks(2)
        assert [a.rows_new for a in acks] == [100, 50]
        assert store.count("trades", agent.agent_id) == 150
        assert store.table_digest("trades", agent.agent_id) == rows_digest(trade_rows(1, 150))
    assert store.max_local_ids("pi-1")["trades"] == 150
    assert store.count("trades") == 300


def test_batches_sent_while_the_hub_is_down_are_delivered_when_it_returns(
    hub_config: HubConfig, store: HubStore, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: a hub that connected once, stopped, then two batches published, then a new
    hub process. Kept: both batches (the broker held them in the hub's persistent
    session), each acknowledged after the new hub committed it."""
    first = IngestService(hub_config, store=store)
    first.start()
    assert first.wait_subscribed(10)
    first.stop()
    agent = make_agent("pi-1")

    agent.send(trade_batch("pi-1", 1, 100))
    agent.send(trade_batch("pi-1", 101, 100))
    second = IngestService(hub_config, store=store)
    second.start()
    try:
        acks = agent.wait_acks(2)
    finally:
        second.stop()

    assert [(a.outcome, a.rows_new) for a in acks] == [("committed", 100), ("committed", 100)]
    assert store.count("trades", "pi-1") == 200


def test_a_broker_restart_is_survived_and_ingest_resumes(
    ingest: IngestService, store: HubStore, plain_broker: Broker,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: a batch, a broker stop/start, then another batch from a reconnected agent.
    Kept: both batches; the ingest reconnected and resubscribed by itself."""
    agent = make_agent("pi-1")
    agent.send(trade_batch("pi-1", 1, 50))
    agent.wait_acks(1)
    agent.close()

    plain_broker.restart()
    wait_for(lambda: ingest.wait_subscribed(0.1), 15, "the ingest resubscribed")
    again = make_agent("pi-1")
    again.send(trade_batch("pi-1", 51, 50))
    [ack] = again.wait_acks(1)

    assert (ack.outcome, ack.rows_new) == ("committed", 50)
    assert store.count("trades", "pi-1") == 100


def test_the_ingest_counts_what_it_stored(
    ingest: IngestService, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: three 1,000-row batches. Kept: totals of 3 batches and 3,000 rows in the
    stats and in the status line."""
    agent = make_agent("pi-1")
    for first in (1, 1001, 2001):
        agent.send(trade_batch("pi-1", first, 1000))
    agent.wait_acks(3)

    assert (ingest.stats.batches, ingest.stats.rows, ingest.stats.rows_new) == (3, 3000, 3000)
    assert "batches=3, rows=3000" in ingest.status_line()


def test_a_hub_started_before_its_broker_connects_once_the_broker_is_up(
    hub_config: HubConfig, store: HubStore, plain_broker: Broker,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: the broker stopped, the ingest started, the broker started once the ingest
    had failed to reach it twice. Kept: the ingest retried on its own (jittered backoff)
    and subscribed; a batch sent then is committed and acknowledged."""
    plain_broker.stop()
    service = IngestService(hub_config, store=store)
    service.start()
    try:
        wait_for(lambda: service.retries >= 2, 15, "two attempts on the absent broker")
        assert not service.connected
        plain_broker.start()
        assert service.wait_subscribed(15), "the ingest never connected"
        agent = make_agent("pi-1")
        agent.send(trade_batch("pi-1", 1, 10))
        [ack] = agent.wait_acks(1)
    finally:
        service.stop()

    assert (ack.outcome, ack.rows_new) == ("committed", 10)


@pytest.mark.parametrize(("password", "subscribe", "refused"), [
    ("wrong", HUB_SUBSCRIPTIONS, "refused the connection: Not authorized"),
    ("right", HUB_SUBSCRIPTIONS[:2],
     f"refused the subscription to {HUB_SUBSCRIPTIONS[2]} (Not authorized)"),
])
def test_an_ingest_the_broker_refuses_logs_why_and_never_counts_as_subscribed(
    tmp_path: Path, hub_config: HubConfig, store: HubStore, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, password: str, subscribe: tuple[str, ...], refused: str,
) -> None:
    """Tried: a wrong hub password; then the right one without the right to read the
    command results. Kept: the broker's reason logged as an error, and the ingest never
    reports itself subscribed (the demo and the tests wait on that)."""
    broker = start_dynsec_broker(tmp_path / "dynsec", {"hub": Account("right", subscribe)})
    monkeypatch.setenv("TICKERML_TEST_HUB_PASSWORD", password)
    mqtt = hub_config.mqtt.model_copy(update={
        "port": broker.port, "username": "hub", "password_env": "TICKERML_TEST_HUB_PASSWORD",
    })
    service = IngestService(hub_config.model_copy(update={"mqtt": mqtt}), store=store)
    line = f"ingest: the broker at 127.0.0.1:{broker.port} {refused}"
    service.start()
    try:
        wait_for(lambda: line in [r.getMessage() for r in caplog.records
                                  if r.levelno >= logging.ERROR], 10, f"the error {line!r}")
        assert not service.wait_subscribed(0.5)
    finally:
        service.stop()
        broker.stop()
