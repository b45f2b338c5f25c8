"""The shipped strategies (each documented in docs/strategies.md).

``BUILTIN`` is what :func:`shared.trading.strategy.builtin_registry` registers;
a strategy file dropped into the configured strategies folder joins them through
:func:`shared.trading.strategy.discover_strategies`.
"""

from __future__ import annotations

from shared.trading.strategies.fallback import FallbackStrategy
from shared.trading.strategies.imbalance import ImbalanceStrategy
from shared.trading.strategies.market_maker import MarketMakerStrategy
from shared.trading.strategies.mean_reversion import MeanReversionStrategy
from shared.trading.strategies.model import ModelOutputs, ModelStrategy
from shared.trading.strategies.trend import TrendStrategy

BUILTIN = (
    ModelStrategy,
    ImbalanceStrategy,
    MeanReversionStrategy,
    TrendStrategy,
    MarketMakerStrategy,
    FallbackStrategy,
)

__all__ = [
    "BUILTIN",
    "FallbackStrategy",
    "ImbalanceStrategy",
    "MarketMakerStrategy",
    "MeanReversionStrategy",
    "ModelOutputs",
    "ModelStrategy",
    "TrendStrategy",
]
