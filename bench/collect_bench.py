"""Steady-state collection: ``tickerml edge run`` as its own process against
the loopback simulator, measuring what matters on a Pi — commits per second,
rows per second, peak memory and bytes written to disk."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from edge.simulator.thread import SimulatorThread
from shared.config.simulator import SimulatorConfig


@dataclass
class CollectResult:
    seconds: float
    status_line: str
    peak_rss_mib: float
    write_mib: float
    rows: int


def _proc_value(pid: int, name: str, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def run(duration_s: float = 30.0) -> CollectResult:
    """Collect Binance.US (2 symbols) and Kraken v2 (2 symbols) for ``duration_s``."""
    sim = SimulatorThread(
        SimulatorConfig(
            host="127.0.0.1", port=0, seed=3, symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"]
        )
    )
    urls = sim.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = {
                "agent_id": "bench",
                "data_dir": tmp,
                "exchanges": [
                    {
                        "name": "binanceus",
                        "symbols": ["BTC/USDT", "ETH/USDT"],
                        "depth": 1000,
                        "ws_url": urls.binance_ws,
                        "rest_url": urls.binance_rest,
                    },
                    {
                        "name": "kraken",
                        "symbols": ["BTC/USDT", "SOL/USDT"],
                        "depth": 100,
                        "ws_url": urls.kraken_ws,
                    },
                ],
                "logging": {"level": "WARNING", "file": None},
            }
            path = Path(tmp) / "edge.yaml"
            path.write_text(yaml.safe_dump(config))
            cmd = [
                sys.executable,
                "-m",
                "shared.cli",
                "edge",
                "run",
                "-c",
                str(path),
                "--duration",
                str(duration_s),
            ]
            start = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            peak_kib = written = 0
            while proc.poll() is None:
                peak_kib = max(peak_kib, _proc_value(proc.pid, "status", "VmHWM:"))
                written = max(written, _proc_value(proc.pid, "io", "write_bytes:"))
                time.sleep(0.25)
            seconds = time.monotonic() - start
            out = proc.stdout.read().decode() if proc.stdout else ""
            if proc.returncode != 0:
                raise RuntimeError(f"the agent exited {proc.returncode}: {out[-2000:]}")
            line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("collect:")), "")
            import sqlite3

            conn = sqlite3.connect(Path(tmp) / "edge.db")
            rows = sum(
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("trades", "candles_1m", "book_snapshots", "feed_events")
            )
            conn.close()
            return CollectResult(seconds, line, peak_kib / 1024, written / 2**20, rows)
    finally:
        sim.stop()


def section(duration_s: float = 30.0) -> list[str]:
    r = run(duration_s)
    return [
        "## Steady-state collection on the Pi's budget (issue 2)",
        "",
        f"`tickerml edge run` as its own process for {duration_s:.0f} s against the",
        "loopback simulator: Binance.US BTC/USDT + ETH/USDT (depth 1000) and Kraken v2",
        "BTC/USDT + SOL/USDT (depth 100), default store settings (commit every 1 s,",
        "snapshots every 5 s, no raw capture).",
        "",
        f"- Collector's own final status: `{r.status_line}`",
        f"- Rows stored: {r.rows:,}",
        f"- Peak resident memory (VmHWM): {r.peak_rss_mib:.1f} MiB",
        f"- Bytes written to disk by the process (/proc/PID/io write_bytes): "
        f"{r.write_mib:.2f} MiB in {r.seconds:.0f} s "
        f"({r.write_mib / r.seconds * 3600 / 1024:.2f} GiB/hour)",
        "",
    ]
