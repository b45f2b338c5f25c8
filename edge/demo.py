"""``tickerml demo``: the whole loop as far as it is built, on one machine, offline.

Today that is: the market simulator on loopback speaking Binance.US's and
Kraken's wire protocols; a TLS mosquitto broker with certificates and an ACL made
by ``tickerml provision broker``; the hub (``tickerml hub run``) storing what the
agents send; and two agents — separate ``tickerml edge collect`` processes, each
with its own config, certificate and SQLite file — keeping exact books, trades,
candles and snapshots, paper trading several strategies side by side against
those books, and streaming every row to the hub. Both agents also harvest crypto
news every few seconds from two RSS feeds that a loopback server in this process
publishes and grows as the demo runs (:mod:`edge.news_demo_server`, with ETags, so a
harvest that finds nothing new gets 304), and score each headline: their Ollama
host is a closed loopback port, so the scorer falls back to the built-in one, as
it does on an agent whose LLM is down. Midway the hub sends commands (a resync of a
Kraken book, a trading pause and resume) and shows the answers. At the end each
agent's backlog is drained to the hub, and every synced table, the news tables
included, is compared row for row (:mod:`shared.sync.digest`) between the agent's
database and the hub's; what the agents captured is replayed through the same
parsers (every Kraken checksum verifying), each strategy's paper ledger is
summarised, and so is the news: articles, scores by scorer, a few headlines, and
the hourly roll-up when an hour closed during the run.

Every part runs as the operator would run it, as a subprocess of ``tickerml``;
the demo reads the hub's store with plain sqlite3, never through the hub's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from edge.demo_report import (
    TABLES,
    NewsDemo,
    hub_view,
    news_counts,
    print_summary,
    sync_check,
    table_counts,
)
from edge.news_demo_server import NewsFeedServer
from edge.simulator.server import SimulatorServer, SimulatorUrls
from provisioning.broker import Broker, free_port, mosquitto_binary
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
COMMANDS: list[tuple[str, str, str | None]] = [
    ("pi-demo-2", "resync", "BTC/USDT"),
    ("pi-demo-1", "pause_trading", None),
    ("pi-demo-1", "resume_trading", None),
]
"""What the hub asks midway: (agent, command kind, symbol)."""
COMMANDS_AT = 0.4
"""When the commands start, as a share of ``--duration``."""
HUB_START_S = 20.0
DRAIN_S = 30.0
NEWS_INTERVAL_S = 12.0
"""Seconds between the agents' news cycles (harvest, score, roll up); 15 min by default.
Cycles run 5 s after start and then every 12 s, so the default 45 s run's last one
ends before the agents stop rather than being cut short by it."""


def _cli(*args: str) -> list[str]:
    """A ``tickerml`` command line run by this interpreter (the venv's, as the demo's)."""
    return [sys.executable, "-m", "shared.cli", *args]


def _shown(cmd: list[str]) -> str:
    """A :func:`_cli` command line as the operator would type it."""
    return " ".join(["tickerml", *cmd[3:]])


def _spawn(cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    # Without NEWSAPI_KEY: with it the agents would ask newsapi.org, and the demo is offline.
    env = {k: v for k, v in os.environ.items() if k != "NEWSAPI_KEY"}
    with log_path.open("wb") as log:
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**env, "PYTHONUNBUFFERED": "1"},
        )


def _terminate(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM (each of ours stops cleanly on it), then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class HubStack:
    """The demo's broker and hub: TLS identities from ``tickerml provision broker``,
    mosquitto on a free loopback port, and ``tickerml hub run`` storing into
    ``<root>/hub/hub.db``."""

    def __init__(self, root: Path, agent_ids: list[str]) -> None:
        self.root = root.resolve()
        self.pki = self.root / "pki"
        self.dir = self.root / "hub"
        self.config = self.dir / "hub.yaml"
        self.db = self.dir / "hub.db"
        self.log = self.dir / "stderr.log"
        self.agent_ids = agent_ids
        self.port = free_port()
        self.broker: Broker | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Provision, start mosquitto, start the hub and wait until it is connected."""
        if mosquitto_binary() is None:
            raise click.ClickException(
                "mosquitto is not installed: `make venv` installs it from Debian's packages "
                "(apt-get install mosquitto)"
            )
        agents = [arg for agent_id in self.agent_ids for arg in ("--agent", agent_id)]
        # Started as root, mosquitto would become user `mosquitto` and could not read
        # a key in a folder only we can enter.
        provision = subprocess.run(
            _cli("provision", "broker", "--out", str(self.pki), *agents, "--port",
                 str(self.port), "--bind", "127.0.0.1", "--broker-user", getpass.getuser()),
            capture_output=True, text=True, timeout=120, check=False,
        )
        if provision.returncode != 0:
            raise click.ClickException(
                f"tickerml provision broker failed:\n{provision.stdout}{provision.stderr}"
            )
        broker_dir = self.pki / "broker"
        self.broker = Broker(broker_dir, (broker_dir / "mosquitto.conf").read_text(), self.port)
        try:
            self.broker.start()
        except RuntimeError as exc:
            raise click.ClickException(f"mosquitto did not start: {exc}") from None
        mqtt = yaml.safe_load((self.pki / "hub-mqtt.yaml").read_text())["mqtt"]
        self.dir.mkdir(parents=True)
        self.config.write_text(yaml.safe_dump({
            "data_dir": str(self.dir),
            "mqtt": mqtt,
            "ingest": {"status_interval_s": 10},
            "logging": {"level": "INFO", "file": "logs/hub.log"},
        }))
        self.process = _spawn(_cli("hub", "run", "-c", str(self.config)), self.log)
        deadline = time.monotonic() + HUB_START_S
        while "ingest: connected" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException(
                    f"the hub did not connect to the broker; see {self.log}:\n"
                    + self.log.read_text(errors="replace")[-2000:]
                )
            time.sleep(0.1)

    def agent_sync(self, agent_id: str) -> dict[str, Any]:
        """The ``sync:`` section of an agent: its provisioned ``mqtt:`` and quick timers."""
        mqtt = yaml.safe_load((self.pki / "agents" / agent_id / "mqtt.yaml").read_text())
        return {
            "enabled": True,
            "mqtt": mqtt["sync"]["mqtt"],
            "batch_interval_s": 0.5,
            "ack_timeout_s": 3,
            "status_interval_s": 5,
        }

    def command(self, agent_id: str, kind: str, symbol: str | None) -> str:
        """``tickerml hub command``: the agent's answer (or why none came)."""
        args = ["hub", "command", "-c", str(self.config), agent_id, kind, "--wait", "10"]
        if symbol:
            args += ["--symbol", symbol]
        done = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=60,
                              check=False)
        text = done.stdout.strip() or done.stderr.strip() or f"exit {done.returncode}"
        last = text.splitlines()[-1]
        # "<agent> <kind> <command id>: <outcome> (<detail>)": the answer is after ": ".
        return last.partition(": ")[2] or last

    def stop(self) -> None:
        if self.process is not None:
            _terminate(self.process)
        if self.broker is not None:
            self.broker.stop()


