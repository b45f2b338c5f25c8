"""Trend following: EMA fast/slow cross on candle closes, with an optional ATR stop.

The exact rules (docs/strategies.md, "trend") are what a vectorized reference in
the backtest tests reproduces, so they are spelled out here too:

* closes ``c[t]`` as float64; ``ema[0] = c[0]``,
  ``ema[t] = alpha * c[t] + (1 - alpha) * ema[t-1]``, ``alpha = 2 / (n + 1)``;
* ``d[t] = fast[t] - slow[t]``; signals only from candle ``t >= slow_period``
  (0-based, per symbol);
* golden cross ``d[t-1] <= 0 < d[t]`` while flat: a MARKET buy, ``qty=None``,
  ``size_fraction`` (default 1: the full size the risk manager allows), on the
  close of the crossing candle; with ``atr_stop_mult`` set, a bracket whose
  stop-loss is ``close - atr_stop_mult * ATR`` (rounded down to the tick);
* while long and ``d[t] < 0`` (the death cross ``d[t-1] >= 0 > d[t]``, or a later
  candle if that exit did not go through): cancel the symbol's open orders and
  sell the whole position at market (``qty=None``: all that is held).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from shared.marketdata import Candle
from shared.trading.strategies.indicators import Atr, Ema
from shared.trading.strategy import Intents, Strategy, StrategyContext, StrategyParams
from shared.trading.types import Bracket


class TrendParams(StrategyParams):
    fast_period: int = Field(12, ge=1, description="Fast EMA period (candles).")
    slow_period: int = Field(26, ge=2, description="Slow EMA period (candles); > fast_period.")
    atr_period: int = Field(14, ge=1, description="ATR period (candles, Wilder smoothing).")
    atr_stop_mult: float | None = Field(
        2.0,
        gt=0,
        description="Stop-loss at entry close minus this many ATRs; null: no stop (plain cross).",
    )
    take_profit_atr_mult: float | None = Field(
        None, gt=0, description="Take-profit at entry close plus this many ATRs; null: none."
    )
    size_fraction: float = Field(
        1.0, gt=0, le=1, description="Fraction of the size the risk manager allows."
    )

    @model_validator(mode="after")
    def _fast_below_slow(self) -> TrendParams:
        if self.fast_period >= self.slow_period:
            raise ValueError("fast_period must be smaller than slow_period")
        return self


@dataclass(slots=True)
class _State:
    fast: Ema
    slow: Ema
    atr: Atr
    count: int = 0
    diff: float = 0.0


class TrendStrategy(Strategy[TrendParams]):
    """EMA cross with an ATR stop; long only (spot paper trading)."""

    kind = "trend"
    Params = TrendParams

    def __init__(
        self, context: StrategyContext, params: TrendParams | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(context, params)
        p = self.params
        self._state = {
            s: _State(Ema(p.fast_period), Ema(p.slow_period), Atr(p.atr_period))
            for s in self.symbols
        }

    def on_candle(self, candle: Candle) -> Intents:
        st = self._state.get(candle.symbol)
        if st is None or candle.exchange != self.exchange:
            return None
        p = self.params
        close = float(candle.close)
        d = st.fast.update(close) - st.slow.update(close)
        atr = st.atr.update(float(candle.high), float(candle.low), close)
        prev, st.diff = st.diff, d
        st.count += 1
        if st.count <= p.slow_period:
            return None
        symbol = candle.symbol
        if prev <= 0 < d and self.ctx.position(symbol) == 0 and not self.ctx.open_orders(symbol):
            return self._enter(symbol, close, atr)
        if d < 0 and self.ctx.position(symbol) > 0:
            return self.exit_position(symbol, "trend: fast EMA below slow")
        return None

    def _enter(self, symbol: str, close: float, atr: float | None) -> Intents:
        p = self.params
        bracket = None
        if p.atr_stop_mult is not None:
            if atr is None:
                return None  # no stop to size against yet
            stop = self.round_price(symbol, close - p.atr_stop_mult * atr)
            take = None
            if p.take_profit_atr_mult is not None:
                take = self.round_price(symbol, close + p.take_profit_atr_mult * atr, up=True)
            if stop > 0 or take is not None:
                bracket = Bracket(stop_loss=stop if stop > 0 else None, take_profit=take)
        return [
            self.market(
                symbol,
                "buy",
                size_fraction=Decimal(str(p.size_fraction)),
                bracket=bracket,
                tag="trend: golden cross",
            )
        ]
