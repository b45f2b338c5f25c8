"""``tickerml demo``'s stack: the whole loop as far as it is built, on one machine, offline.

Today that is: the market simulator on loopback speaking Binance.US's and
Kraken's wire protocols; a TLS mosquitto broker with certificates and an ACL made
by ``tickerml provision broker``; the hub (``tickerml hub run``) storing what the
agents send; and two agents — separate ``tickerml edge run`` processes, each
with its own config, certificate and SQLite file — keeping exact books, trades,
candles and snapshots, paper trading several strategies side by side against
those books, and streaming every row to the hub. Both agents also harvest crypto
news every few seconds from two RSS feeds that a loopback server in this process
publishes and grows as the demo runs (:mod:`demo.news_server`, with ETags, so a
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
the demo watches the hub's store through the hub's own read API
(:class:`hub.store.HubStore`, opened read-only) and reports with :mod:`demo.report`.
"""

from __future__ import annotations

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
from rich.text import Text

from demo.news_server import NewsFeedServer
from demo.report import (
    NewsDemo,
    live_tables,
    live_view,
    print_summary,
    summary_json,
    sync_check,
)
from edge.simulator.server import SimulatorUrls
from edge.simulator.thread import SimulatorThread
from hub.store.store import HubStore
from provisioning.broker import Broker, free_port, mosquitto_binary
from shared.cli_tables import print_tables
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
    ``<root>/hub/hub.db``, which :attr:`store` reads (read-only) once the hub is up."""

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
        self.store: HubStore | None = None

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
        # `mqtt` is the ingest's identity, `command_mqtt` the operator's (`hub command`).
        sections = yaml.safe_load((self.pki / "hub-mqtt.yaml").read_text())
        self.dir.mkdir(parents=True)
        self.config.write_text(yaml.safe_dump({
            "data_dir": str(self.dir),
            "mqtt": sections["mqtt"],
            "command_mqtt": sections["command_mqtt"],
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
        # Connected, the hub has created and migrated its store.
        self.store = HubStore(self.db, readonly=True)

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
        if self.store is not None:
            self.store.close()


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


def run_demo(
    console: Console, duration: float, data_dir: Path, seed: int, *, as_json: bool = False
) -> None:
    """Start the simulator, the broker, the hub and the agents, run them for ``duration``
    seconds with the live view on ``console``, drain the agents, stop everything, print
    the summary (on stdout as JSON with ``as_json``); a ClickException when a part fails
    or the hub's copy differs."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    hub = HubStack(data_dir, [spec["agent_id"] for spec in AGENTS])
    sim = SimulatorThread(
        SimulatorConfig(host="127.0.0.1", port=0, seed=seed, symbols=SIM_SYMBOLS)
    )
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

        def view(elapsed: float) -> Group:
            return live_view(agents, hub.store, script.lines, elapsed, duration, NEWS_INTERVAL_S)

        # Live crops its view to the width: where the output is not a terminal it shows
        # nothing, and the last view is printed whole below instead.
        with Live(view(0), console=console, refresh_per_second=1,
                  transient=not console.is_terminal) as live:
            while any(p.poll() is None for p in procs):
                time.sleep(1)
                elapsed = time.monotonic() - start
                if not script.started and elapsed >= duration * COMMANDS_AT:
                    script.start()
                live.update(view(elapsed))
            script.join(30)
            live.update(view(time.monotonic() - start))
        if not console.is_terminal:
            tables = live_tables(agents, hub.store, time.monotonic() - start, duration,
                                 NEWS_INTERVAL_S)
            print_tables(*tables, console=console)
            for line in script.lines:
                console.print(Text(line), soft_wrap=True)
        for agent in agents:
            if agent["process"].returncode != 0:
                raise click.ClickException(
                    f"agent {agent['agent_id']} exited with {agent['process'].returncode}; see "
                    f"{agent['config'].parent / 'stderr.log'}"
                )
        _drain(console, agents)
        assert hub.store is not None  # set by hub.start()
        checks = sync_check(agents, hub.store)
    finally:
        for proc in procs:
            _terminate(proc)
        sim.stop()
        feeds.stop()
        hub.stop()
    (data_dir / "sync-check.json").write_text(json.dumps(checks, indent=2))
    if as_json:
        click.echo(json.dumps(summary_json(agents, script.lines, checks, news), indent=2))
    else:
        print_summary(console, agents, script.lines, checks, news)
    if not all(c["match"] for c in checks):
        raise click.ClickException(
            f"the hub's copy differs from the agents' tables; see {data_dir / 'sync-check.json'}"
        )


def _start_agent(
    spec: dict[str, Any], urls: SimulatorUrls, data_dir: Path, hub: HubStack, duration: float,
    news: NewsDemo,
) -> dict[str, Any]:
    """Write an agent's config and start ``tickerml edge run`` on it."""
    agent_dir = data_dir / spec["agent_id"]
    agent_dir.mkdir()
    config_path = agent_dir / "edge.yaml"
    config = _agent_config(spec, urls, agent_dir, news)
    config["sync"] = hub.agent_sync(spec["agent_id"])
    config_path.write_text(yaml.safe_dump(config))
    capture = agent_dir / "capture.jsonl"
    cmd = _cli("edge", "run", "-c", str(config_path), "--duration", str(duration),
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


