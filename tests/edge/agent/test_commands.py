"""The agent's own command handlers, with the agent syncing to a test hub over the
real broker: resyncs on Binance.US and Kraken books, a trading pause and resume."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent.commands import agent_handlers
from edge.agent.service import AgentService
from edge.simulator.server import SimulatorServer
from provisioning.broker import Broker
from shared.clock import LiveClock
from shared.config.edge import EdgeConfig
from shared.config.simulator import SimulatorConfig
from shared.sync.messages import CommandResult
from tests.edge.loopback import BinanceLoopback
from tests.edge.sync.helpers import AGENT, Hub, command, edge_config, result_of
from tests.waiting import wait_for_async


@pytest.fixture()
def hub(plain_broker: Broker) -> Iterator[Hub]:
    test_hub = Hub(plain_broker.port)
    yield test_hub
    test_hub.close()


def test_the_agent_syncs_its_rows_and_answers_commands(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: an agent on the loopback exchange with sync enabled; the hub asks for a
    resync of a collected symbol, of an unknown one, and a trading pause. Kept: trades
    reach the hub, the resync is done and recorded as a feed event, the others refused
    with their reason, feed health in the status, offline status after shutdown."""
    results: dict[str, CommandResult] = {}

    async def main() -> None:
        async with BinanceLoopback(["BTC/USDT"], interval_s=0.02) as server:
            base = edge_config(tmp_path, plain_broker.port, status_interval_s=0.2)
            config = EdgeConfig.model_validate({
                **base.model_dump(),
                "exchanges": [{"name": "binanceus", "symbols": ["BTC/USDT"], "depth": 100,
                               "ws_url": server.ws_url, "rest_url": server.rest_url}],
                "store": {"commit_interval_s": 0.05},
                "logging": {"file": None},
            })
            service = AgentService(config, clock=LiveClock())
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop=stop))
            try:
                assert await asyncio.to_thread(
                    hub.wait, lambda h: any(f.synced for s in h.statuses for f in s.feeds), 10
                )
                for cid, kind, args in (("r1", "resync", {"symbol": "BTC/USDT"}),
                                        ("r2", "resync", {"symbol": "ETH/USDT"}),
                                        ("p1", "pause_trading", {})):
                    hub.command(command(cid, kind, **args))
                    got = await asyncio.to_thread(result_of, hub, cid)
                    results[cid] = got[0]
                await asyncio.to_thread(hub.wait, lambda h: len(h.rows("trades")) > 10, 10)
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)

    asyncio.run(main())

    assert results["r1"].outcome == "done" and "binanceus" in results["r1"].detail
    assert results["r2"].outcome == "refused" and "ETH/USDT" in results["r2"].detail
    assert (results["p1"].outcome, results["p1"].detail) == (
        "refused", "paper trading is disabled on this agent"
    )
    assert len(hub.rows("trades")) > 10
    assert hub.wait(lambda h: any(s.state == "offline" for s in h.statuses), 5)
    conn = sqlite3.connect(tmp_path / "edge.db")
    resyncs = conn.execute(
        "SELECT COUNT(*) FROM feed_events WHERE kind = 'resync' AND detail = ?",
        ("requested by the hub",),
    ).fetchone()[0]
    conn.close()
    assert resyncs == 1


