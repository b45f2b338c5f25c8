"""What the simulated market trades and how it behaves: instruments and model parameters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import IntEnum


class Regime(IntEnum):
    """The market's state; it decides drift, volatility, spread and order flow."""

    TRENDING = 0
    MEAN_REVERTING = 1
    VOLATILE = 2


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One symbol's grid: prices are integers of ``10**-price_decimals`` (ticks),
    sizes integers of ``10**-size_decimals`` (lots).

    Quotes rest on multiples of ``grid_ticks`` so that a realistic volatility moves
    the touch by a handful of levels a second, not by hundreds of ticks.
    """

    symbol: str
    price_decimals: int
    size_decimals: int
    start_price: str
    grid_ticks: int = 1
    base_size: str = "1"
    """Typical size of one limit order, in units of the base asset."""

    @property
    def start_ticks(self) -> int:
        return int(Decimal(self.start_price).scaleb(self.price_decimals))

    @property
    def base_lots(self) -> float:
        return float(Decimal(self.base_size).scaleb(self.size_decimals))


INSTRUMENTS: dict[str, InstrumentSpec] = {
    spec.symbol: spec
    for spec in (
        InstrumentSpec("BTC/USDT", 2, 5, "65000.00", 50, "0.05"),
        InstrumentSpec("BTC/USD", 1, 8, "65000.0", 5, "0.05"),
        InstrumentSpec("ETH/USDT", 2, 4, "3200.00", 5, "0.8"),
        InstrumentSpec("ETH/USD", 2, 8, "3200.00", 5, "0.8"),
        InstrumentSpec("SOL/USDT", 2, 3, "150.00", 1, "12"),
        InstrumentSpec("XRP/USDT", 4, 1, "0.5500", 1, "3000"),
        InstrumentSpec("ADA/USDT", 4, 1, "0.4500", 1, "4000"),
        InstrumentSpec("DOGE/USDT", 5, 0, "0.15000", 1, "10000"),
    )
}
"""Known symbols: precisions like the venues' and round starting prices."""


def instrument_for(symbol: str) -> InstrumentSpec:
    """The spec of ``symbol``; an unknown pair trades around 100.00 at 0.01 / 0.0001."""
    spec = INSTRUMENTS.get(symbol)
    if spec is None:
        base = symbol.partition("/")[0]
        usd_twin = INSTRUMENTS.get(f"{base}/USDT")
        if usd_twin is not None:
            return replace(usd_twin, symbol=symbol)
        return InstrumentSpec(symbol, 2, 4, "100.00", 1, "5")
    return spec


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """How the fair value and the order flow behave in one regime."""

    vol_bps: float
    """Diffusion of the fair value, basis points per square-root second."""
    drift_bps: float = 0.0
    """Absolute drift, basis points per second (its sign is drawn on entry)."""
    reversion: float = 0.0
    """Ornstein-Uhlenbeck speed (1/s) towards the level where the regime began."""
    jump_rate: float = 0.0
    """Fair-value jumps per second."""
    jump_bps: float = 0.0
    """Mean absolute jump size, basis points (exponentially distributed)."""
    half_spread: float = 0.25
    """Distance, in grid levels, from the fair value to the first level quoted."""
    cancel_rate: float = 18.0
    """Cancellations per second."""
    market_rate: float = 2.5
    """Market orders per second."""
    market_bias: float = 0.0
    """Extra probability that a market order trades in the trend's direction."""
    dwell_s: float = 60.0
    """Mean time spent in the regime, seconds."""


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Parameters shared by every symbol; the defaults look like a liquid crypto pair."""

    trending: RegimeParams = RegimeParams(
        vol_bps=0.8, drift_bps=0.3, market_bias=0.3, market_rate=3.0, dwell_s=60.0
    )
    mean_reverting: RegimeParams = RegimeParams(vol_bps=0.8, reversion=0.05, dwell_s=90.0)
    volatile: RegimeParams = RegimeParams(
        vol_bps=2.5,
        jump_rate=0.1,
        jump_bps=8.0,
        half_spread=1.5,
        cancel_rate=36.0,
        market_rate=4.0,
        dwell_s=30.0,
    )
    transitions: tuple[tuple[float, float, float], ...] = (
        (0.0, 0.7, 0.3),
        (0.6, 0.0, 0.4),
        (0.4, 0.6, 0.0),
    )
    """Row ``i``: probabilities of the next regime when regime ``i`` ends."""
    limit_rate: float = 22.0
    """Limit order arrivals per second (both sides together)."""
    depth_decay: float = 0.35
    """Geometric parameter of a new order's distance from the touch (more: thinner book)."""
    deep_share: float = 0.15
    """Share of limit orders placed uniformly over the whole window (the deep book)."""
    window: int = 60
    """Levels beyond this many grid steps from the fair value are withdrawn."""
    min_levels: int = 12
    """A side thinner than this is refilled behind its last level."""
    ladder_fill: float = 0.85
    """Chance that a level between a lagging touch and the fair value gets quoted."""
    cancel_all: float = 0.25
    """Chance that a cancellation empties its level (else it takes 20-80 % of it)."""
    vol_of_vol: float = 0.4
    """Stationary standard deviation of the log volatility multiplier."""
    vol_reversion: float = 0.02
    """Speed (1/s) of the log volatility multiplier back to zero."""
    market_tail: float = 1.6
    """Pareto tail index of market order sizes (lower: heavier tail)."""

    def regime(self, regime: Regime) -> RegimeParams:
        return (self.trending, self.mean_reverting, self.volatile)[regime]
