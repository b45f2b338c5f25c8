"""``tickerml demo``: the whole loop as far as it is built, on one machine, offline.

Today that is: the market simulator on loopback speaking Binance.US's and
Kraken's wire protocols, and two agents — separate ``tickerml edge collect``
processes, each with its own config and SQLite file — keeping exact books,
trades, candles and snapshots, and paper trading several strategies side by
side against those books. At the end what the agents captured is replayed
through the same parsers (every Kraken checksum verifying) and each strategy's
paper ledger is summarised. The MQTT broker and the hub join with the sync issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from edge.replay import replay_files, report_rows
from edge.simulator.server import SimulatorServer, SimulatorUrls
from shared.config.simulator import SimulatorConfig

SIM_SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
AGENTS: list[dict[str, Any]] = [
    {
        "agent_id": "pi-demo-1",
        "exchange": "binanceus",
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "strategies": [("maker-btc", "market_maker", ["BTC/USDT"]),
                       ("flow", "imbalance", ["BTC/USDT", "ETH/USDT"])],
    },
    {
        "agent_id": "pi-demo-2",
        "exchange": "kraken",
        "symbols": ["BTC/USDT", "SOL/USDT"],
        "strategies": [("maker-sol", "market_maker", ["SOL/USDT"]),
                       ("flow", "imbalance", ["BTC/USDT", "SOL/USDT"]),
                       ("fallback", "fallback", ["BTC/USDT"])],
    },
]
TABLES = ("trades", "candles_1m", "book_snapshots", "feed_events")


class SimulatorThread:
    """The simulator on its own event loop in a daemon thread."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.urls: SimulatorUrls | None = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the main thread, which stops the demo
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with SimulatorServer(self.config) as sim:
            self.urls = sim.urls
            self._ready.set()
            await self._stop.wait()

    def start(self) -> SimulatorUrls:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or self.urls is None:
            raise click.ClickException(f"the simulator did not start: {self._error}")
        return self.urls

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _agent_config(agent: dict[str, Any], urls: SimulatorUrls, data_dir: Path) -> dict[str, Any]:
    binance = agent["exchange"].startswith("binance")
    return {
        "agent_id": agent["agent_id"],
        "data_dir": str(data_dir),
        "exchanges": [
            {
                "name": agent["exchange"],
                "symbols": agent["symbols"],
                "depth": 100 if binance else 25,
                "ws_url": urls.binance_ws if binance else urls.kraken_ws,
                **({"rest_url": urls.binance_rest} if binance else {}),
                "silent_after_s": 10,
            }
        ],
        "store": {"snapshot_interval_s": 2, "commit_interval_s": 1},
        "trading": {
            "enabled": True,
            "strategies": [
                {"name": name, "kind": kind, "exchange": agent["exchange"], "symbols": symbols}
                for name, kind, symbols in agent["strategies"]
            ],
        },
        "logging": {"level": "INFO", "file": "logs/edge.log"},
    }


def _counts(db: Path) -> dict[str, Any]:
    if not db.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            out: dict[str, Any] = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES
            }
            row = conn.execute(
                "SELECT symbol, best_bid, best_ask FROM book_snapshots ORDER BY id DESC LIMIT 1"
            ).fetchone()
            out["last_book"] = f"{row[0]} {row[1]:.2f} / {row[2]:.2f}" if row else "-"
            return out
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def _table(agents: list[dict[str, Any]], elapsed: float, duration: float) -> Table:
    table = Table(title=f"TickerML demo — {elapsed:.0f}/{duration:.0f} s (paper trading only)")
    table.add_column("agent")
    table.add_column("exchange")
    for name in ("trades", "candles", "snapshots", "events"):
        table.add_column(name, justify="right")
    table.add_column("last snapshot bid / ask")
    for agent in agents:
        counts = _counts(agent["db"])
        table.add_row(
            agent["agent_id"],
            agent["exchange"],
            *(f"{counts.get(t, 0):,}" for t in TABLES),
            counts.get("last_book", "-"),
        )
    return table


