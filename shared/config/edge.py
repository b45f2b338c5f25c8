"""The edge agent's config file (``edge.yaml``)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from shared.config.base import ConfigModel, KeyProblems
from shared.config.feeds import BackoffConfig, ExchangeConfig
from shared.config.history import HistoryConfig
from shared.config.logging import LoggingConfig
from shared.config.news import NewsConfig
from shared.config.simulator import SimulatorConfig
from shared.config.store import StoreConfig
from shared.config.sync import SyncConfig
from shared.config.trading import TradingConfig


class EdgeConfig(ConfigModel):
    """Everything one Raspberry Pi agent needs to know."""

    agent_id: str = Field(
        description="This agent's id: letters, digits, '-' and '_' (it names its MQTT topics)."
    )
    data_dir: str = Field(
        "var/edge", description="Folder for the database, logs and caches."
    )
    exchanges: list[ExchangeConfig] = Field(
        default_factory=list, description="Exchanges and symbols to collect."
    )
    backoff: BackoffConfig = Field(
        default_factory=BackoffConfig, description="Reconnect backoff for every feed."
    )
    store: StoreConfig = Field(default_factory=StoreConfig, description="SQLite store.")
    simulator: SimulatorConfig = Field(
        default_factory=SimulatorConfig, description="Loopback market simulator."
    )
    history: HistoryConfig = Field(
        default_factory=HistoryConfig, description="Market metadata and backfill."
    )
    trading: TradingConfig = Field(
        default_factory=TradingConfig, description="Paper trading while collecting."
    )
    news: NewsConfig = Field(
        default_factory=NewsConfig, description="News harvest and sentiment scoring."
    )
    sync: SyncConfig = Field(default_factory=SyncConfig, description="Sync to the hub over MQTT.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")

    @field_validator("agent_id")
    @classmethod
    def _topic_safe(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
            raise ValueError("must be 1-64 letters, digits, '-' or '_' (it is an MQTT topic level)")
        return value

    @model_validator(mode="after")
    def _strategies_trade_collected_markets(self) -> EdgeConfig:
        # A strategy on a market the agent does not collect never sees a book and so
        # never trades: silence, not an error, unless it is refused here.
        if not self.trading.enabled:
            return self  # strategies kept for backtests may name any market
        collected: dict[str, list[str]] = {}
        for exchange in self.exchanges:
            collected.setdefault(exchange.name, []).extend(exchange.symbols)
        markets = "; ".join(f"{name} {', '.join(syms)}" for name, syms in collected.items())
        markets = f"collected: {markets or 'nothing (exchanges is empty)'}"
        problems: list[tuple[tuple[int | str, ...], str]] = []
        for i, strategy in enumerate(self.trading.strategies):
            where: tuple[int | str, ...] = ("trading", "strategies", i)
            symbols = collected.get(strategy.exchange)
            if symbols is None:
                problems.append((
                    (*where, "exchange"),
                    f"{strategy.exchange!r} is not collected by this agent, so strategy "
                    f"{strategy.name!r} would never trade ({markets})",
                ))
                continue
            for j, symbol in enumerate(strategy.symbols):
                if symbol not in symbols:
                    problems.append((
                        (*where, "symbols", j),
                        f"{symbol} is not collected from {strategy.exchange}, so strategy "
                        f"{strategy.name!r} would never trade it ({markets})",
                    ))
        if problems:
            raise KeyProblems(problems)
        return self