def test_a_hub_resync_on_a_kraken_feed_resubscribes_and_the_book_comes_back_synced(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: an agent on the simulator's Kraken socket (snapshots come only by
    resubscribing) syncing to the hub, which asks for a resync of BTC/USDT. Kept: the
    command is done, the feed's events show the hub's resync followed by a fresh
    snapshot of BTC/USDT, and the status after it reports the book synced again."""
    results: dict[str, CommandResult] = {}
    synced_after: list[bool] = []

    async def main() -> None:
        sim_config = SimulatorConfig(port=0, seed=3, symbols=["BTC/USDT", "ETH/USDT"])
        async with SimulatorServer(sim_config) as sim:
            base = edge_config(tmp_path, plain_broker.port, status_interval_s=0.2)
            config = EdgeConfig.model_validate({
                **base.model_dump(),
                "exchanges": [{"name": "kraken", "symbols": ["BTC/USDT", "ETH/USDT"],
                               "depth": 25, "ws_url": sim.urls.kraken_ws}],
                "store": {"commit_interval_s": 0.05},
                "logging": {"file": None},
            })
            service = AgentService(config, clock=LiveClock())
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop=stop))
            feed = service.runners[0].feed
            try:
                assert await asyncio.to_thread(
                    hub.wait, lambda h: any(
                        f.synced and f.symbol == "BTC/USDT" for s in h.statuses for f in s.feeds
                    ), 10,
                )
                snapshots_before = feed.stats["BTC/USDT"].snapshots
                hub.command(command("k1", "resync", symbol="BTC/USDT"))
                results["k1"] = (await asyncio.to_thread(result_of, hub, "k1"))[0]
                await wait_for_async(
                    lambda: feed.stats["BTC/USDT"].snapshots > snapshots_before
                    and feed.is_synced("BTC/USDT"), 5, "BTC/USDT resynced from a new snapshot")
                statuses_before = len(hub.statuses)
                assert await asyncio.to_thread(
                    hub.wait, lambda h: len(h.statuses) > statuses_before, 5
                )
                synced_after.extend(
                    f.synced for f in hub.statuses[-1].feeds if f.symbol == "BTC/USDT"
                )
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)

    asyncio.run(main())

    assert results["k1"].outcome == "done" and "kraken" in results["k1"].detail
    assert synced_after == [True]
    conn = sqlite3.connect(tmp_path / "edge.db")
    events = conn.execute(
        "SELECT kind, detail FROM feed_events WHERE symbol = 'BTC/USDT' AND id >= ("
        "SELECT id FROM feed_events WHERE kind = 'resync' AND detail = ?) ORDER BY id",
        ("requested by the hub",),
    ).fetchall()
    conn.close()
    assert events[0] == ("resync", "requested by the hub")
    assert "snapshot" in [kind for kind, _ in events[1:]]


def test_pause_and_resume_trading_stop_every_strategy_and_bring_back_only_those(
    tmp_path: Path,
) -> None:
    """Tried: the agent's handlers on a running loop, with one strategy already paused
    by the engine for its own errors. Kept: pause stops the other, resume brings back only
    it, the paused flag follows; the status reports it."""
    config = EdgeConfig.model_validate({
        "agent_id": AGENT, "data_dir": str(tmp_path), "logging": {"file": None},
        "exchanges": [{"name": "binanceus", "symbols": ["BTC/USDT", "ETH/USDT"]}],
        "trading": {"enabled": True, "strategies": [
            {"name": "mm", "kind": "market_maker", "exchange": "binanceus",
             "symbols": ["BTC/USDT"]},
            {"name": "trend", "kind": "trend", "exchange": "binanceus", "symbols": ["ETH/USDT"]},
        ]},
    })
    service = AgentService(config, clock=LiveClock())
    assert service.paper is not None
    engine = service.paper.engine
    engine.paused.add("trend")

    async def main() -> list[object]:
        handlers = agent_handlers(service.runners, service.paper, asyncio.get_running_loop())
        assert handlers.pause_trading and handlers.resume_trading and handlers.trading_paused
        seen: list[object] = [await asyncio.to_thread(handlers.pause_trading)]
        seen += [set(engine.paused), handlers.trading_paused()]
        seen += [await asyncio.to_thread(handlers.resume_trading)]
        seen += [set(engine.paused), handlers.trading_paused()]
        return seen

    try:
        seen = asyncio.run(main())
    finally:
        service.writer.close()

    assert seen == ["paused mm", {"mm", "trend"}, True, "resumed mm", {"trend"}, False]