@click.command(name="demo")
@click.option(
    "--duration",
    type=float,
    default=45.0,
    show_default=True,
    help="Seconds the agents collect before the summary.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="Where the agents' configs, databases and logs go.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Simulator seed.")
def demo_command(duration: float, data_dir: Path, seed: int) -> None:
    """Run the whole loop offline: the market simulator and two agents (Binance.US
    and Kraken wire formats) collecting exact books, trades and candles into SQLite,
    then a replay of the Kraken agent's capture verifying every checksum."""
    console = Console()
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    sim = SimulatorThread(SimulatorConfig(host="127.0.0.1", port=0, seed=seed, symbols=SIM_SYMBOLS))
    urls = sim.start()
    console.print(f"simulator: Binance.US {urls.binance_ws}  Kraken {urls.kraken_ws}")
    agents: list[dict[str, Any]] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for spec in AGENTS:
            agent_dir = data_dir / spec["agent_id"]
            agent_dir.mkdir()
            config_path = agent_dir / "edge.yaml"
            config_path.write_text(yaml.safe_dump(_agent_config(spec, urls, agent_dir)))
            capture = agent_dir / "capture.jsonl"
            cmd = [
                sys.executable,
                "-m",
                "shared.cli",
                "edge",
                "collect",
                "-c",
                str(config_path),
                "--duration",
                str(duration),
                "--capture",
                str(capture),
            ]
            log = (agent_dir / "stderr.log").open("wb")
            procs.append(
                subprocess.Popen(
                    cmd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            )
            agents.append(
                {**spec, "db": agent_dir / "edge.db", "capture": capture, "config": config_path}
            )
            console.print(f"agent {spec['agent_id']}: {' '.join(cmd[2:])}")
        start = time.monotonic()
        with Live(_table(agents, 0, duration), console=console, refresh_per_second=1) as live:
            while any(p.poll() is None for p in procs):
                time.sleep(1)
                live.update(_table(agents, time.monotonic() - start, duration))
        for spec, proc in zip(agents, procs, strict=True):
            if proc.returncode != 0:
                raise click.ClickException(
                    f"agent {spec['agent_id']} exited with {proc.returncode}; see "
                    f"{spec['config'].parent / 'stderr.log'}"
                )
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
        sim.stop()
    _summary(console, agents)


def _summary(console: Console, agents: list[dict[str, Any]]) -> None:
    console.rule("replay of what the agents captured, through the same parsers")
    rows = report_rows(replay_files([a["capture"] for a in agents if a["capture"].exists()]))
    columns = {
        "exchange": "exchange",
        "symbol": "symbol",
        "messages": "msgs",
        "level_updates": "levels",
        "snapshots": "snaps",
        "checksums_ok": "cksum ok",
        "checksums_failed": "cksum bad",
        "gaps": "gaps",
        "resyncs": "resyncs",
        "crossed": "crossed",
        "trades": "trades",
    }
    table = Table()
    for key, header in columns.items():
        table.add_column(header, justify="left" if key in ("exchange", "symbol") else "right")
    for row in rows:
        table.add_row(*(str(row[key]) for key in columns))
    console.print(table)
    console.rule("stored per agent")
    for agent in agents:
        counts = _counts(agent["db"])
        console.print(
            f"{agent['agent_id']} ({agent['exchange']}): "
            + json.dumps({t: counts.get(t, 0) for t in TABLES})
            + f"  db={agent['db']}"
        )
    console.rule("paper trading (paper money only), from each agent's ledger")
    table = Table()
    for column in ("agent", "strategy", "orders", "fills", "rejections", "equity", "realized",
                   "fees"):
        table.add_column(column, justify="left" if column in ("agent", "strategy") else "right")
    for agent in agents:
        for paper_row in _paper_rows(agent["db"]):
            table.add_row(agent["agent_id"], *paper_row)
    console.print(table)
    console.print("Next issues add MQTT sync to the hub, news sentiment and the model.")


def _paper_rows(db: Path) -> list[tuple[str, ...]]:
    """Per strategy: distinct orders, fills, rejections and the last portfolio state."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = []
        names = [r[0] for r in conn.execute("SELECT strategy FROM paper_portfolios ORDER BY id")]
        for name in names:
            orders = conn.execute(
                "SELECT count(DISTINCT order_id) FROM order_events WHERE strategy = ?", (name,)
            ).fetchone()[0]
            fills = conn.execute(
                "SELECT count(*) FROM fills WHERE strategy = ?", (name,)
            ).fetchone()[0]
            rejected = conn.execute(
                "SELECT count(*) FROM risk_rejections WHERE strategy = ?", (name,)
            ).fetchone()[0]
            state = conn.execute(
                "SELECT equity, realized, fees FROM portfolio_state WHERE strategy = ? "
                "ORDER BY id DESC LIMIT 1", (name,),
            ).fetchone()
            figures = [f"{float(v):,.4f}" for v in state] if state else ["-", "-", "-"]
            rows.append((name, str(orders), str(fills), str(rejected), *figures))
        return rows
    finally:
        conn.close()
