"""Market metadata and backfill through real ccxt instances against the market simulator.

The simulator serves Binance and Kraken on one port under ``/binance`` and
``/kraken``, so ccxt's base URL has a path; these tests are what caught ccxt
losing it (a 404 on ``/api/v3/exchangeInfo``). The CLI test runs the shipped
example config (only its port changed) against a running ``tickerml edge simulate``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from edge.history.backfill import Backfiller
from edge.history.metadata import load_market_metadata, public_exchange
from edge.simulator.model import MarketModel
from edge.simulator.thread import SimulatorThread
from edge.store.db import open_store
from provisioning.broker import free_port
from shared.candles import candles_from_trades
from shared.clock import ManualClock
from shared.config.simulator import SimulatorConfig
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]
TICKERML = Path(sys.executable).parent / "tickerml"
MIN = 60_000
T = 1_677_628_800_000  # 2023-03-01 00:00 UTC: the simulated market starts here
WAIT_S = 60.0


def wait_for_minutes(binance_rest: str, symbol: str, until_ms: int) -> None:
    """Poll the simulator's klines until the minute before ``until_ms`` has closed."""
    url = f"{binance_rest}/api/v3/klines?symbol={symbol}&interval=1m&startTime={T}&limit=1000"

    def closed() -> bool:
        with urllib.request.urlopen(url, timeout=5) as response:
            rows = json.loads(response.read())
        return bool(rows) and rows[-1][0] >= until_ms - MIN

    wait_for(closed, WAIT_S, f"the simulator closed the minutes up to {until_ms}", every_s=0.05)


@pytest.fixture
def simulator() -> Iterator[SimulatorThread]:
    # 300 simulated seconds a second: five minutes of market in one second.
    sim = SimulatorThread(SimulatorConfig(
        port=0, seed=3, speed=300, start_time_ms=T, symbols=["BTC/USDT", "ETH/USDT"],
    ))
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def test_a_base_url_with_a_path_reaches_the_simulators_binance_and_kraken_markets(
    simulator: SimulatorThread, tmp_path: Path
) -> None:
    """Tried: base URLs http://HOST:PORT/binance and /kraken. Kept: the path, so ccxt
    asks /binance/api/v3/exchangeInfo and /kraken/0/public/AssetPairs and gets the
    simulated instruments (BTC/USDT: 2 price and 5 size decimals)."""
    urls = simulator.urls
    assert urls is not None

    metas = {
        name: load_market_metadata(name, tmp_path, max_age_hours=24, base_url=url,
                                   clock=ManualClock(T * 1_000_000))
        for name, url in (("binance", urls.binance_rest), ("kraken", urls.kraken_rest))
    }

    for name, meta in metas.items():
        btc = meta.market("BTC/USDT")
        assert (btc.tick_size, btc.lot_size) == (Decimal("0.01"), Decimal("0.00001")), name
        assert meta.market("ETH/USDT").tick_size == Decimal("0.01"), name
    assert metas["kraken"].market("BTC/USDT").market_id == "XBTUSDT"
    assert metas["kraken"].market("BTC/USDT").taker_fee == Decimal("0.0026")


def test_backfill_from_the_simulator_stores_the_candles_its_own_trades_build(
    simulator: SimulatorThread, tmp_path: Path
) -> None:
    """Tried: backfilling the first 5 simulated minutes over Binance's klines and
    Kraken's OHLC. Kept: both store exactly the candles shared.candles builds from
    the same seeded model's fills, offline."""
    urls = simulator.urls
    assert urls is not None
    until = T + 5 * MIN
    wait_for_minutes(urls.binance_rest, "BTCUSDT", until)
    conn = open_store(tmp_path / "edge.db")

    for name, url in (("binance", urls.binance_rest), ("kraken", urls.kraken_rest)):
        report = Backfiller(conn, public_exchange(name, base_url=url)).run("BTC/USDT", T, until)
        assert (report.rows_added, report.exchange_gaps) == (5, []), name

    model = MarketModel(["BTC/USDT", "ETH/USDT"], 3, T * 1_000_000)
    spec = model.models["BTC/USDT"].spec
    fills = [
        (ev.ts_ns // 1_000_000, Decimal(t.price).scaleb(-spec.price_decimals),
         Decimal(t.size).scaleb(-spec.size_decimals))
        for ev in model.advance(until * 1_000_000) if ev.symbol == "BTC/USDT"
        for t in ev.trades
    ]
    expected = [
        (c.open_time_ms, c.open, c.high, c.low, c.close, c.volume)
        for c in candles_from_trades("x", "BTC/USDT", fills) if c.open_time_ms < until
    ]
    assert len(expected) == 5
    for name in ("binance", "kraken"):
        rows = conn.execute(
            "SELECT open_time_ms, open, high, low, close, volume FROM candles_1m "
            "WHERE exchange = ? ORDER BY open_time_ms", (name,),
        ).fetchall()
        assert [(r[0], *map(Decimal, r[1:])) for r in rows] == expected, name


def example_config(tmp_path: Path, port: int) -> Path:
    """config/edge.example.yaml as shipped, on another port, with its data in tmp_path
    and the simulated market starting at T (so minutes close fast at speed 300)."""
    text = (REPO / "config" / "edge.example.yaml").read_text()
    assert "127.0.0.1:8765/binance" in text and "127.0.0.1:8765/kraken" in text
    doc = yaml.safe_load(text.replace("127.0.0.1:8765", f"127.0.0.1:{port}"))
    doc["data_dir"] = str(tmp_path / "var")
    doc["simulator"].update(port=port, start_time_ms=T, speed=300)
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def tickerml(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TICKERML), *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_markets_and_backfill_with_the_example_config_work_against_edge_simulate(
    tmp_path: Path,
) -> None:
    """Tried: `tickerml edge markets` and `edge backfill` with the example config,
    whose rest_base_urls point at the simulator. Kept: both exit 0, markets lists
    every configured symbol of both exchanges, backfill stores 5 minutes of each."""
    port = free_port()
    config = example_config(tmp_path, port)
    sim = subprocess.Popen(
        [str(TICKERML), "edge", "simulate", "-c", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert sim.stdout is not None
        assert "simulator listening" in sim.stdout.readline()

        markets = tickerml("edge", "markets", "-c", str(config), "--json")
        assert markets.returncode == 0, markets.stderr
        shown = {(m["exchange"], m["symbol"]) for m in json.loads(markets.stdout)}
        assert shown == {(e, s) for e in ("binance", "kraken") for s in ("BTC/USDT", "ETH/USDT")}

        wait_for_minutes(f"http://127.0.0.1:{port}/binance", "ETHUSDT", T + 5 * MIN)
        backfill = tickerml("edge", "backfill", "-c", str(config),
                            "--since", "2023-03-01T00:00", "--until", "2023-03-01T00:05")
        assert backfill.returncode == 0, backfill.stderr
        for name in ("binance", "kraken"):
            for symbol in ("BTC/USDT", "ETH/USDT"):
                assert f"{name} {symbol}: 5 rows added" in backfill.stdout, backfill.stdout
    finally:
        sim.terminate()
        sim.wait(timeout=10)