class CommandScript:
    """The hub's commands to the agents, one after another in a thread; ``lines``
    says what was asked and what came back."""

    def __init__(self, hub: HubStack) -> None:
        self.hub = hub
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._run, name="hub commands", daemon=True)

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        if self.started:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        for agent_id, kind, symbol in COMMANDS:
            if kind == "resume_trading":
                time.sleep(3)  # a pause long enough to show in the ledger's timeline
            asked = f"hub -> {agent_id}: {kind}" + (f" {symbol}" if symbol else "")
            self.lines.append(f"{asked} ...")
            try:
                answer = self.hub.command(agent_id, kind, symbol)
            except (OSError, subprocess.SubprocessError) as exc:
                answer = f"not sent: {exc}"
            self.lines[-1] = f"{asked}  =>  {answer}"


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
        if self._thread.ident is not None:
            self._thread.join(10)


def _news_config(news: NewsDemo) -> dict[str, Any]:
    """The agents' ``news:`` section: the demo's feeds, a quick cycle, an absent LLM."""
    return {
        "enabled": True,
        "interval_s": NEWS_INTERVAL_S,
        "feeds": [{"name": name, "url": url} for name, url in news.feeds.items()],
        "timeout_s": 5,
        "scorer": "auto",
        "ollama": {"host": news.ollama_host, "timeout_s": 5},
    }


