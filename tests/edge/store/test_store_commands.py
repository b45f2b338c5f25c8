"""``tickerml edge prune`` and ``tickerml edge stats`` on a real database file."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import yaml
from click.testing import CliRunner

from edge.store.writer import StoreWriter
from shared.cli import cli
from shared.config.store import StoreConfig
from shared.marketdata import Trade

DAY_NS = 86_400 * 1_000_000_000


def test_prune_prints_rows_deleted_per_table_and_stats_shows_what_is_left(
    tmp_path: Path,
) -> None:
    config = tmp_path / "edge.yaml"
    config.write_text(
        yaml.safe_dump(
            {"agent_id": "a", "data_dir": str(tmp_path), "store": {"retention": {"trades_days": 1}}}
        )
    )
    now = time.time_ns()
    writer = StoreWriter(tmp_path / "edge.db", StoreConfig())
    for i, age_days in enumerate([3, 3, 0]):
        ts = now - age_days * DAY_NS
        writer.put_trade(
            Trade("kraken", "BTC/USD", str(i), Decimal(1), Decimal(1), "buy", ts, ts)
        )
    writer.close()
    runner = CliRunner()

    pruned = runner.invoke(cli, ["edge", "prune", "-c", str(config)])
    stats = runner.invoke(cli, ["edge", "stats", "-c", str(config), "--json"])

    assert pruned.exit_code == 0, pruned.output
    assert "trades: 2 deleted" in pruned.output
    assert stats.exit_code == 0, stats.output
    summary = json.loads(stats.output)
    trades = next(t for t in summary["tables"] if t["table"] == "trades")
    assert (trades["rows"], trades["min_id"], trades["max_id_ever"]) == (1, 3, 3)
    assert summary["symbols"] == [
        {"table": "trades", "exchange": "kraken", "symbol": "BTC/USD", "rows": 1,
         "last_ns": trades["last_ns"]}
    ]
    table = runner.invoke(cli, ["edge", "stats", "-c", str(config)])
    assert table.exit_code == 0 and "BTC/USD" in table.output
