"""Edge → hub sync (issue 4): drain a 1,000,000-row backlog through mosquitto into
the hub store, the raw transport limit for the same bytes, and steady-state lag.

Three real processes as in the field — mosquitto, ``tickerml hub run`` and
``tickerml edge sync`` — on loopback; the agent's backlog is a real edge database
(migrations applied) holding 1,000,000 trade rows. Timings come from the hub
store: the drain runs from the first batch received to the last committed.

The raw transport figure sends the very same batch payloads (same rows, same
compression) through the same broker with a bare paho publisher and subscriber,
QoS 1, the same number of messages in flight, and nothing else: no reading the
database, no validation, no commit, no acknowledgement round trip. The ratio
says how much of the wire's throughput the sync keeps. A second raw figure sends
the same rows as one MQTT message each: what the transport gives when nothing
batches.

``python -m bench.sync_bench`` prints the section on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.store.db import connect, migrate
from shared.readers.stores import agent_epoch
from shared.sync.codec import encode_batch
from shared.sync.messages import BatchHeader
from shared.sync.tables import TABLES

BACKLOG_ROWS = 1_000_000
BATCH_ROWS = 5_000
INFLIGHT = 8
AGENT = "pi-bench"


def make_backlog(db: Path, rows: int = BACKLOG_ROWS) -> None:
    """An edge database holding ``rows`` trades (as a day of a busy symbol would)."""
    conn = connect(db)
    migrate(conn)
    start_ns = 1_763_769_600_000_000_000
    with conn:
        conn.executemany(
            "INSERT INTO trades (exchange, symbol, trade_id, price, size, side, ts_exchange_ns, "
            "ts_recv_ns, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live')",
            (
                ("binanceus", "BTC/USDT", str(10_000_000 + i),
                 f"{64_000 + (i * 7919) % 2_000}.{i % 100:02d}", f"0.{(i * 104_729) % 99_999:05d}",
                 "buy" if i % 3 else "sell", start_ns + i * 86_400_000,
                 start_ns + i * 86_400_000 + 1_500_000)
                for i in range(rows)
            ),
        )
    conn.close()


def backlog_payloads(db: Path, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[int, bytes]]:
    """(rows, payload) for each batch of the backlog, as the agent would build them."""
    table = TABLES["trades"]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        epoch = agent_epoch(conn)
        (newest,) = conn.execute("SELECT coalesce(max(id), 1) FROM trades").fetchone()
        last = 0
        while True:
            rows = conn.execute(
                f"SELECT {', '.join(table.columns)} FROM trades WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch_rows),
            ).fetchall()
            if not rows:
                return
            header = BatchHeader(
                agent_id=AGENT, table="trades", columns=table.columns, first_id=rows[0][0],
                last_id=rows[-1][0], rows=len(rows), created_ns=time.time_ns(),
                sent_ns=time.time_ns(), epoch=epoch, table_last_id=newest,
            )
            last = rows[-1][0]
            yield len(rows), encode_batch(header, rows)
    finally:
        conn.close()


@dataclass
class RawResult:
    rows: int
    messages: int
    payload_mib: float
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def raw_transport(
    port: int, payloads: list[tuple[int, bytes]], *, topic: str = "bench/raw",
    timeout_s: float = 120.0,
) -> RawResult:
    """The same payloads through the broker with bare paho clients: QoS 1, same inflight."""
    received = threading.Event()
    count = 0
    expected = len(payloads)
    subscribed = threading.Event()

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        nonlocal count
        count += 1
        if count == expected:
            received.set()

    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="raw-sub", protocol=paho.MQTTv5)
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    sub.subscribe(topic, qos=1)
    subscribed.wait(10)
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="raw-pub", protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(INFLIGHT)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    start = time.perf_counter()
    for _, payload in payloads:
        pub.publish(topic, payload, qos=1)
    if not received.wait(timeout_s):
        raise RuntimeError(f"raw transport: {count} of {expected} messages arrived")
    seconds = time.perf_counter() - start
    for client in (pub, sub):
        client.loop_stop()
        client.disconnect()
    return RawResult(
        sum(n for n, _ in payloads), expected, sum(len(p) for _, p in payloads) / 2**20, seconds
    )


def row_messages(port: int, db: Path, rows: int = 20_000) -> RawResult:
    """The same rows as one message each (JSON), a bare paho loop, QoS 1.

    What MQTT carries when nothing batches: the transport limit per row, for the
    first ``rows`` rows of the backlog, with the same in-flight window.
    """
    table = TABLES["trades"]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        messages = [
            orjson.dumps(list(row))
            for row in conn.execute(
                f"SELECT {', '.join(table.columns)} FROM trades ORDER BY id LIMIT ?", (rows,)
            )
        ]
    finally:
        conn.close()
    result = raw_transport(port, [(1, m) for m in messages], topic="bench/rows")
    return result


# -- the sync itself: three processes, as in the field ------------------------------------


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``tickerml ARGS`` as its own process, free to use every core (the bench pins itself)."""
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args], stdout=out, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out.close()
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(proc.pid, range(os.cpu_count() or 1))
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _hub_yaml(root: Path, port: int) -> Path:
    path = root / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "data_dir": str(root / "hub"),
        "mqtt": {"host": "127.0.0.1", "port": port},
        "logging": {"level": "WARNING", "file": None},
    }))
    return path


