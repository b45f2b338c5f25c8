"""``tickerml edge stats`` and ``tickerml edge sync-status`` print every number whole:
piped (plain lines) and in an 80-column terminal, with ids past 2**53."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from edge.store.writer import StoreWriter
from shared.config.store import StoreConfig
from shared.marketdata import Trade
from tests.terminal import Run, assert_whole, in_terminal, piped

BIG_ID = 2**53 + 1
"""9007199254740993: 16 digits, and the first integer a float cannot hold."""
T0 = 1_709_294_400_000_000_000  # 2024-03-01 12:00 UTC


def big_store(tmp_path: Path) -> Path:
    """An agent's store whose trade ids run from 2**53 + 1 (the 64-bit ids the store
    allows), the hub having acknowledged up to the second; its config file."""
    config = tmp_path / "edge.yaml"
    config.write_text(yaml.safe_dump({
        "agent_id": "pi-big", "data_dir": str(tmp_path), "logging": {"file": None},
        "sync": {"tables": ["trades", "feed_events"]},
    }))
    writer = StoreWriter(tmp_path / "edge.db", StoreConfig())
    for i in range(3):
        ts = T0 + i * 1_000_000_000
        writer.put_trade(Trade("kraken", "BTC/USD", str(i), Decimal("10002345.678"),
                               Decimal(1), "buy", ts, ts))
    writer.close()
    conn = sqlite3.connect(tmp_path / "edge.db")
    with conn:
        conn.execute("UPDATE trades SET id = id + ?", (BIG_ID - 1,))
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'trades'", (BIG_ID + 2,))
        conn.execute("INSERT INTO sync_cursors (table_name, acked_id, ts_ns) VALUES (?, ?, ?)",
                     ("trades", BIG_ID + 1, T0))
    conn.close()
    return config


@pytest.mark.parametrize("run", [piped, in_terminal], ids=["piped", "terminal-80"])
def test_edge_stats_prints_16_digit_ids_whole(tmp_path: Path, run: Run) -> None:
    """Tried: `edge stats` on trade ids 9007199254740993-95, piped and in an 80-column
    pty (was: `9007199…` in both, rich shrinking the id columns to fit 80). Kept:
    every count, id and time of --json appears whole, nothing ends in `…`; piped,
    plain lines with no box; in the terminal, no line past 80 columns."""
    config = big_store(tmp_path)
    summary = json.loads(piped("edge", "stats", "-c", str(config), "--json",
                               cwd=tmp_path).stdout)

    output = run("edge", "stats", "-c", str(config), cwd=tmp_path)

    trades = next(t for t in summary["tables"] if t["table"] == "trades")
    assert (trades["min_id"], trades["max_id"], trades["max_id_ever"]) == (
        BIG_ID, BIG_ID + 2, BIG_ID + 2)
    last = datetime.fromtimestamp(trades["last_ns"] / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
    values = [v for t in summary["tables"]
              for v in (t["rows"], t["min_id"], t["max_id"], t["max_id_ever"]) if v is not None]
    values += [s["rows"] for s in summary["symbols"]] + [last, "book_snapshots", "BTC/USD"]
    assert_whole(output, values, terminal=run is in_terminal)


@pytest.mark.parametrize("run", [piped, in_terminal], ids=["piped", "terminal-80"])
def test_edge_sync_status_prints_the_backlog_ids_whole(tmp_path: Path, run: Run) -> None:
    """Tried: `edge sync-status` with the last id 9007199254740995 and the acked one
    9007199254740994, piped and at 80 columns (was: both cut). Kept: both ids and the
    backlog whole, the same values as its --json."""
    config = big_store(tmp_path)
    rows = json.loads(piped("edge", "sync-status", "-c", str(config), "--json",
                            cwd=tmp_path).stdout)

    output = run("edge", "sync-status", "-c", str(config), cwd=tmp_path)

    trades = next(r for r in rows if r["table"] == "trades")
    assert (trades["last_id"], trades["acked_id"], trades["backlog_rows"]) == (
        BIG_ID + 2, BIG_ID + 1, 1)
    values = [v for r in rows for v in (r["table"], r["last_id"], r["acked_id"],
                                        r["backlog_rows"])]
    assert_whole(output, values, terminal=run is in_terminal)
