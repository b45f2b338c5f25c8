"""Paper trading inside the agent, against the loopback simulator: strategies
trade the live books side by side, the ledger lands in SQLite, and a restart
carries on from it."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from edge.agent.service import run_agent
from edge.simulator.thread import SimulatorThread
from edge.trading.ledger import load_ledger
from shared.config.base import validate_config
from shared.config.edge import EdgeConfig
from shared.config.simulator import SimulatorConfig
from shared.errors import ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def simulator():
    sim = SimulatorThread(
        SimulatorConfig(host="127.0.0.1", port=0, seed=5, symbols=["BTC/USDT", "ETH/USDT"])
    )
    urls = sim.start()
    yield urls
    sim.stop()


def _config(urls, data_dir: Path, strategies: list[dict]) -> EdgeConfig:
    raw = {
        "agent_id": "live-test",
        "data_dir": str(data_dir),
        "exchanges": [
            {
                "name": "binanceus",
                "symbols": ["BTC/USDT", "ETH/USDT"],
                "ws_url": urls.binance_ws,
                "rest_url": urls.binance_rest,
            }
        ],
        "store": {"commit_interval_s": 0.2},
        "trading": {"enabled": True, "strategies": strategies},
        "logging": {"file": None},
    }
    return validate_config(EdgeConfig, raw, "test")


STRATEGIES = [
    {"name": "mm", "kind": "market_maker", "exchange": "binanceus", "symbols": ["BTC/USDT"]},
    {
        "name": "obi",
        "kind": "imbalance",
        "exchange": "binanceus",
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "starting_balance": "5000",
    },
]


def test_strategies_trade_the_live_books_and_a_restart_reloads_the_ledger(
    simulator, tmp_path: Path
) -> None:
    """Two strategies trade paper money for 12 s against the simulator's Binance.US
    books. Every fill is in SQLite with its order's events; each portfolio rebuilt
    from the store balances (cash + positions == start + realized + unrealized -
    fees). A second run on the same store reloads the same portfolios before
    trading on, and its ids continue above the first run's."""
    config = _config(simulator, tmp_path, STRATEGIES)
    run_agent(config, duration_s=12)
    db = tmp_path / "edge.db"
    first = load_ledger(db)
    conn = sqlite3.connect(db)
    order_events, fills = (
        conn.execute("SELECT count(*) FROM order_events").fetchone()[0],
        conn.execute("SELECT count(*) FROM fills").fetchone()[0],
    )
    max_order_id = conn.execute("SELECT max(order_id) FROM order_events").fetchone()[0]
    conn.close()

    assert order_events > 0, "the strategies placed no paper order in 12 s"
    assert set(first.portfolios) == {"mm", "obi"}
    assert first.portfolios["obi"].start == Decimal(5000)
    assert first.fills == fills
    for portfolio in first.portfolios.values():
        portfolio.check_invariant()

    run_agent(config, duration_s=4)
    second = load_ledger(db)
    assert second.fills >= first.fills
    assert second.next_order_id > max_order_id
    for portfolio in second.portfolios.values():
        portfolio.check_invariant()


def test_a_strategy_with_two_quote_currencies_is_refused_at_start(
    simulator, tmp_path: Path
) -> None:
    """One portfolio holds one quote currency: BTC/USDT with ETH/BTC is a config error
    naming the strategy's key path, raised (by the config model, so check-config
    says it too) before any socket opens."""
    bad = [{"name": "x", "kind": "trend", "exchange": "binanceus",
            "symbols": ["BTC/USDT", "ETH/BTC"]}]
    with pytest.raises(ConfigError, match=r"trading\.strategies\[0\]\.symbols: .*one quote"):
        run_agent(_config(simulator, tmp_path, bad), duration_s=1)
