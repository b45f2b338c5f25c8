"""Mean reversion: buy a close far below its rolling mean (a lower Bollinger band break).

``z = (close - mean) / std`` over the last ``period`` closes, the current one
included (population std). ``z <= -entry_z`` while flat: a MARKET buy with an OCO
bracket, stop-loss ``close - stop_std * std`` and take-profit
``mean + take_profit_z * std``. While long, a close with ``z >= exit_z`` exits at
market (cancelling the bracket legs) in case the take-profit did not fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import Field

from shared.marketdata import Candle
from shared.trading.strategies.indicators import RollingStats
from shared.trading.strategy import Intents, Strategy, StrategyContext, StrategyParams
from shared.trading.types import Bracket


class MeanReversionParams(StrategyParams):
    period: int = Field(20, ge=2, description="Rolling window of candle closes.")
    entry_z: float = Field(2.0, gt=0, description="Buy when the close's z-score is <= -entry_z.")
    exit_z: float = Field(0.0, description="While long, exit at market when z >= exit_z.")
    stop_std: float = Field(
        1.5, gt=0, description="Stop-loss this many standard deviations below the entry close."
    )
    take_profit_z: float = Field(
        0.0, description="Take-profit at mean + take_profit_z * std (0: the mean)."
    )
    min_std_bps: float = Field(
        1.0, ge=0, description="No signal while std is below this (bps of the mean): flat market."
    )
    size_fraction: float = Field(
        0.5, gt=0, le=1, description="Fraction of the size the risk manager allows."
    )


class MeanReversionStrategy(Strategy[MeanReversionParams]):
    """Bollinger-style mean reversion on candle closes; long only."""

    kind = "mean_reversion"
    Params = MeanReversionParams

    def __init__(
        self,
        context: StrategyContext,
        params: MeanReversionParams | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(context, params)
        self._stats = {s: RollingStats(self.params.period) for s in self.symbols}

    def on_candle(self, candle: Candle) -> Intents:
        stats = self._stats.get(candle.symbol)
        if stats is None or candle.exchange != self.exchange:
            return None
        close = float(candle.close)
        stats.update(close)
        if not stats.full:
            return None
        p = self.params
        mean, std = stats.mean_std()
        if std <= 0 or std < mean * p.min_std_bps / 10_000:
            return None
        z = (close - mean) / std
        symbol = candle.symbol
        held = self.ctx.position(symbol)
        if held > 0:
            return (
                self.exit_position(symbol, f"mean_reversion: z={z:.2f}") if z >= p.exit_z else None
            )
        if z > -p.entry_z or self.ctx.open_orders(symbol):
            return None
        stop = self.round_price(symbol, close - p.stop_std * std)
        take = self.round_price(symbol, mean + p.take_profit_z * std, up=True)
        return [
            self.market(
                symbol,
                "buy",
                size_fraction=Decimal(str(p.size_fraction)),
                bracket=Bracket(stop_loss=stop if stop > 0 else None, take_profit=take),
                tag=f"mean_reversion: z={z:.2f}",
            )
        ]
