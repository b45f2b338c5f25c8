"""Paper-trading config (edge, and backtests anywhere): broker, risk, strategies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator, model_validator

from shared.config.base import ConfigModel, KeyProblems


class BrokerConfig(ConfigModel):
    """How the paper broker models the exchange."""

    latency_ms: float = Field(
        50.0,
        ge=0,
        description="Decision-to-exchange latency: orders act on the book this much later.",
    )
    candle_slippage_bps: float = Field(
        5.0, ge=0, description="Candle-only backtests: slippage added to the next bar's open (bps)."
    )


class RiskConfig(ConfigModel):
    """Limits the risk manager enforces in front of the broker, per strategy portfolio."""

    risk_per_trade: float = Field(
        0.01, gt=0, le=0.25, description="Fraction of equity at risk to the stop on each entry."
    )
    max_position_fraction: float = Field(
        0.25,
        gt=0,
        le=0.25,
        description="Largest position as a fraction of the portfolio (cap 25%).",
    )
    max_exposure_fraction: float = Field(
        1.0, gt=0, le=1.0, description="Total exposure of all positions as a fraction of equity."
    )
    max_open_positions: int = Field(5, ge=1, description="Open positions allowed at once.")
    daily_loss_limit: float = Field(
        0.03, gt=0, le=1, description="Stop new entries for the UTC day after losing this fraction."
    )
    max_drawdown: float = Field(
        0.15, gt=0, le=1, description="Drawdown from peak equity that flattens and pauses trading."
    )
    stale_book_s: float = Field(
        5.0, gt=0, description="No orders on a book older than this (seconds) or while it resyncs."
    )
    kill_switch: bool = Field(
        False, description="True: refuse every new order (cancels stay allowed)."
    )


class StrategyConfig(ConfigModel):
    """One strategy instance with its own isolated paper portfolio."""

    name: str = Field(description="Instance name (unique): it names the portfolio and its rows.")
    kind: str = Field(
        description="Strategy plugin: model, imbalance, mean_reversion, trend, market_maker, "
        "fallback, or the name of a dropped-in strategy file."
    )
    exchange: str = Field(description="Exchange whose books it trades.")
    symbols: list[str] = Field(
        min_length=1, description="Unified symbols it trades (one quote currency)."
    )
    starting_balance: Decimal = Field(
        Decimal(10_000),
        gt=0,
        description="Paper cash it starts with, in the symbols' quote currency.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="The plugin's own parameters (see docs/strategies.md)."
    )

    @field_validator("symbols")
    @classmethod
    def _one_quote(cls, symbols: list[str]) -> list[str]:
        quotes = sorted({symbol.partition("/")[2] for symbol in symbols})
        if len(quotes) > 1:
            raise ValueError(
                f"one quote currency per portfolio, got {', '.join(quotes)} in {symbols}"
            )
        return symbols


class ArbitrageConfig(ConfigModel):
    """Cross-exchange arbitrage detection over the agent's books (records only, never trades)."""

    enabled: bool = Field(
        True, description="Record opportunities when two exchanges carry the same symbol."
    )
    taker_fee: float = Field(
        0.001, ge=0, le=0.05, description="Taker fee assumed on both legs (fraction)."
    )
    latency_ms: float = Field(
        50.0, ge=0, description="Latency to each exchange, for the adverse-move haircut (ms)."
    )
    min_edge_bps: float = Field(
        0.0, ge=0, description="Only record opportunities whose net edge exceeds this (bps)."
    )


class TradingConfig(ConfigModel):
    """Paper trading on the agent: strategies side by side, one risk manager, one broker."""

    enabled: bool = Field(False, description="Trade paper money while collecting.")
    strategies_dir: str | None = Field(
        None, description="Folder of extra strategy .py files to discover (relative to data_dir)."
    )
    broker: BrokerConfig = Field(default_factory=BrokerConfig, description="Paper broker model.")
    risk: RiskConfig = Field(default_factory=RiskConfig, description="Risk limits.")
    arbitrage: ArbitrageConfig = Field(
        default_factory=ArbitrageConfig, description="Cross-exchange arbitrage detector."
    )
    strategies: list[StrategyConfig] = Field(
        default_factory=list, description="Strategy instances, each with its own portfolio."
    )

    @model_validator(mode="after")
    def _something_to_trade(self) -> TradingConfig:
        if self.enabled and not self.strategies:
            raise KeyProblems([(("strategies",), "trading is enabled but no strategy is listed")])
        return self
