"""Faults against a real deployment: mosquitto, `tickerml hub run`, `tickerml edge run`.

Each scenario breaks something while agents collect from the market simulator and
sync, then quiesces the agents (SIGTERM, then `tickerml edge sync --until-drained`)
and compares, for every synced table, each agent database's row count and digest
with the hub store's: zero rows lost, zero duplicated.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from shared import topics
from shared.sync.codec import MAGIC, decode_header
from shared.sync.messages import AgentStatus
from shared.sync.tables import TABLES
from tests.integration.harness import REPO, Agent, Deployment, Spy, edge_cursors, wait_until

pytestmark = pytest.mark.slow

OUTAGE_S = 5.0


def caught_up(deploy: Deployment, agent: Agent, target: dict[str, int]) -> bool:
    """Whether the hub holds at least ``target`` rows of every table of ``agent``."""
    held = deploy.hub_counts(agent.agent_id)
    return all(held[t] >= n for t, n in target.items())


def resent_rows(deploy: Deployment, agent: Agent) -> dict[str, int]:
    """Per table, rows the hub received again after it already had them."""
    out = {}
    for table in TABLES:
        log = deploy.ingest_log(agent.agent_id, table)
        out[table] = sum(rows - new for _, _, rows, new, _ in log)
    return out


def test_a_broker_outage_during_collection_is_buffered_and_drained_exactly(
    deploy: Deployment,
) -> None:
    """Tried: mosquitto stopped for 5 s while one agent (Binance.US + Kraken, two paper
    strategies) collects and syncs, then started again on the same port. When it stops,
    the hub holds a batch it has not committed (its store's write lock held from the test,
    released once the broker is gone), so `hub run` commits it and publishes the ack into
    a dead connection (that once ended the hub's writer thread: ingest stopped for good
    while the hub still showed connected). Kept: the agent process collected through the
    outage (its rows grew while the hub's could not), both processes reconnected by
    themselves, the backlog reached the hub after the restart, and every synced table is
    identical at the hub, row for row."""
    deploy.start_broker()
    deploy.start_simulator()
    deploy.start_hub()
    agent = deploy.add_agent("pi-a")
    deploy.start_agent(agent)
    deploy.wait_syncing(agent)
    spy = Spy(deploy.port, [topics.agent_data(agent.agent_id, t) for t in TABLES])
    try:
        with deploy.hub_store_locked():
            frozen = deploy.hub_max_ids(agent.agent_id)
            wait_until(lambda: len(spy.batches_after(frozen)) >= 1, 8,
                       "a batch delivered to the locked hub")
            before = agent.counts()
            deploy.broker.stop()
            stopped = time.monotonic()
    finally:
        spy.close()
    wait_until(
        lambda: all(agent.counts()[t] > before[t] for t in ("trades", "book_snapshots")),
        OUTAGE_S * 2, "trades and snapshots stored while the broker is down",
    )
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))  # the outage itself
    during = agent.counts()
    held = deploy.hub_counts(agent.agent_id)
    assert held["trades"] < during["trades"], "no backlog formed during the outage"
    deploy.broker.start()

    wait_until(lambda: caught_up(deploy, agent, during), 30, "the outage's backlog at the hub")
    assert deploy.running("pi-a") and deploy.running("hub")
    assert deploy.terminate("pi-a") == 0
    deploy.drain(agent)

    rows = deploy.compare(agent)
    print(f"outage backlog: trades {during['trades'] - held['trades']}, book_snapshots "
          f"{during['book_snapshots'] - held['book_snapshots']}; re-received rows "
          f"{sum(resent_rows(deploy, agent).values())}; total {sum(rows.values())}")


def test_b_an_agent_killed_mid_drain_resumes_from_its_stored_cursor(deploy: Deployment) -> None:
    """Tried: a backlog built by stopping the broker for 5 s (raw capture on, batches of
    one row, one in flight, so draining takes hundreds of round trips); the broker
    restarted and `edge run` SIGKILLed once a hundred rows of it reached the hub, then
    started again on the same database (now with the usual batch sizes). Kept: at the
    kill the hub lacked part of the backlog; the cursors the agent had stored were never
    ahead of the hub; the restarted agent's first batch of every table starts right after
    its stored cursor (neither over from the start nor past a gap) and every synced table
    is identical at the hub."""
    deploy.start_broker()
    deploy.start_simulator()
    deploy.start_hub()
    agent = deploy.add_agent("pi-b", raw_capture=True, batch_rows=1, max_inflight=1)
    deploy.start_agent(agent)
    deploy.wait_syncing(agent)
    wait_until(lambda: edge_cursors(agent.db)["raw_messages"] >= 100, 20,
               "acknowledged cursors stored by the agent")

    deploy.broker.stop()
    time.sleep(OUTAGE_S)  # the outage that builds the backlog
    held = deploy.hub_counts(agent.agent_id)
    deploy.broker.start()
    wait_until(
        lambda: sum(deploy.hub_counts(agent.agent_id).values()) >= sum(held.values()) + 100,
        30, "a hundred rows of the backlog drained", every_s=0.01,
    )
    deploy.kill("pi-b")
    at_kill = deploy.hub_counts(agent.agent_id)
    stored = agent.counts()
    missing = sum(stored[t] - at_kill[t] for t in TABLES)
    assert missing > 0, "drained before the kill: no mid-drain"
    cursors = edge_cursors(agent.db)
    with deploy.hub_store() as store:
        hub_ids = store.max_local_ids(agent.agent_id)
    assert all(cursors[t] <= hub_ids[t] for t in TABLES), (cursors, hub_ids)

    agent = deploy.add_agent("pi-b", raw_capture=True)  # same database, usual batching
    restarted_ns = time.time_ns()
    deploy.start_agent(agent)
    wait_until(lambda: caught_up(deploy, agent, stored), 30, "the rest of the backlog at the hub")
    assert deploy.terminate("pi-b") == 0
    deploy.drain(agent)

    rows = deploy.compare(agent)
    resumed = {
        table: min(first for first, *_, sent_ns in log if sent_ns >= restarted_ns)
        for table in TABLES
        if (log := deploy.ingest_log(agent.agent_id, table))
        and any(sent_ns >= restarted_ns for *_, sent_ns in log)
    }
    assert {"trades", "raw_messages"} <= set(resumed), resumed
    assert all(first == cursors[t] + 1 for t, first in resumed.items()), (resumed, cursors)
    again = resent_rows(deploy, agent)
    print(f"killed with {missing} rows not at the hub; stored cursors cover "
          f"{sum(cursors.values())} rows (the hub had {sum(hub_ids.values())}); resumed at "
          f"cursor + 1 in {len(resumed)} tables; rows received twice {sum(again.values())}; "
          f"total {sum(rows.values())}")


def test_c_a_hub_killed_between_receiving_and_acknowledging_stores_each_row_once(
    deploy: Deployment,
) -> None:
    """Tried: the hub store's write lock held from the test (as `tests/hub/test_crash.py`
    does) so `hub run` receives batches but can neither commit nor acknowledge them;
    SIGKILL once a second subscriber has seen three batches past what the hub stored;
    lock released, `hub run` started again. The agent's ack timeout is 60 s, so only the
    broker's copy in the hub's persistent session can bring them quickly. Kept: nothing
    of the locked period was stored or acknowledged before the kill; the new hub stored
    it from the broker's redelivery (every batch on its first attempt) and every synced
    table is identical at the hub."""
    deploy.start_broker()
    deploy.start_simulator()
    deploy.start_hub()
    agent = deploy.add_agent("pi-c", ack_timeout_s=60.0)
    deploy.start_agent(agent)
    deploy.wait_syncing(agent, trades=40, book_snapshots=10)
    spy = Spy(deploy.port, [topics.agent_data(agent.agent_id, t) for t in TABLES])
    try:
        with deploy.hub_store_locked():
            frozen = deploy.hub_counts(agent.agent_id)
            frozen_ids = deploy.hub_max_ids(agent.agent_id)
            wait_until(lambda: len(spy.batches_after(frozen_ids)) >= 3, 8,
                       "three batches delivered while the hub store is locked")
            cursors_at_kill = edge_cursors(agent.db)
            deploy.kill("hub")
        unacked = spy.batches_after(frozen_ids)
        assert deploy.hub_counts(agent.agent_id) == frozen
        assert all(cursors_at_kill[t] <= frozen_ids[t] for t in TABLES)
        sent = agent.counts()

        deploy.start_hub()
        wait_until(lambda: caught_up(deploy, agent, sent), 20,
                   "the locked period's batches at the restarted hub")
        attempts = deploy.attempts(agent.agent_id)
        assert attempts == {1}, f"the agent had to send again: attempts {attempts}"
    finally:
        spy.close()
    assert deploy.terminate("pi-c") == 0
    deploy.drain(agent)

    rows = deploy.compare(agent)
    print(f"hub killed with {len(unacked)} batches ({sum(h.rows for h in unacked)} rows) "
          f"received and unacknowledged, stored once from the broker's redelivery; total "
          f"{sum(rows.values())}")


def test_d_three_agents_into_one_hub_keep_their_rows_apart(deploy: Deployment) -> None:
    """Tried: three `edge run` processes with distinct agent ids (Binance.US only,
    Kraken only, both on one symbol) on one simulator, syncing into one hub at once;
    local ids overlap between them. Kept: each agent's every synced table is identical at
    the hub under its own id, each table's rows at the hub are exactly the three agents'
    (none under another id), and `hub agents --json` lists the three, without dead
    letters."""
    deploy.start_broker()
    deploy.start_simulator()
    deploy.start_hub()
    agents = [
        deploy.add_agent("pi-d1", exchanges=("binanceus",)),
        deploy.add_agent("pi-d2", exchanges=("kraken",)),
        deploy.add_agent("pi-d3", exchanges=("binanceus", "kraken"), symbols=["BTC/USDT"],
                         trading=False),
    ]
    for agent in agents:
        deploy.start_agent(agent)
    for agent in agents:
        deploy.wait_syncing(agent, trades=40, book_snapshots=10)
    for agent in agents:
        assert deploy.terminate(agent.agent_id) == 0
    deploy.drain(*agents)

    per_agent = {agent.agent_id: deploy.compare(agent) for agent in agents}
    with deploy.hub_store() as store:
        for table in TABLES:
            assert store.count(table) == sum(rows[table] for rows in per_agent.values()), table
    listing = subprocess.run(
        [sys.executable, "-m", "shared.cli", "hub", "agents", "-c", str(deploy.hub_config),
         "--json"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )
    fleet = {a["agent_id"]: a for a in json.loads(listing.stdout)}
    assert sorted(fleet) == ["pi-d1", "pi-d2", "pi-d3"]
    assert all(a["dead_letters"] == 0 for a in fleet.values())
    print("per agent rows:", {a: sum(r.values()) for a, r in per_agent.items()})


def forged(payload: bytes, **changes: Any) -> bytes:
    """``payload``'s compressed rows, byte for byte, under its header with ``changes``."""
    header, start = decode_header(payload)
    head = header.model_copy(update=changes).to_bytes()
    return MAGIC + len(head).to_bytes(4, "big") + head + payload[start:]


