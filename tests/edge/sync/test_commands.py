"""Hub commands over the real broker: each kind, refusals, redeliveries; and the
collector's own handlers, with the collector syncing to a test hub."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.collector.commands import collector_handlers
from edge.collector.service import CollectorService
from edge.simulator.server import SimulatorServer
from edge.sync.client import SyncClient
from edge.sync.commands import NO_MODEL, CommandHandlers, CommandRefused
from provisioning.broker import Broker
from shared.clock import LiveClock
from shared.config.edge import EdgeConfig
from shared.config.simulator import SimulatorConfig
from shared.sync.messages import Command, CommandResult
from tests.edge.loopback import BinanceLoopback
from tests.edge.sync.helpers import AGENT, Hub, edge_config, new_writer


def command(command_id: str, kind: str, **args: str) -> Command:
    return Command.model_validate({
        "agent_id": AGENT, "command_id": command_id, "kind": kind, "args": args,
        "issued_ns": time.time_ns(),
    })


def result_of(hub: Hub, command_id: str, count: int = 1) -> list[CommandResult]:
    assert hub.wait(lambda h: sum(r.command_id == command_id for r in h.results) >= count)
    return [r for r in hub.results if r.command_id == command_id]


@pytest.fixture()
def hub(plain_broker: Broker) -> Iterator[Hub]:
    test_hub = Hub(plain_broker.port)
    yield test_hub
    test_hub.close()


def test_every_command_kind_is_answered_with_its_outcome(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: each kind with handlers that record their calls, resync of an unknown symbol,
    rollback with no model, an unknown kind, malformed JSON, and a command redelivered.
    Kept: done / refused with the reason / the first result again without re-running."""
    calls: list[str] = []

    def resync(symbol: str, exchange: str | None) -> str:
        if symbol != "BTC/USDT":
            raise CommandRefused(f"no book of {symbol}")
        calls.append(f"resync {symbol}")
        return "resyncing"

    def pause() -> str:
        calls.append("pause")
        return "paused 2"

    handlers = CommandHandlers(
        resync=resync, pause_trading=pause, resume_trading=lambda: "resumed 2",
        trading_paused=lambda: "pause" in calls,
    )
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    client = SyncClient(edge_config(tmp_path, plain_broker.port), writer, db, LiveClock(),
                        commands=handlers)
    client.start()
    try:
        assert hub.wait(lambda h: any(s.state == "online" for s in h.statuses))
        hub.command(command("c1", "resync", symbol="BTC/USDT"))
        hub.command(command("c2", "resync", symbol="DOGE/USDT"))
        hub.command(command("c3", "pause_trading"))
        hub.command(command("c4", "resume_trading"))
        hub.command(command("c5", "rollback_model"))
        statuses_before = len(hub.statuses)
        hub.command(command("c6", "send_status"))
        hub.command(b'{"agent_id": "pi-test", "command_id": "c7", "kind": "reboot", '
                    b'"issued_ns": 1}')
        hub.command(b"{not json")
        hub.command(command("c3", "pause_trading"))

        outcomes = {cid: result_of(hub, cid)[0] for cid in ("c1", "c2", "c4", "c5", "c6", "c7")}
        redelivered = result_of(hub, "c3", count=2)
        assert hub.wait(lambda h: any(r.command_id == "" for r in h.results))
        assert hub.wait(lambda h: len(h.statuses) > statuses_before)
    finally:
        client.stop()
        writer.close()

    assert outcomes["c1"].outcome == "done" and outcomes["c1"].kind == "resync"
    assert (outcomes["c2"].outcome, outcomes["c2"].detail) == ("refused", "no book of DOGE/USDT")
    assert outcomes["c4"].outcome == "done"
    assert (outcomes["c5"].outcome, outcomes["c5"].detail) == ("refused", NO_MODEL)
    assert outcomes["c6"].outcome == "done"
    assert outcomes["c7"].outcome == "refused" and "unknown command kind 'reboot'" in (
        outcomes["c7"].detail
    )
    malformed = next(r for r in hub.results if r.command_id == "")
    assert malformed.outcome == "refused" and "not a valid Command" in malformed.detail
    assert redelivered[0] == redelivered[1] and redelivered[0].outcome == "done"
    assert calls == ["resync BTC/USDT", "pause"]
    assert [s for s in hub.statuses if s.state == "online"][-1].trading_paused is True


def test_the_collector_syncs_its_rows_and_answers_commands(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: a collector on the loopback exchange with sync enabled; the hub asks for a
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
            service = CollectorService(config, clock=LiveClock())
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
    """Tried: a collector on the simulator's Kraken socket (snapshots come only by
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
            service = CollectorService(config, clock=LiveClock())
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
                for _ in range(100):
                    if feed.stats["BTC/USDT"].snapshots > snapshots_before and (
                        feed.is_synced("BTC/USDT")
                    ):
                        break
                    await asyncio.sleep(0.05)
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
    """Tried: the collector's handlers on a running loop, with one strategy already paused
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
    service = CollectorService(config, clock=LiveClock())
    assert service.paper is not None
    engine = service.paper.engine
    engine.paused.add("trend")

    async def main() -> list[object]:
        handlers = collector_handlers(service, asyncio.get_running_loop())
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
