"""The loopback server, driven by a real websockets client and real HTTP requests."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edge.simulator.server import Faults, SimulatorServer
from shared.config.simulator import SimulatorConfig
from tests.edge.simulator.test_capture import _checksum

CONFIG = SimulatorConfig(port=0, speed=20, seed=3, symbols=["BTC/USDT", "ETH/USDT"])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def _binance_session(sim: SimulatorServer, n: int) -> tuple[list[dict], dict]:
    url = f"{sim.urls.binance_ws}/stream?streams=btcusdt@depth@100ms/btcusdt@trade"
    async with connect(url) as ws:
        first = [json.loads(await ws.recv()) for _ in range(5)]
        status, snap = await asyncio.to_thread(
            _get, f"{sim.urls.binance_rest}/api/v3/depth?symbol=BTCUSDT&limit=1000"
        )
        assert status == 200
        rest = [json.loads(await ws.recv()) for _ in range(n)]
    return first + rest, snap


def test_binance_stream_and_rest_snapshot_link_over_real_sockets() -> None:
    async def run() -> None:
        async with SimulatorServer(CONFIG) as sim:
            messages, snap = await _binance_session(sim, 200)
            status, info = await asyncio.to_thread(
                _get, f"{sim.urls.binance_rest}/api/v3/exchangeInfo"
            )
            missing, _ = await asyncio.to_thread(_get, f"{sim.urls.binance_rest}/api/v3/nope")

        diffs = [m["data"] for m in messages if m["stream"] == "btcusdt@depth@100ms"]
        trades = [m["data"] for m in messages if m["stream"] == "btcusdt@trade"]
        assert diffs and trades and all(t["s"] == "BTCUSDT" for t in trades)
        for a, b in itertools.pairwise(diffs):
            assert b["U"] == a["u"] + 1
        after = [d for d in diffs if d["u"] > snap["lastUpdateId"]]
        assert after[0]["U"] <= snap["lastUpdateId"] + 1 <= after[0]["u"]
        bids = {Decimal(p) for p, _ in snap["bids"]}
        asks = {Decimal(p) for p, _ in snap["asks"]}
        assert max(bids) < min(asks)
        assert status == 200 and {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT"}
        assert missing == 404

    asyncio.run(run())


async def _kraken_updates(sim: SimulatorServer, n: int, depth: int = 10) -> list[dict]:
    async with connect(sim.urls.kraken_ws) as ws:
        status = json.loads(await ws.recv())
        assert status["channel"] == "status" and status["data"][0]["system"] == "online"
        await ws.send(
            json.dumps(
                {
                    "method": "subscribe",
                    "params": {"channel": "book", "symbol": ["BTC/USDT"], "depth": depth},
                    "req_id": 7,
                }
            )
        )
        await ws.send(json.dumps({"method": "ping", "req_id": 8}))
        out: list[dict] = []
        while len(out) < n:
            out.append(json.loads(await ws.recv(), parse_float=Decimal))
    return out


def _verify_kraken(messages: list[dict], depth: int) -> tuple[int, int]:
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    ok = bad = 0
    for msg in messages:
        if msg.get("channel") != "book":
            continue
        item = msg["data"][0]
        if msg["type"] == "snapshot":
            bids.clear()
            asks.clear()
        for side, levels, best_first in ((bids, item["bids"], True), (asks, item["asks"], False)):
            for level in levels:
                if level["qty"]:
                    side[level["price"]] = level["qty"]
                else:
                    side.pop(level["price"], None)
                while len(side) > depth:
                    del side[min(side) if best_first else max(side)]
        if item["checksum"] == _checksum(bids, asks):
            ok += 1
        else:
            bad += 1
    return ok, bad


def test_kraken_subscribe_snapshot_updates_and_pong_over_a_real_socket() -> None:
    async def run() -> list[dict]:
        async with SimulatorServer(CONFIG) as sim:
            return await _kraken_updates(sim, 300)

    messages = asyncio.run(run())

    ack = messages[0]
    assert ack["method"] == "subscribe" and ack["success"] and ack["req_id"] == 7
    assert ack["result"] == {"channel": "book", "symbol": "BTC/USDT", "depth": 10, "snapshot": True}
    assert messages[1]["type"] == "snapshot"
    assert any(m.get("method") == "pong" and m["req_id"] == 8 for m in messages)
    ok, bad = _verify_kraken(messages, 10)
    assert bad == 0 and ok > 200


def test_a_corrupt_checksum_fault_breaks_exactly_one_update() -> None:
    async def run() -> list[dict]:
        async with SimulatorServer(CONFIG, faults=Faults(corrupt_checksum=20)) as sim:
            return await _kraken_updates(sim, 200)

    ok, bad = _verify_kraken(asyncio.run(run()), 10)

    assert bad >= 1  # the corrupted one; the book is still right, so later ones verify
    assert ok > 150


def test_a_dropped_diff_fault_leaves_a_gap_in_update_ids() -> None:
    async def run() -> list[dict]:
        async with SimulatorServer(CONFIG, faults=Faults(drop_diff=10)) as sim:
            messages, _ = await _binance_session(sim, 100)
            return messages

    diffs = [m["data"] for m in asyncio.run(run()) if m["stream"].endswith("@100ms")]
    gaps = [b["U"] - a["u"] - 1 for a, b in itertools.pairwise(diffs) if b["U"] != a["u"] + 1]

    assert len(gaps) == 1 and gaps[0] > 0


def test_a_disconnect_fault_closes_the_socket_after_n_messages() -> None:
    async def run() -> int:
        async with SimulatorServer(CONFIG, faults=Faults(disconnect_after=25)) as sim:
            received = 0
            async with connect(f"{sim.urls.binance_ws}/stream?streams=ethusdt@depth@100ms") as ws:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                        received += 1
            return received

    assert asyncio.run(run()) == 25


def test_the_stream_depends_on_the_seed_not_on_client_timing() -> None:
    async def run(speed: float) -> list[tuple[int, int]]:
        config = CONFIG.model_copy(update={"speed": speed, "start_time_ms": 1_700_000_000_000})
        async with SimulatorServer(config) as sim:
            url = f"{sim.urls.binance_ws}/stream?streams=ethusdt@depth@100ms"
            async with connect(url) as ws:
                msgs = [json.loads(await ws.recv())["data"] for _ in range(60)]
        return [(m["E"], m["u"]) for m in msgs]

    slow, fast = asyncio.run(run(5)), asyncio.run(run(40))
    common = set(slow) & set(fast)
    # Both clients connect at the start; what they share is the same to the id.
    assert len(common) >= 50