def test_e_forged_payloads_are_dead_lettered_and_replays_change_nothing(
    deploy: Deployment,
) -> None:
    """Tried: while a real agent syncs, a rogue anonymous client records its batches
    and publishes: one batch twice more, an old batch again, a batch cut short in its
    rows and one cut inside its header, a batch whose header names another agent, the
    agent's batch on another agent's topic, bytes that are no batch, and a status naming
    another agent. Kept: the six bad messages are dead letters with the reasons named;
    the duplicates and the replay were committed with no new row; the real agent, which
    also got acknowledgements for batches it no longer waits for, ends identical at the
    hub in every synced table; nothing is stored under the other agent's id."""
    deploy.start_broker()
    deploy.start_simulator()
    deploy.start_hub()
    agent = deploy.add_agent("pi-e")
    rogue = Spy(deploy.port, [topics.agent_data(agent.agent_id, t) for t in TABLES])
    try:
        deploy.start_agent(agent)
        deploy.wait_syncing(agent, trades=40, book_snapshots=10)
        wait_until(lambda: edge_cursors(agent.db)["trades"] > 0
                   and edge_cursors(agent.db)["book_snapshots"] > 0, 20, "acknowledged rows")
        cursors = edge_cursors(agent.db)
        seen = [(t, p, decode_header(p)[0]) for t, p in rogue.received()]
        acked = [(t, p, h) for t, p, h in seen if h.last_id <= cursors[h.table]]
        trades = next((t, p, h) for t, p, h in acked if h.table == "trades")
        snapshots = next((t, p, h) for t, p, h in acked if h.table == "book_snapshots")
        own_topic, payload, header = trades
        intruder = "pi-intruder"

        rogue.publish(own_topic, payload)  # the same batch, twice more
        rogue.publish(own_topic, payload)
        rogue.publish(snapshots[0], snapshots[1])  # an old batch replayed
        rogue.publish(own_topic, payload[:-7])
        rogue.publish(own_topic, payload[:20])
        rogue.publish(own_topic, forged(payload, agent_id=intruder))
        rogue.publish(topics.agent_data(intruder, "trades"), payload)
        rogue.publish(own_topic, b"GET / HTTP/1.1\r\n\r\n")
        foreign = AgentStatus(agent_id=intruder, state="online", ts_ns=time.time_ns())
        rogue.publish(topics.agent_status(agent.agent_id), foreign.to_bytes())

        def logged(table: str, first: int) -> list[tuple[int, int, int, int, int]]:
            return [b for b in deploy.ingest_log(agent.agent_id, table) if b[0] == first]

        wait_until(lambda: len(logged("trades", header.first_id)) >= 3
                   and len(logged("book_snapshots", snapshots[2].first_id)) >= 2,
                   20, "the duplicates and the replay handled")
        with deploy.hub_store() as store:
            wait_until(lambda: len(store.dead_letters()) >= 6, 20, "six dead letters")
    finally:
        rogue.close()
    for table, first, copies in (("trades", header.first_id, 3),
                                 ("book_snapshots", snapshots[2].first_id, 2)):
        batches = logged(table, first)
        assert len(batches) == copies, batches
        assert sum(new for *_, new, _ in batches) == batches[0][2], batches
    assert deploy.terminate("pi-e") == 0
    deploy.drain(agent)

    rows = deploy.compare(agent)
    with deploy.hub_store() as store:
        letters = store.dead_letters()
        assert all(store.count(t, intruder) == 0 for t in TABLES)
    reasons = sorted((d.agent_id or "-", d.reason) for d in letters)
    expected = [
        ("pi-e", "rows are truncated"), ("pi-e", "runs past the payload"),
        ("pi-e", "foreign batch: the header names agent 'pi-intruder'"),
        ("pi-e", "not a TickerML batch"), ("pi-e", "foreign message: it names agent"),
        (intruder, "foreign batch: the header names agent 'pi-e'"),
    ]
    assert len(letters) == len(expected), reasons
    for who, words in expected:
        assert any(a == who and words in r for a, r in reasons), (who, words, reasons)
    print("dead letters:", *(f"{a}: {r}" for a, r in reasons), sep="\n  ")
    print(f"total rows {sum(rows.values())}")