def _agent_config(
    agent: dict[str, Any], urls: SimulatorUrls, data_dir: Path, news: NewsDemo
) -> dict[str, Any]:
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
        "news": _news_config(news),
        "logging": {"level": "INFO", "file": "logs/edge.log"},
    }


def _view(
    agents: list[dict[str, Any]], hub: HubStack, script: CommandScript, elapsed: float,
    duration: float,
) -> Group:
    collect = Table(title=f"TickerML demo — {elapsed:.0f}/{duration:.0f} s (paper trading only)")
    collect.add_column("agent")
    collect.add_column("exchange")
    for name in ("trades", "candles", "snapshots", "events"):
        collect.add_column(name, justify="right")
    collect.add_column("last snapshot bid / ask")
    sync = Table(title="sync to the hub (backlog and books: the agent's last status)")
    sync.add_column("agent")
    for name in ("link", "rows at hub", "rows stored", "backlog", "books synced"):
        sync.add_column(name, justify="right")
    news = Table(title=f"news: harvest, score, roll up every {NEWS_INTERVAL_S:.0f} s")
    news.add_column("agent")
    for name in ("articles", "scored", "built-in rows", "LLM rows", "hourly rows"):
        news.add_column(name, justify="right")
    for agent in agents:
        counts = table_counts(agent["db"])
        collect.add_row(
            agent["agent_id"],
            agent["exchange"],
            *(f"{counts.get(t, 0):,}" for t in TABLES),
            counts.get("last_book", "-"),
        )
        at_hub = hub_view(hub.db, agent["agent_id"])
        sync.add_row(
            agent["agent_id"], at_hub.get("state", "-"), f"{at_hub.get('rows', 0):,}",
            f"{counts.get('synced_rows', 0):,}", at_hub.get("backlog", "-"),
            at_hub.get("books", "-"),
        )
        stored = news_counts(agent["db"])
        news.add_row(agent["agent_id"], *(f"{stored.get(key, 0):,}" for key in
                                          ("articles", "scored", "builtin", "llm", "hourly")))
    return Group(collect, sync, news, *(Text(line) for line in script.lines))


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
    help="Where the configs, certificates, databases and logs go.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Simulator seed.")
