"""What ``tickerml edge run`` would refuse, found before it starts.

The config model (shared/config) checks what a file can say about itself; it cannot
know the feeds registry (it lives in edge) nor look at the disk. :func:`check_runnable`
does both, and ``edge check-config`` and :class:`~edge.agent.service.AgentService`
both call it, so the check says exactly what the start would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.feeds import load_feeds
from shared.config.edge import EdgeConfig
from shared.config.mqtt import MqttConfig
from shared.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config, at a key path."""

    path: str
    """The key it is about, e.g. ``exchanges[1].name``."""
    message: str
    severity: Literal["error", "warning"] = "error"
    """An error stops the agent from starting; a warning is what it will do instead."""

    def line(self, source: str) -> str:
        """``error: edge.yaml: exchanges[1].name: ...``."""
        return f"{self.severity}: {source}: {self.path}: {self.message}"


def check_runnable(config: EdgeConfig) -> list[Problem]:
    """Every problem that would stop (errors) or change (warnings) ``edge run``."""
    return [*_exchanges(config), *_sync_files(config), *_trading_files(config)]


def errors_of(problems: list[Problem], source: str) -> ConfigError | None:
    """The errors among ``problems`` as one :class:`ConfigError` naming ``source``."""
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        return None
    if len(errors) == 1:
        return ConfigError(f"{source}: {errors[0].path}: {errors[0].message}")
    lines = [f"{source}: cannot run ({len(errors)} problem(s))"]
    lines += [f"  {source}: {p.path}: {p.message}" for p in errors]
    return ConfigError("\n".join(lines))


def _exchanges(config: EdgeConfig) -> list[Problem]:
    if not config.exchanges:
        return [Problem("exchanges", "nothing to collect (list at least one exchange)")]
    feeds = load_feeds()
    problems = []
    for i, exchange in enumerate(config.exchanges):
        cls = feeds.get(exchange.name)
        if cls is None:
            problems.append(Problem(
                f"exchanges[{i}].name",
                f"unknown exchange {exchange.name!r}; known: {', '.join(sorted(feeds))}",
            ))
            continue
        deepest = cls.max_exact_depth
        if deepest is not None and exchange.depth > deepest:
            problems.append(Problem(
                f"exchanges[{i}].depth",
                f"{exchange.depth} levels is deeper than {exchange.name} can keep exact "
                f"(at most {deepest}); its books keep {deepest} (set depth: {deepest} "
                "to silence this)",
                "warning",
            ))
    return problems


def _sync_files(config: EdgeConfig) -> list[Problem]:
    if not config.sync.enabled:
        return []
    return _mqtt(config.sync.mqtt, "sync.mqtt")


def _mqtt(mqtt: MqttConfig, where: str) -> list[Problem]:
    """The TLS files must be readable files and a password's variable must be set:
    the broker connection (shared/mqtt.py) refuses to start otherwise."""
    problems = []
    if mqtt.tls is not None:
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(mqtt.tls, key)
            if path is not None:
                problem = _unreadable_file(Path(path))
                if problem:
                    problems.append(Problem(f"{where}.tls.{key}", f"{path}: {problem}"))
    env = mqtt.password_env
    if mqtt.username is not None and env is not None and env not in os.environ:
        problems.append(Problem(f"{where}.password_env", f"environment variable {env} is not set"))
    return problems


def _trading_files(config: EdgeConfig) -> list[Problem]:
    trading = config.trading
    if not (trading.enabled and trading.strategies_dir):
        return []
    folder = Path(trading.strategies_dir)
    if not folder.is_absolute():
        folder = Path(config.data_dir) / folder
    if folder.is_dir():
        return []
    what = "not a folder" if folder.exists() else "no such folder"
    return [Problem("trading.strategies_dir", f"{folder}: {what}")]


def _unreadable_file(path: Path) -> str:
    """Why ``path`` cannot be read as a file; "" when it can."""
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a file"
    if not os.access(path, os.R_OK):
        return "not readable"
    return ""