def _edge_sync(port: int) -> dict[str, Any]:
    return {
        "enabled": True, "mqtt": {"host": "127.0.0.1", "port": port},
        "batch_rows": BATCH_ROWS, "max_inflight": INFLIGHT,
    }


@dataclass
class DrainResult:
    rows: int
    seconds: float
    wall_seconds: float
    batches: int
    resent: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def _hub_db(root: Path) -> Path:
    return root / "hub" / "hub.db"


def _until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _hub_ready(root: Path) -> bool:
    db = _hub_db(root)
    if not db.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            conn.execute("SELECT count(*) FROM ingest_batches").fetchone()
            return True
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def drain(root: Path, port: int, edge_db: Path) -> DrainResult:
    """The 1,000,000-row backlog through ``edge sync --until-drained`` into ``hub run``."""
    hub = _spawn(["hub", "run", "-c", str(_hub_yaml(root, port))], root / "hub.log")
    try:
        _until(lambda: _hub_ready(root), 30, "the hub store")
        time.sleep(1.0)  # the ingest subscribes right after opening its store
        edge_yaml = root / "edge.yaml"
        edge_yaml.write_text(yaml.safe_dump({
            "agent_id": AGENT, "data_dir": str(edge_db.parent),
            "store": {"path": edge_db.name}, "sync": _edge_sync(port),
            "logging": {"level": "WARNING", "file": None},
        }))
        start = time.perf_counter()
        agent = _spawn(["edge", "sync", "-c", str(edge_yaml), "--until-drained",
                        "--duration", "600"], root / "edge-sync.log")
        code = agent.wait(900)
        wall = time.perf_counter() - start
        if code != 0:
            tail = (root / "edge-sync.log").read_text()[-2000:]
            raise RuntimeError(f"edge sync exited {code}: {tail}")
        conn = sqlite3.connect(f"file:{_hub_db(root)}?mode=ro", uri=True, timeout=10)
        try:
            first, last, rows, batches, resent = conn.execute(
                "SELECT min(received_ns), max(committed_ns), sum(rows_new), count(*), "
                "sum(attempt > 1) FROM ingest_batches WHERE agent_id = ?", (AGENT,),
            ).fetchone()
            stored = conn.execute(
                "SELECT count(*) FROM trades WHERE agent_id = ?", (AGENT,)
            ).fetchone()[0]
        finally:
            conn.close()
        if stored != BACKLOG_ROWS:
            raise RuntimeError(f"the hub holds {stored} rows, not {BACKLOG_ROWS}")
        return DrainResult(rows, (last - first) / 1e9, wall, batches, resent or 0)
    finally:
        _stop(hub)


# -- steady state: a collecting agent, its rows' way to the hub ----------------------------


@dataclass
class LagResult:
    seconds: float
    rows: dict[str, int]
    p50_s: float
    p99_s: float
    max_s: float


