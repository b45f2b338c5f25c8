"""Every row the agent really writes fits the sync contract's column types.

The hub refuses a batch holding one value that does not fit its column
(``shared.sync.tables``). These constraints must describe what the agent writes,
not what we think it writes: the agent runs here for real against the market
simulator — two exchanges, paper trading, arbitrage detection, raw capture — and
every row of every synced table is checked against the contract.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.agent.service import run_agent
from edge.simulator.thread import SimulatorThread
from shared.config.base import validate_config
from shared.config.edge import EdgeConfig
from shared.config.simulator import SimulatorConfig
from tests.edge.contract import contract_problems

pytestmark = pytest.mark.slow

SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def test_every_row_the_agent_writes_passes_the_contracts_column_checks(tmp_path: Path) -> None:
    """Tried: the agent collecting and paper trading for 10 s against the simulator's
    Binance.US and Kraken books (raw capture on, a snapshot every 0.5 s, two strategies,
    the arbitrage detector on), then every row of every synced table checked. Kept: not
    one value refused, and rows in the tables the run writes (trades, books, events, raw
    messages, the paper ledger)."""
    sim = SimulatorThread(SimulatorConfig(host="127.0.0.1", port=0, seed=3, symbols=SYMBOLS))
    urls = sim.start()
    try:
        feeds = [
            {"name": "binanceus", "symbols": SYMBOLS, "ws_url": urls.binance_ws,
             "rest_url": urls.binance_rest},
            {"name": "kraken", "symbols": SYMBOLS, "depth": 25, "ws_url": urls.kraken_ws},
        ]
        strategies = [
            {"name": "mm", "kind": "market_maker", "exchange": "binanceus", "symbols": SYMBOLS[:1]},
            {"name": "obi", "kind": "imbalance", "exchange": "kraken", "symbols": SYMBOLS},
        ]
        config = validate_config(EdgeConfig, {
            "agent_id": "contract-test", "data_dir": str(tmp_path), "exchanges": feeds,
            "store": {"commit_interval_s": 0.2, "snapshot_interval_s": 0.5, "raw_capture": True},
            "trading": {"enabled": True, "strategies": strategies},
            "logging": {"file": None},
        }, "test")
        run_agent(config, duration_s=10)
    finally:
        sim.stop()

    counts, refused = contract_problems(tmp_path / "edge.db")

    assert refused == []
    for name in ("trades", "book_snapshots", "feed_events", "raw_messages",
                 "paper_portfolios", "portfolio_state"):
        assert counts[name] > 0, counts
