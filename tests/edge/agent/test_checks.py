"""What `edge run` would refuse, said by `tickerml edge check-config` (a real process)
and by the agent's own start, through the one check both call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.agent import AgentService
from edge.agent.checks import check_runnable
from edge.feeds import load_feeds
from shared.config.base import load_config
from shared.config.edge import EdgeConfig
from shared.errors import ConfigError

TICKERML = [str(Path(sys.executable).parent / "tickerml")]
KNOWN = "binance, binanceus, coinbase, kraken, kucoin"
UNSET = "TICKERML_TEST_UNSET_PASSWORD"


def write(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != UNSET}
    return subprocess.run(
        [*TICKERML, "edge", "check-config", "-c", str(path)],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )


def broken(folder: Path) -> dict[str, Any]:
    """A config that parses but cannot run, for five reasons, plus a warning."""
    (folder / "ca.pem").write_text("not checked here, only that it is a file")
    return {
        "agent_id": "checks",
        "data_dir": str(folder),
        "exchanges": [
            {"name": "kucoin", "symbols": ["BTC/USDT"], "depth": 1000},
            {"name": "binancee", "symbols": ["BTC/USDT"]},
        ],
        "sync": {"enabled": True, "mqtt": {
            "tls": {"ca_file": str(folder / "ca.pem"), "cert_file": str(folder / "agent.pem"),
                    "key_file": str(folder / "agent.key")},
            "username": "checks", "password_env": UNSET,
        }},
        "trading": {"enabled": True, "strategies_dir": "strategies", "strategies": [
            {"name": "mm", "kind": "market_maker", "exchange": "kucoin", "symbols": ["BTC/USDT"]},
        ]},
    }


def test_check_config_prints_every_problem_run_would_refuse_and_exits_2(tmp_path: Path) -> None:
    """Tried: a config with an unknown exchange, a missing TLS certificate and key, an
    unset password variable and a missing strategies folder, and a KuCoin depth of
    1000. Before the fix check-config said "ok" and exited 0. Kept: exit 2 and one
    `error: FILE: key.path: message` line per problem, in config order, the unknown
    exchange with the known list; the depth a warning naming KuCoin and its 100."""
    path = write(tmp_path, broken(tmp_path))

    result = check_config(path)

    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"warning: {path}: exchanges[0].depth: 1000 levels is deeper than kucoin can keep "
        "exact (at most 100); its books keep 100 (set depth: 100 to silence this)",
        f"error: {path}: exchanges[1].name: unknown exchange 'binancee'; known: {KNOWN}",
        f"error: {path}: sync.mqtt.tls.cert_file: {tmp_path / 'agent.pem'}: no such file",
        f"error: {path}: sync.mqtt.tls.key_file: {tmp_path / 'agent.key'}: no such file",
        f"error: {path}: sync.mqtt.password_env: environment variable {UNSET} is not set",
        f"error: {path}: trading.strategies_dir: {tmp_path / 'strategies'}: no such folder",
    ]


def test_the_agent_refuses_to_start_with_every_problem_check_config_prints(
    tmp_path: Path,
) -> None:
    """Tried: the same config handed to AgentService, as `edge run` does. Before the
    fix it stopped at the unknown exchange alone, and only once the store was open.
    Kept: a ConfigError naming the file and each of the five problems; no database."""
    data = broken(tmp_path)
    path = write(tmp_path, data)
    config = load_config(EdgeConfig, path)
    os.environ.pop(UNSET, None)

    with pytest.raises(ConfigError) as caught:
        AgentService(config, source=str(path))

    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: cannot run (5 problem(s))"
    assert [line.strip().split(": ")[1] for line in lines[1:]] == [
        "exchanges[1].name", "sync.mqtt.tls.cert_file", "sync.mqtt.tls.key_file",
        "sync.mqtt.password_env", "trading.strategies_dir",
    ]
    assert [p.path for p in check_runnable(config) if p.severity == "error"] == [
        line.strip().split(": ")[1] for line in lines[1:]
    ]
    assert not (tmp_path / "edge.db").exists()


def test_an_empty_exchange_list_is_refused_by_check_config_and_by_the_agent(
    tmp_path: Path,
) -> None:
    """Tried: `exchanges: []`. Before the fix check-config said "ok". Kept: exit 2 with
    `error: FILE: exchanges: nothing to collect ...`, and the agent's start raising the
    same words."""
    path = write(tmp_path, {"agent_id": "empty", "data_dir": str(tmp_path), "exchanges": []})

    result = check_config(path)
    with pytest.raises(ConfigError) as caught:
        AgentService(load_config(EdgeConfig, path), source=str(path))

    assert result.returncode == 2
    message = f"{path}: exchanges: nothing to collect (list at least one exchange)"
    assert result.stderr == f"error: {message}\n"
    assert str(caught.value) == message


def test_a_runnable_config_is_ok_with_its_warnings_on_stderr(tmp_path: Path) -> None:
    """Tried: KuCoin at depth 1000 and Kraken at 5000, TLS files that exist, sync on.
    Kept: exit 0, "ok" on stdout, one warning per too-deep book naming the exchange
    and the depth it keeps."""
    for name in ("ca.pem", "agent.pem", "agent.key"):
        (tmp_path / name).write_text("x")
    path = write(tmp_path, {
        "agent_id": "fine",
        "data_dir": str(tmp_path),
        "exchanges": [
            {"name": "kucoin", "symbols": ["BTC/USDT"], "depth": 1000},
            {"name": "kraken", "symbols": ["BTC/USD"], "depth": 5000},
            {"name": "binance", "symbols": ["BTC/USDT"], "depth": 5000},
        ],
        "sync": {"enabled": True, "mqtt": {"tls": {
            "ca_file": str(tmp_path / "ca.pem"), "cert_file": str(tmp_path / "agent.pem"),
            "key_file": str(tmp_path / "agent.key"),
        }}},
    })

    result = check_config(path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: ok")
    warnings = result.stderr.splitlines()
    assert [w.split(": ")[2] for w in warnings] == ["exchanges[0].depth", "exchanges[1].depth"]
    assert "kucoin can keep exact (at most 100)" in warnings[0]
    assert "kraken can keep exact (at most 1000)" in warnings[1]


def test_every_registered_feed_declares_how_deep_it_keeps_books_exact() -> None:
    """Kept: the snapshot-and-diff feeds at their deepest snapshot (Binance 5000,
    KuCoin 100), Kraken at its deepest subscription (1000), Coinbase unbounded (its
    snapshot is the whole book)."""
    depths = {name: cls.max_exact_depth for name, cls in load_feeds().items()}

    assert depths == {"binance": 5000, "binanceus": 5000, "coinbase": None, "kraken": 1000,
                      "kucoin": 100}
