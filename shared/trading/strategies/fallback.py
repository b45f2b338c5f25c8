"""The fallback: what an agent trades while it has no model.

Deliberately conservative: it only buys pullbacks inside an established uptrend,
small, with a tight stop. On each closed candle:

* trend filter: ``close > EMA(trend_period)`` and that EMA rose since the last
  candle (no signal before ``trend_period`` candles);
* pullback: ``close <= EMA(pullback_period) * (1 + pullback_tolerance_bps / 10^4)``,
  and with ``require_bounce`` the candle closed up (``close > open``);
* both while flat: a MARKET buy at ``size_fraction`` (default 0.25) with a bracket,
  stop-loss ``stop_pct`` below and take-profit ``take_profit_pct`` above the close;
* while long, a close below the trend EMA exits at market.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from shared.marketdata import Candle
from shared.trading.strategies.indicators import Ema
from shared.trading.strategy import Intents, Strategy, StrategyContext, StrategyParams
from shared.trading.types import Bracket


class FallbackParams(StrategyParams):
    trend_period: int = Field(200, ge=2, description="Trend-filter EMA period (candles).")
    pullback_period: int = Field(
        20, ge=1, description="Pullback EMA period (candles); < trend_period."
    )
    pullback_tolerance_bps: float = Field(
        0.0, ge=0, description="A close up to this many bps above the pullback EMA still counts."
    )
    require_bounce: bool = Field(True, description="Enter only on a candle that closed up.")
    stop_pct: float = Field(0.01, gt=0, lt=1, description="Stop-loss this fraction below entry.")
    take_profit_pct: float = Field(0.02, gt=0, description="Take-profit this fraction above entry.")
    size_fraction: float = Field(
        0.25, gt=0, le=1, description="Fraction of the size the risk manager allows."
    )

    @model_validator(mode="after")
    def _pullback_shorter(self) -> FallbackParams:
        if self.pullback_period >= self.trend_period:
            raise ValueError("pullback_period must be smaller than trend_period")
        return self


@dataclass(slots=True)
class _State:
    trend: Ema
    pullback: Ema


class FallbackStrategy(Strategy[FallbackParams]):
    """Trend-filtered pullback buying, small and tight; long only."""

    kind = "fallback"
    Params = FallbackParams

    def __init__(
        self, context: StrategyContext, params: FallbackParams | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(context, params)
        p = self.params
        self._state = {s: _State(Ema(p.trend_period), Ema(p.pullback_period)) for s in self.symbols}

    def on_candle(self, candle: Candle) -> Intents:
        st = self._state.get(candle.symbol)
        if st is None or candle.exchange != self.exchange:
            return None
        p = self.params
        close = float(candle.close)
        prev_trend = st.trend.value
        trend = st.trend.update(close)
        pullback = st.pullback.update(close)
        if st.trend.count < p.trend_period or prev_trend is None:
            return None
        symbol = candle.symbol
        if self.ctx.position(symbol) > 0:
            return self.exit_position(symbol, "fallback: trend broke") if close < trend else None
        uptrend = close > trend and trend > prev_trend
        dipped = close <= pullback * (1 + p.pullback_tolerance_bps / 10_000)
        bounced = close > float(candle.open) or not p.require_bounce
        if not (uptrend and dipped and bounced) or self.ctx.open_orders(symbol):
            return None
        return [
            self.market(
                symbol,
                "buy",
                size_fraction=Decimal(str(p.size_fraction)),
                bracket=Bracket(
                    stop_loss=self.round_price(symbol, close * (1 - p.stop_pct)),
                    take_profit=self.round_price(symbol, close * (1 + p.take_profit_pct), up=True),
                ),
                tag="fallback: pullback in uptrend",
            )
        ]
