"""The parts of a real sync deployment on one machine, for the fault tests.

A mosquitto process (:class:`~provisioning.broker.Broker`), ``tickerml hub run`` and
``tickerml edge run`` as subprocesses, and the market simulator in-process. Every
process writes its own log under ``tmp_path/logs``; :meth:`Deployment.tails` is what a
failing test prints. Waits poll the SQLite files with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.simulator.server import SimulatorUrls
from edge.simulator.thread import SimulatorThread
from edge.store.cursors import read_cursors
from hub.store.db import STORE_FILE
from hub.store.store import HubStore
from provisioning.broker import Broker, free_port, plain_config
from shared.config.simulator import SimulatorConfig
from shared.sync.codec import decode_header
from shared.sync.digest import rows_digest
from shared.sync.messages import BatchHeader
from shared.sync.tables import TABLES
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ["BTC/USDT", "ETH/USDT"]

# Fast timers: a batch every 0.2 s, a lost acknowledgement re-sent after 2 s, a
# reconnect within a second of the broker coming back.
SYNC = {
    "batch_interval_s": 0.2,
    "ack_timeout_s": 2.0,
    "status_interval_s": 1.0,
    "backoff": {"initial_s": 0.1, "max_s": 1.0},
}


wait_until = wait_for
"""This folder's name for :func:`tests.waiting.wait_for` (poll, fail naming what)."""


def edge_counts(db: Path) -> dict[str, int]:
    """Rows per synced table in an agent's database (read-only; 0 before it exists)."""
    if not db.exists():
        return dict.fromkeys(TABLES, 0)
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES}
    except sqlite3.OperationalError:
        return dict.fromkeys(TABLES, 0)  # the migrations have not run yet


def edge_digest(db: Path, table: str) -> tuple[int, str]:
    """The agent side of :func:`shared.sync.digest.rows_digest` for ``table``."""
    columns = ", ".join(f'"{c}"' for c in TABLES[table].columns)
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return rows_digest(conn.execute(f'SELECT {columns} FROM "{table}" ORDER BY id'))


def edge_cursors(db: Path) -> dict[str, int]:
    """The acknowledged ids the agent has stored (what a restart resumes from)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return read_cursors(conn, TABLES)


class Spy:
    """A raw paho client on the broker: records (and can publish) anything."""

    def __init__(self, port: int, subscribe: list[str]) -> None:
        self.payloads: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"spy-{time.monotonic_ns()}",
            protocol=paho.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._ready.set()
        self.client.on_connect = lambda client, *args: (
            client.subscribe([(topic, 1) for topic in subscribe])
        )
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        assert self._ready.wait(10), "the spy could not connect and subscribe"

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.payloads.append((message.topic, bytes(message.payload)))

    def received(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.payloads)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def batches_after(self, last_ids: Mapping[str, int]) -> list[BatchHeader]:
        """The batches seen that start after their table's id in ``last_ids``."""
        headers = [decode_header(p)[0] for _, p in self.received()]
        return [h for h in headers if h.first_id > last_ids[h.table]]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Agent:
    """One ``tickerml edge run`` agent: its config file, database and process name."""

    def __init__(self, agent_id: str, folder: Path) -> None:
        self.agent_id = agent_id
        self.folder = folder
        self.config = folder / "edge.yaml"
        self.db = folder / "edge.db"

    def counts(self) -> dict[str, int]:
        return edge_counts(self.db)


