"""``tickerml edge run`` on a data directory whose file system fills up and empties
again: a real process, a real tmpfs, the market simulator on loopback."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.simulator.server import SimulatorUrls
from edge.simulator.thread import SimulatorThread
from shared.config.simulator import SimulatorConfig
from tests.conftest import REPO
from tests.smallfs import fill, small_filesystem
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
TICKERML = [str(Path(sys.executable).parent / "tickerml")]
NS = 1_000_000_000
RECOVERED = "SELECT ts_ns, detail FROM feed_events WHERE kind = 'store_recovered'"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorUrls]:
    sim = SimulatorThread(SimulatorConfig(host="127.0.0.1", port=0, seed=11, symbols=SYMBOLS))
    urls = sim.start()
    yield urls
    sim.stop()


def write_config(data_dir: Path, where: Path, urls: SimulatorUrls) -> Path:
    """An edge.yaml collecting Binance.US from the simulator into ``data_dir`` (the log
    file too, as on a Pi), paper trading a market maker, a small in-memory bound."""
    config: dict[str, Any] = {
        "agent_id": "full-disk",
        "data_dir": str(data_dir),
        "exchanges": [
            {"name": "binanceus", "symbols": SYMBOLS, "ws_url": urls.binance_ws,
             "rest_url": urls.binance_rest},
        ],
        "backoff": {"initial_s": 0.2, "max_s": 1.0},
        "store": {
            "commit_interval_s": 0.2, "snapshot_interval_s": 0.2, "queue_max_rows": 200,
            "disk_full_backoff": {"initial_s": 0.1, "max_s": 0.5},
        },
        "trading": {"enabled": True, "strategies": [
            {"name": "mm", "kind": "market_maker", "exchange": "binanceus",
             "symbols": ["BTC/USDT"]},
        ]},
        "logging": {"level": "INFO"},
    }
    path = where / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []  # the schema is not there yet
    finally:
        conn.close()


def max_id(db: Path, table: str) -> int:
    found = query(db, f"SELECT COALESCE(MAX(id), 0) FROM {table}")
    return int(found[0][0]) if found else 0


def status_drops(log: Path) -> int:
    """The rows dropped that the newest full-disk status line reports (0: none yet)."""
    found = re.findall(r"disk full since \S+ \([^)]*\): \d+ rows wait in memory, (\d+) dropped",
                       log.read_text(errors="replace"))
    return int(found[-1]) if found else 0


def test_an_agent_on_a_full_disk_keeps_running_halts_trading_and_resumes_when_space_returns(
    simulator: SimulatorUrls, tmp_path: Path
) -> None:
    """Tried: `edge run` collecting and paper trading into a 16 MiB tmpfs, the file
    system filled to the last byte by a filler file, then the filler deleted. Before
    the fix the first "database or disk is full" stopped paper trading and the
    process exited. Kept: the process stays up; its status line says "disk full
    since ..." with the rows waiting and dropped, and paper trading says it halted
    (no ledger row is stamped inside the spell), and the log file on the same disk
    costs no traceback per line; once the filler goes, new rows are stored by
    themselves, a store_recovered feed event and sync_drops rows record the drop
    count, paper trading resumes and places orders again, and SIGTERM stops it with
    exit 0."""
    log = tmp_path / "agent.log"
    with small_filesystem(tmp_path / "small", size_mib=16) as data_dir:
        config = write_config(data_dir, tmp_path, simulator)
        db = data_dir / "edge.db"
        proc = subprocess.Popen(
            [*TICKERML, "edge", "run", "-c", str(config), "--status-every", "0.5"],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
            stdout=subprocess.PIPE, stderr=log.open("w"),
        )
        try:
            wait_for(lambda: max_id(db, "order_events") > 0 and max_id(db, "trades") > 0, 60,
                     "the agent stores trades and paper orders")

            filler = fill(data_dir)
            wait_for(lambda: "paper trading halted" in log.read_text(errors="replace"), 30,
                     "paper trading says it halted on the full disk")
            wait_for(lambda: status_drops(log) > 0, 60,
                     "a status line reporting rows dropped on the full disk")
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            before = {t: max_id(db, t) for t in ("trades", "book_snapshots")}

            filler.unlink()
            wait_for(lambda: all(max_id(db, t) > n for t, n in before.items()), 60,
                     f"new trades and snapshots after the space came back (ids above {before})")
            wait_for(lambda: query(db, RECOVERED), 30, "the store_recovered event is stored")
            wait_for(lambda: "paper trading resumed" in log.read_text(errors="replace"), 30,
                     "paper trading says it resumed")
            until = int(query(db, RECOVERED)[0][0])
            wait_for(lambda: query(db, "SELECT 1 FROM order_events WHERE ts_ns > ?", until), 60,
                     "paper orders placed after the spell")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        text = log.read_text(errors="replace")

        assert proc.returncode == 0, text[-3000:]
        assert out.startswith("ran ")
        # The log file shares the full disk: one line about it now and then, never the
        # stdlib's traceback per record.
        assert "--- Logging error ---" not in text
        (full,) = query(db, "SELECT ts_ns, detail FROM feed_events WHERE kind = 'store_full'")
        (recovered,) = query(db, RECOVERED)
        drops = query(db, "SELECT table_name, rows FROM sync_drops")
        dropped = sum(n for _, n in drops)
        assert "database or disk is full" in full[1]
        assert dropped > 0 and f"{dropped} rows dropped" in recovered[1]
        assert {t for t, _ in drops} <= {"trades", "book_snapshots", "feed_events", "candles_1m"}
        # Nothing was decided on the unstored data: no ledger row is stamped inside the
        # spell (a second of slack at its start for a step already under way).
        since = int(full[0])
        for table in ("order_events", "fills", "portfolio_state"):
            inside = query(db, f"SELECT COUNT(*) FROM {table} WHERE ts_ns > ? AND ts_ns < ?",
                           since + NS, until)
            assert inside == [(0,)], f"{table} rows stamped while the disk was full"
