"""``tickerml edge prune`` and ``tickerml edge stats`` on a real database file."""

from __future__ import annotations

import json
import subprocess
import sys
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


def test_prune_refuses_a_missing_database_as_stats_does_and_makes_none(tmp_path: Path) -> None:
    """Tried: `edge prune` and `edge stats` (the installed script) before any database
    exists. Kept: both exit 2 with the same one-line `error:` naming the file and the
    fix, and no database (nor data folder) is made (was: prune created an empty one)."""
    data = tmp_path / "var"
    config = tmp_path / "edge.yaml"
    config.write_text(yaml.safe_dump({"agent_id": "a", "data_dir": str(data)}))
    tickerml = Path(sys.executable).parent / "tickerml"

    pruned, stats = (
        subprocess.run([str(tickerml), "edge", command, "-c", str(config)],
                       capture_output=True, text=True, timeout=60, check=False)
        for command in ("prune", "stats")
    )

    expected = f"error: {data / 'edge.db'}: no database yet (run `tickerml edge run` first)\n"
    assert (pruned.returncode, pruned.stderr) == (2, expected)
    assert (stats.returncode, stats.stderr) == (2, expected)
    assert not data.exists()