def steady_lag(root: Path, port: int, duration_s: float = 30.0) -> LagResult:
    """``edge run`` with sync on (default store and sync timers) against the simulator.

    A row's lag runs from the agent receiving the market data (its ``ts_recv_ns`` /
    ``ts_ns``) to the hub committing the batch that carried it, so it includes the
    agent's commit interval and the sync's poll interval, as a user sees it.
    """
    from edge.simulator.thread import SimulatorThread
    from shared.config.simulator import SimulatorConfig

    sim = SimulatorThread(SimulatorConfig(host="127.0.0.1", port=0, seed=5,
                                          symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"]))
    urls = sim.start()
    hub = _spawn(["hub", "run", "-c", str(_hub_yaml(root, port))], root / "hub-steady.log")
    agent: subprocess.Popen[bytes] | None = None
    try:
        _until(lambda: _hub_ready(root), 30, "the hub store")
        edge_dir = root / "steady"
        edge_dir.mkdir()
        config = {
            "agent_id": "pi-steady", "data_dir": str(edge_dir),
            "exchanges": [
                {"name": "binanceus", "symbols": ["BTC/USDT", "ETH/USDT"], "depth": 1000,
                 "ws_url": urls.binance_ws, "rest_url": urls.binance_rest},
                {"name": "kraken", "symbols": ["BTC/USDT", "SOL/USDT"], "depth": 100,
                 "ws_url": urls.kraken_ws},
            ],
            "sync": {"enabled": True, "mqtt": {"host": "127.0.0.1", "port": port}},
            "logging": {"level": "WARNING", "file": None},
        }
        (edge_dir / "edge.yaml").write_text(yaml.safe_dump(config))
        agent = _spawn(["edge", "run", "-c", str(edge_dir / "edge.yaml"), "--duration",
                        str(duration_s)], root / "edge-steady.log")
        agent.wait(duration_s + 120)
        time.sleep(3.0)  # the last batches' acknowledgements
    finally:
        if agent is not None:
            _stop(agent)
        _stop(hub)
        sim.stop()
    conn = sqlite3.connect(f"file:{_hub_db(root)}?mode=ro", uri=True, timeout=10)
    lags: list[float] = []
    rows: dict[str, int] = {}
    try:
        for table, column in (("trades", "ts_recv_ns"), ("book_snapshots", "ts_ns")):
            found = conn.execute(
                f"SELECT b.committed_ns - t.{column} FROM ingest_batches b JOIN {table} t "
                "ON t.agent_id = b.agent_id AND t.epoch = b.epoch "
                "AND t.local_id BETWEEN b.first_id AND b.last_id "
                "WHERE b.agent_id = 'pi-steady' AND b.table_name = ? AND b.rows_new > 0",
                (table,),
            ).fetchall()
            rows[table] = len(found)
            lags += [lag / 1e9 for (lag,) in found]
    finally:
        conn.close()
    if not lags:
        raise RuntimeError(f"no synced rows: {(root / 'edge-steady.log').read_text()[-2000:]}")
    lags.sort()
    return LagResult(duration_s, rows, lags[len(lags) // 2], lags[int(len(lags) * 0.99)], lags[-1])


def run(console: Any | None = None) -> tuple[RawResult, RawResult, DrainResult, LagResult]:
    """The three measurements on one broker."""
    from provisioning.broker import Broker, free_port, plain_config

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        edge_db = root / "backlog" / "edge.db"
        edge_db.parent.mkdir()
        make_backlog(edge_db)
        payloads = list(backlog_payloads(edge_db))
        port = free_port()
        with Broker(root / "broker", plain_config(port), port):
            raw = raw_transport(port, payloads)
            per_row = row_messages(port, edge_db)
            drained = drain(root, port, edge_db)
            lag = steady_lag(root, port)
    return raw, per_row, drained, lag


def section() -> list[str]:
    raw, per_row, drained, lag = run()
    ratio = drained.rows_per_s / raw.rows_per_s
    row_ratio = drained.rows_per_s / per_row.rows_per_s
    per_table = ", ".join(f"{k} {v:,}" for k, v in lag.rows.items())
    return [
        "## Edge → hub sync through mosquitto (issue 4)",
        "",
        "Three processes on loopback, as in the field: mosquitto 2.0, `tickerml hub run` and "
        "`tickerml edge sync --until-drained` (an agent's backlog of "
        f"{BACKLOG_ROWS:,} trade rows in its own database), MQTT v5 QoS 1, "
        f"{BATCH_ROWS:,}-row batches, {INFLIGHT} in flight. Drain time is measured in the "
        "hub store, from the first batch received to the last committed (synchronous=FULL, "
        "acknowledged after each commit); the wall time includes starting the agent process.",
        "",
        "| measurement | rows | time | rows/s |",
        "| --- | ---: | ---: | ---: |",
        f"| raw transport: the same {raw.messages} payloads ({raw.payload_mib:.1f} MiB "
        f"compressed), bare paho publisher → mosquitto → bare paho subscriber | {raw.rows:,} "
        f"| {raw.seconds:.2f} s | {raw.rows_per_s:,.0f} |",
        f"| raw transport, one message per row: the first {per_row.rows:,} rows as JSON "
        f"({per_row.payload_mib:.1f} MiB), bare paho publisher → mosquitto → bare paho "
        f"subscriber | {per_row.rows:,} | {per_row.seconds:.2f} s | {per_row.rows_per_s:,.0f} |",
        f"| sync drain: agent database → mosquitto → hub store, acknowledged "
        f"({drained.batches} batches, {drained.resent} re-sent) | {drained.rows:,} | "
        f"{drained.seconds:.2f} s ({drained.wall_seconds:.2f} s wall) | "
        f"{drained.rows_per_s:,.0f} |",
        "",
        f"Drain: **{drained.rows_per_s:,.0f} rows/s** (target ≥ 100,000). Against the raw "
        f"transport of the very same batch payloads the sync keeps **{ratio:.1%}** of its "
        "throughput (target ≥ 33%: **not met**): compressed 5,000-row batches are ~120 KiB, "
        "so the broker moves them almost for free, and the sync's time goes to reading the "
        "agent's database, JSON and zlib, validating every row and the hub's durable "
        "commit, none of which the bare transport does. Against the same rows sent as one "
        f"MQTT message each, the sync is **{row_ratio:.1f}x** faster.",
        "",
        f"Steady state: `tickerml edge run` with sync on for {lag.seconds:.0f} s against the "
        "simulator (Binance.US 2 books at depth 1000, Kraken v2 2 books at depth 100; default "
        "store and sync timers: the agent commits every 1 s, the sync looks for new rows every "
        "1 s). Lag from the agent receiving the data to the hub's commit, over "
        f"{sum(lag.rows.values()):,} rows ({per_table}): "
        f"**p50 {lag.p50_s:.2f} s, p99 {lag.p99_s:.2f} s**, max {lag.max_s:.2f} s.",
        "",
    ]


if __name__ == "__main__":
    print("\n".join(section()))