class Deployment:
    """A broker, a hub, a simulator and agents for one test; :meth:`close` stops them all."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.logs = tmp_path / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        port = free_port()
        # Persistence on, saved every second: a stopped broker keeps the hub's session.
        self.broker = Broker(
            tmp_path / "broker", plain_config(port, persistence_dir=tmp_path / "broker"), port
        )
        self.hub_dir = tmp_path / "hub"
        self.hub_config = tmp_path / "hub.yaml"
        self.simulator: SimulatorThread | None = None
        self.urls: SimulatorUrls | None = None
        self.agents: dict[str, Agent] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def port(self) -> int:
        return self.broker.port

    @property
    def store_path(self) -> Path:
        return self.hub_dir / STORE_FILE

    # --- starting -----------------------------------------------------------------------

    def start_broker(self) -> None:
        self.broker.start()

    def start_simulator(self, seed: int = 11, symbols: list[str] | None = None) -> None:
        self.simulator = SimulatorThread(
            SimulatorConfig(host="127.0.0.1", port=0, seed=seed, symbols=symbols or SYMBOLS)
        )
        self.urls = self.simulator.start()

    def start_hub(self) -> None:
        """``tickerml hub run`` on the broker, storing into ``tmp_path/hub``."""
        config = {
            "data_dir": str(self.hub_dir),
            "mqtt": {"host": "127.0.0.1", "port": self.port, "keepalive_s": 5,
                     "connect_timeout_s": 2},
            "ingest": {"status_interval_s": 1.0, "backoff": {"initial_s": 0.1, "max_s": 1.0}},
            "logging": {"level": "INFO", "file": None},
        }
        self.hub_config.write_text(yaml.safe_dump(config))
        self.start("hub", "hub", "run", "-c", str(self.hub_config))

    def add_agent(
        self, agent_id: str, *, exchanges: tuple[str, ...] = ("binanceus", "kraken"),
        symbols: list[str] | None = None, raw_capture: bool = False, trading: bool = True,
        **sync: Any,
    ) -> Agent:
        """Write the config of an agent collecting from the simulator and syncing."""
        assert self.urls is not None, "start the simulator first"
        agent = Agent(agent_id, self.tmp_path / agent_id)
        agent.folder.mkdir(parents=True, exist_ok=True)
        symbols = symbols or SYMBOLS
        feeds = []
        for name in exchanges:
            binance = name.startswith("binance")
            feeds.append({
                "name": name, "symbols": symbols, "depth": 100 if binance else 25,
                "ws_url": self.urls.binance_ws if binance else self.urls.kraken_ws,
                **({"rest_url": self.urls.binance_rest} if binance else {}),
                "silent_after_s": 10,
            })
        strategies = [
            {"name": "maker", "kind": "market_maker", "exchange": exchanges[0],
             "symbols": symbols[:1]},
            {"name": "flow", "kind": "imbalance", "exchange": exchanges[0], "symbols": symbols},
        ]
        config = {
            "agent_id": agent_id,
            "data_dir": str(agent.folder),
            "exchanges": feeds,
            "store": {"snapshot_interval_s": 0.5, "commit_interval_s": 0.2,
                      "raw_capture": raw_capture},
            "trading": {"enabled": trading, "strategies": strategies if trading else []},
            "sync": {
                "enabled": True,
                "mqtt": {"host": "127.0.0.1", "port": self.port, "keepalive_s": 5,
                         "connect_timeout_s": 2},
                **SYNC,
                **sync,
            },
            "logging": {"level": "INFO", "file": None},
        }
        agent.config.write_text(yaml.safe_dump(config))
        self.agents[agent_id] = agent
        return agent

    def start_agent(self, agent: Agent) -> None:
        self.start(agent.agent_id, "edge", "run", "-c", str(agent.config))

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Run ``tickerml <args>`` as process ``name``; its output is appended to its log."""
        assert name not in self._procs or self._procs[name].poll() is not None, name
        with (self.logs / f"{name}.log").open("ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} tickerml {' '.join(args)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", *args], cwd=REPO, stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._procs[name] = proc
        return proc

    # --- stopping -----------------------------------------------------------------------

    def terminate(self, name: str, timeout_s: float = 30.0) -> int:
        """SIGTERM (a clean stop) and wait; the exit code."""
        proc = self._procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout_s)

    def kill(self, name: str) -> None:
        """SIGKILL: nothing flushed, nothing said to the broker."""
        proc = self._procs[name]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def running(self, name: str) -> bool:
        return name in self._procs and self._procs[name].poll() is None

    def drain(self, *agents: Agent, timeout_s: float = 60.0) -> None:
        """``tickerml edge sync --until-drained`` for stopped agents, all at once."""
        for agent in agents:
            assert not self.running(agent.agent_id), f"{agent.agent_id} still collecting"
            self.start(f"{agent.agent_id}-drain", "edge", "sync", "-c", str(agent.config),
                       "--until-drained", "--duration", str(timeout_s))
        for agent in agents:
            code = self._procs[f"{agent.agent_id}-drain"].wait(timeout_s + 30)
            assert code == 0, f"{agent.agent_id}: edge sync --until-drained exited {code}"

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL), the simulator and the broker."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.simulator is not None:
            self.simulator.stop()
        self.broker.stop()

    def tails(self, lines: int = 30) -> str:
        """The last lines of every process's log (what a failing test prints)."""
        parts = []
        for log in [*sorted(self.logs.glob("*.log")), self.broker.log_path]:
            if log.exists():
                text = log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {log.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    # --- the hub side -------------------------------------------------------------------

    def hub_store(self) -> HubStore:
        return HubStore(self.store_path)

    def hub_counts(self, agent_id: str) -> dict[str, int]:
        """Rows per synced table the hub stores for ``agent_id`` (0 before the store exists)."""
        if not self.store_path.exists():
            return dict.fromkeys(TABLES, 0)
        try:
            with closing(
                sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)
            ) as conn:
                return {
                    t: conn.execute(
                        f'SELECT count(*) FROM "{t}" WHERE agent_id = ?', (agent_id,)
                    ).fetchone()[0]
                    for t in TABLES
                }
        except sqlite3.OperationalError:
            return dict.fromkeys(TABLES, 0)

    def hub_max_ids(self, agent_id: str) -> dict[str, int]:
        """Per synced table, the newest local id the hub stores for ``agent_id``."""
        with closing(
            sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)
        ) as conn:
            return {
                t: int(conn.execute(
                    f'SELECT coalesce(max(local_id), 0) FROM "{t}" WHERE agent_id = ?',
                    (agent_id,),
                ).fetchone()[0])
                for t in TABLES
            }

    def wait_syncing(
        self, agent: Agent, trades: int = 1, book_snapshots: int = 1, timeout_s: float = 60.0
    ) -> None:
        """Until the hub holds that many of the agent's trades and book snapshots."""
        wait_until(
            lambda: (counts := self.hub_counts(agent.agent_id))["trades"] >= trades
            and counts["book_snapshots"] >= book_snapshots,
            timeout_s, f"{trades} trades and {book_snapshots} book snapshots of "
            f"{agent.agent_id} at the hub",
        )

    def compare(self, agent: Agent) -> dict[str, int]:
        """Assert every synced table's rows and digest match between the agent and the hub.

        The agent must be quiesced (stopped and drained). Returns the rows per table.
        """
        rows: dict[str, int] = {}
        with self.hub_store() as store:
            for table in TABLES:
                edge = edge_digest(agent.db, table)
                hub = store.table_digest(table, agent.agent_id)
                assert hub == edge, (
                    f"{agent.agent_id}/{table}: the agent has {edge[0]} rows, the hub "
                    f"{hub[0]} (digests {edge[1][:12]} / {hub[1][:12]})"
                )
                rows[table] = edge[0]
        assert rows["trades"] > 0 and rows["book_snapshots"] > 0, f"no real data: {rows}"
        print(f"{agent.agent_id}: identical at the hub: "
              + ", ".join(f"{t}={n}" for t, n in rows.items() if n))
        return rows

    @contextmanager
    def hub_store_locked(self) -> Iterator[None]:
        """Hold the hub store's write lock: `hub run` receives batches but cannot commit
        them, so it neither PUBACKs them to the broker nor acknowledges them."""
        with closing(sqlite3.connect(self.store_path, timeout=10)) as conn:
            conn.isolation_level = None
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")

    def ingest_log(self, agent_id: str, table: str) -> list[tuple[int, int, int, int, int]]:
        """The hub's ingest_batches for one agent's table: (first, last, rows, new, sent_ns)."""
        with closing(
            sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)
        ) as conn:
            return conn.execute(
                "SELECT first_id, last_id, rows, rows_new, sent_ns FROM ingest_batches "
                "WHERE agent_id = ? AND table_name = ? ORDER BY id", (agent_id, table),
            ).fetchall()

    def attempts(self, agent_id: str) -> set[int]:
        """Every send attempt number the hub has seen from ``agent_id``."""
        with closing(
            sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)
        ) as conn:
            return {a for (a,) in conn.execute(
                "SELECT DISTINCT attempt FROM ingest_batches WHERE agent_id = ?", (agent_id,)
            )}
