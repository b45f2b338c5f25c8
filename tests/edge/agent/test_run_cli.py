"""``tickerml edge run`` as real processes against the market simulator on loopback:
one agent per database, the closing line's figures, the exit status of a run that
never received market data, and the config problems refused before anything opens."""

from __future__ import annotations

import os
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
from edge.store.lock import lock_path
from provisioning.broker import free_port
from shared.config.simulator import SimulatorConfig
from tests.conftest import REPO
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
TICKERML = [str(Path(sys.executable).parent / "tickerml")]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorUrls]:
    sim = SimulatorThread(SimulatorConfig(host="127.0.0.1", port=0, seed=3, symbols=SYMBOLS))
    urls = sim.start()
    yield urls
    sim.stop()


def write_config(folder: Path, urls: SimulatorUrls | None, **overrides: Any) -> Path:
    """An edge.yaml collecting Binance and Kraken from ``urls`` (None: from a loopback
    port where nothing listens) into ``folder``."""
    if urls is None:
        dead = f"127.0.0.1:{free_port()}"
        binance_ws, binance_rest, kraken_ws = f"ws://{dead}/binance", f"http://{dead}/binance", \
            f"ws://{dead}/kraken/v2"
    else:
        binance_ws, binance_rest, kraken_ws = urls.binance_ws, urls.binance_rest, urls.kraken_ws
    config: dict[str, Any] = {
        "agent_id": "run-cli",
        "data_dir": str(folder),
        "exchanges": [
            {"name": "binance", "symbols": SYMBOLS, "depth": 100, "ws_url": binance_ws,
             "rest_url": binance_rest},
            {"name": "kraken", "symbols": SYMBOLS, "depth": 100, "ws_url": kraken_ws},
        ],
        "backoff": {"initial_s": 0.2, "max_s": 1.0},
        "store": {"commit_interval_s": 0.2, "snapshot_interval_s": 0.5},
        "logging": {"file": None, "level": "WARNING"},
        **overrides,
    }
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def agent(config: Path, *args: str, log: Path) -> subprocess.Popen[str]:
    """``tickerml edge run -c config ...`` as its own process, stderr into ``log``."""
    return subprocess.Popen(
        [*TICKERML, "edge", "run", "-c", str(config), *args],
        cwd=config.parent, env={**os.environ, "PYTHONPATH": str(REPO)}, text=True,
        stdout=subprocess.PIPE, stderr=log.open("w"),
    )