def demo_command(duration: float, data_dir: Path, seed: int) -> None:
    """Run the whole loop offline: the market simulator, a TLS MQTT broker, the hub and
    two agents (Binance.US and Kraken wire formats) collecting exact books, trades and
    candles into SQLite, paper trading and syncing every row to the hub; midway the hub
    sends commands. Ends comparing each agent's tables with the hub's copy, replaying
    the captures (every Kraken checksum verified) and summarising the paper ledgers."""
    console = Console()
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    hub = HubStack(data_dir, [spec["agent_id"] for spec in AGENTS])
    sim = SimulatorThread(SimulatorConfig(host="127.0.0.1", port=0, seed=seed, symbols=SIM_SYMBOLS))
    script = CommandScript(hub)
    feeds = NewsFeedServer()
    # A free port nobody listens on: the honest stand-in for a Pi whose Ollama is down.
    news = NewsDemo(f"http://127.0.0.1:{free_port()}", feeds)
    agents: list[dict[str, Any]] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        hub.start()
        console.print(f"broker: mosquitto, TLS on 127.0.0.1:{hub.port} ({hub.pki})")
        console.print(f"hub: {_shown(_cli('hub', 'run', '-c', str(hub.config)))}")
        urls = sim.start()
        console.print(f"simulator: Binance.US {urls.binance_ws}  Kraken {urls.kraken_ws}")
        feeds.start()
        console.print("news feeds: " + "  ".join(f"{n} {u}" for n, u in news.feeds.items()))
        console.print(f"news scorer: auto, Ollama at {news.ollama_host} (nothing listens "
                      "there: the built-in scorer stands in)")
        for spec in AGENTS:
            agent = _start_agent(spec, urls, data_dir, hub, duration, news)
            agents.append(agent)
            procs.append(agent["process"])
            console.print(f"agent {spec['agent_id']}: {_shown(agent['cmd'])}")
        start = time.monotonic()
        with Live(_view(agents, hub, script, 0, duration), console=console,
                  refresh_per_second=1) as live:
            while any(p.poll() is None for p in procs):
                time.sleep(1)
                elapsed = time.monotonic() - start
                if not script.started and elapsed >= duration * COMMANDS_AT:
                    script.start()
                live.update(_view(agents, hub, script, elapsed, duration))
            script.join(30)
            live.update(_view(agents, hub, script, time.monotonic() - start, duration))
        if not console.is_terminal:
            console.line()  # Live leaves the cursor at the end of its last line there
        for agent in agents:
            if agent["process"].returncode != 0:
                raise click.ClickException(
                    f"agent {agent['agent_id']} exited with {agent['process'].returncode}; see "
                    f"{agent['config'].parent / 'stderr.log'}"
                )
        _drain(console, agents)
        checks = sync_check(agents, hub.db)
    finally:
        for proc in procs:
            _terminate(proc)
        sim.stop()
        feeds.stop()
        hub.stop()
    (data_dir / "sync-check.json").write_text(json.dumps(checks, indent=2))
    print_summary(console, agents, script.lines, checks, news)
    if not all(c["match"] for c in checks):
        raise click.ClickException(
            f"the hub's copy differs from the agents' tables; see {data_dir / 'sync-check.json'}"
        )


def _start_agent(
    spec: dict[str, Any], urls: SimulatorUrls, data_dir: Path, hub: HubStack, duration: float,
    news: NewsDemo,
) -> dict[str, Any]:
    """Write an agent's config and start ``tickerml edge collect`` on it."""
    agent_dir = data_dir / spec["agent_id"]
    agent_dir.mkdir()
    config_path = agent_dir / "edge.yaml"
    config = _agent_config(spec, urls, agent_dir, news)
    config["sync"] = hub.agent_sync(spec["agent_id"])
    config_path.write_text(yaml.safe_dump(config))
    capture = agent_dir / "capture.jsonl"
    cmd = _cli("edge", "collect", "-c", str(config_path), "--duration", str(duration),
               "--capture", str(capture))
    return {
        **spec, "db": agent_dir / "edge.db", "capture": capture, "config": config_path,
        "cmd": cmd, "process": _spawn(cmd, agent_dir / "stderr.log"),
    }


def _drain(console: Console, agents: list[dict[str, Any]]) -> None:
    """Send the rows each agent stored after its last batch (closing candles, final
    ledger states, its own stop events) with ``tickerml edge sync --until-drained``."""
    console.print("draining each agent's last rows to the hub (tickerml edge sync --until-drained)")
    procs = [
        _spawn(_cli("edge", "sync", "-c", str(a["config"]), "--until-drained", "--duration",
                    str(DRAIN_S)), a["config"].parent / "sync.log")
        for a in agents
    ]
    for agent, proc in zip(agents, procs, strict=True):
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(DRAIN_S + 15)
        _terminate(proc)
        if proc.returncode != 0:
            console.print(
                f"[yellow]{agent['agent_id']} was not drained; see "
                f"{agent['config'].parent / 'sync.log'}[/yellow]"
            )