def snapshot_rows(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM book_snapshots").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet
    finally:
        conn.close()


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM ``proc`` and wait for it: (exit status, stdout)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


# -- one agent per database --------------------------------------------------------------


def test_a_second_agent_on_the_same_database_refuses_naming_the_first_and_the_first_goes_on(
    simulator: SimulatorUrls, tmp_path: Path
) -> None:
    """Tried: a first `edge run` collecting into edge.db, then a second one (bounded by
    --duration, so that before the fix it ran beside the first and exited 0) on the same
    config. Kept: the second exits 2 at once with `error: ...` naming the database, the
    first's pid and the lock file, writing nothing; the first keeps running and keeps
    writing snapshots after the refusal; edge.db.lock holds the first's pid."""
    config = write_config(tmp_path, simulator)
    db = tmp_path / "edge.db"
    first = agent(config, log=tmp_path / "first.log")
    try:
        wait_for(lambda: snapshot_rows(db) > 0, 30, "the first agent stores book snapshots")

        second = subprocess.run(
            [*TICKERML, "edge", "run", "-c", str(config), "--duration", "5"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        )
        after_refusal = snapshot_rows(db)

        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith(f"error: {db}: another agent is running on this database")
        assert f"(pid {first.pid}, lock {lock_path(db)})" in second.stderr
        assert first.poll() is None, "the first agent stopped"
        assert lock_path(db).read_text() == f"{first.pid}\n"
        wait_for(lambda: snapshot_rows(db) > after_refusal, 30, "the first agent goes on writing")
    finally:
        status, _ = stop(first)
    assert status == 0


def test_a_lock_file_left_by_a_killed_agent_does_not_block_the_next_one(
    simulator: SimulatorUrls, tmp_path: Path
) -> None:
    """Tried: `edge run` killed with SIGKILL while collecting, which leaves edge.db.lock
    naming its dead pid, then a new `edge run --duration 3` on the same database. Kept:
    the new agent starts, collects and exits 0, and the lock file is emptied when it
    stops."""
    config = write_config(tmp_path, simulator)
    db = tmp_path / "edge.db"
    killed = agent(config, log=tmp_path / "killed.log")
    try:
        wait_for(lambda: snapshot_rows(db) > 0, 30, "the agent stores book snapshots")
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
    assert lock_path(db).read_text() == f"{killed.pid}\n"
    rows = snapshot_rows(db)

    result = subprocess.run(
        [*TICKERML, "edge", "run", "-c", str(config), "--duration", "3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 0, result.stderr
    assert snapshot_rows(db) > rows
    assert lock_path(db).read_text() == ""


# -- the closing line and the exit status --------------------------------------------------


def test_the_closing_line_reports_the_run_not_the_state_after_shutdown(
    simulator: SimulatorUrls, tmp_path: Path
) -> None:
    """Tried: `edge run --duration 4` on two exchanges and four books. Before the fix
    it printed the state after shutdown ("0.0 msg/s, books 0/4 synced, sockets 0/2
    up"). Kept: exit 0 and one line with the run's messages and their average rate,
    books synced 4/4 at best and at stop, sockets 2/2 up, reconnects and rows."""
    config = write_config(tmp_path, simulator)

    result = subprocess.run(
        [*TICKERML, "edge", "run", "-c", str(config), "--duration", "4"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    head, _, rest = line.partition(" messages (")
    messages = int(head.rpartition(" ")[2])
    rate = float(rest.partition(" msg/s")[0])
    assert line.startswith("ran 4.")
    assert messages > 100 and rate == pytest.approx(messages / 4, rel=0.1)
    assert "books synced 4/4 at best and 4/4 at stop, sockets 2/2 up, reconnects 0" in line
    assert ", rows " in line and "snapshots 0)" not in line


def test_a_run_that_never_receives_market_data_exits_3_saying_so(tmp_path: Path) -> None:
    """Tried: `edge run --duration 2` with every ws_url and rest_url on a loopback port
    where nothing listens. Before the fix it exited 0. Kept: the closing line (no
    messages, sockets 0/2 up), then `error: FILE: no market data ...` pointing at the
    URLs, and exit status 3."""
    config = write_config(tmp_path, None)

    result = subprocess.run(
        [*TICKERML, "edge", "run", "-c", str(config), "--duration", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 3, result.stderr
    assert "0 messages (0.0 msg/s)" in result.stdout and "sockets 0/2 up" in result.stdout
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: {config}: no market data in 2.")
    assert "ws_url and rest_url" in error


# -- config problems at start ------------------------------------------------------------


def test_edge_run_refuses_what_check_config_refuses_before_opening_anything(
    tmp_path: Path,
) -> None:
    """Tried: `edge run --duration 2` with a strategy on binanceus, a market the agent
    does not collect (before the fix it ran, traded nothing and exited 0), then with
    the strategy off and `binancee`, a typo, as an exchange. Kept: exit 2 both times:
    the strategy named by file and key path with the markets collected (the config
    model), then the unknown exchange by file and key path with the known ones (the
    runnable check); no database and no lock file created."""
    config = write_config(tmp_path, None, trading={"enabled": True, "strategies": [
        {"name": "mm", "kind": "market_maker", "exchange": "binanceus", "symbols": ["BTC/USDT"]},
    ]})
    result = subprocess.run(
        [*TICKERML, "edge", "run", "-c", str(config), "--duration", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert (f"{config}: trading.strategies[0].exchange: 'binanceus' is not collected"
            in result.stderr)
    assert "collected: binance BTC/USDT, ETH/USDT; kraken BTC/USDT, ETH/USDT" in result.stderr

    data = yaml.safe_load(config.read_text())
    data["exchanges"][0]["name"] = "binancee"
    data["trading"]["enabled"] = False
    config.write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [*TICKERML, "edge", "run", "-c", str(config), "--duration", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: {config}: exchanges[0].name: unknown exchange 'binancee'; known: binance, "
        "binanceus, coinbase, kraken, kucoin"
    )
    assert not (tmp_path / "edge.db").exists() and not lock_path(tmp_path / "edge.db").exists()
