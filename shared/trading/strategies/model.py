"""The model strategy: trades on the ONNX model's outputs.

The model (DESIGN.md, "Model I/O") gives action logits (buy, sell, hold), a
position size (0-1 of the allowed maximum) and a risk score. Whatever runs
inference publishes them as :class:`ModelOutputs` through the context's
``features`` hook; this strategy reads the hook on every closed candle and timer
tick and acts once per new output (a newer ``ts_ns``):

* ``buy`` with probability >= ``min_confidence``, risk <= ``max_risk`` and size >=
  ``min_position_size`` while flat: a MARKET buy with ``size_fraction`` = the
  model's position size and a bracket ``stop_loss_pct`` / ``take_profit_pct`` from
  the current price (book mid, else the last close);
* ``sell`` with probability >= ``min_confidence`` while long: exit at market;
* ``hold``, a low-confidence action, or an output older than ``max_age_s``: nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from shared.marketdata import Candle
from shared.trading.strategy import Intent, Intents, Strategy, StrategyContext, StrategyParams
from shared.trading.types import Bracket

Action = Literal["buy", "sell", "hold"]
ACTIONS: tuple[Action, Action, Action] = ("buy", "sell", "hold")


@dataclass(frozen=True, slots=True)
class ModelOutputs:
    """One inference result for one symbol, as the model strategy reads it."""

    action_logits: tuple[float, float, float]
    """Unnormalized scores of buy, sell, hold (in that order)."""
    position_size: float
    """0-1: the fraction of the size the risk manager allows."""
    risk_score: float
    """0-1: the model's own estimate of how risky acting now is."""
    ts_ns: int
    """When the features it was computed from were taken (the injected clock)."""

    def probabilities(self) -> tuple[float, float, float]:
        """Softmax of the logits (buy, sell, hold)."""
        top = max(self.action_logits)
        exps = [math.exp(x - top) for x in self.action_logits]
        total = sum(exps)
        return exps[0] / total, exps[1] / total, exps[2] / total

    @property
    def action(self) -> Action:
        """The action with the highest logit (ties go to hold, then sell)."""
        buy, sell, hold = self.action_logits
        if hold >= buy and hold >= sell:
            return "hold"
        return "sell" if sell >= buy else "buy"

    @property
    def confidence(self) -> float:
        """Probability of :attr:`action`."""
        return self.probabilities()[ACTIONS.index(self.action)]


class ModelParams(StrategyParams):
    min_confidence: float = Field(
        0.5, ge=0, le=1, description="Act only when the chosen action's probability is >= this."
    )
    max_risk: float = Field(
        0.7, ge=0, le=1, description="No new entry when the model's risk score is above this."
    )
    min_position_size: float = Field(
        0.05, ge=0, le=1, description="No entry when the model's position size is below this."
    )
    stop_loss_pct: float = Field(
        0.02, gt=0, lt=1, description="Bracket stop-loss this fraction below the entry price."
    )
    take_profit_pct: float | None = Field(
        0.04, gt=0, description="Bracket take-profit this fraction above; null: none."
    )
    max_age_s: float = Field(
        120.0, gt=0, description="Ignore outputs older than this (seconds of clock time)."
    )


class ModelStrategy(Strategy[ModelParams]):
    """Acts on :class:`ModelOutputs` from the ``features`` hook; long only."""

    kind = "model"
    Params = ModelParams

    def __init__(
        self, context: StrategyContext, params: ModelParams | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(context, params)
        self._seen_ns = dict.fromkeys(self.symbols, -1)
        self._max_age_ns = int(self.params.max_age_s * 1e9)

    def on_candle(self, candle: Candle) -> Intents:
        if candle.exchange != self.exchange or candle.symbol not in self._seen_ns:
            return None
        return self._act(candle.symbol, self.clock.time_ns())

    def on_time(self, now_ns: int) -> Intents:
        intents: list[Intent] = []
        for symbol in self.symbols:
            intents += self._act(symbol, now_ns) or ()
        return intents or None

    def _act(self, symbol: str, now: int) -> Intents:
        out = self.ctx.features(self.exchange, symbol)
        if not isinstance(out, ModelOutputs) or out.ts_ns <= self._seen_ns[symbol]:
            return None
        self._seen_ns[symbol] = out.ts_ns
        p = self.params
        if now - out.ts_ns > self._max_age_ns or out.confidence < p.min_confidence:
            return None
        action = out.action
        tag = (
            f"model: {action} p={out.confidence:.2f} "
            f"size={out.position_size:.2f} risk={out.risk_score:.2f}"
        )
        if action == "sell":
            return self.exit_position(symbol, tag) if self.ctx.position(symbol) > 0 else None
        if action != "buy" or out.risk_score > p.max_risk:
            return None
        size = min(max(out.position_size, 0.0), 1.0)
        if size < p.min_position_size or size <= 0:
            return None
        if self.ctx.position(symbol) > 0 or self.ctx.open_orders(symbol):
            return None
        return [
            self.market(
                symbol,
                "buy",
                size_fraction=Decimal(str(size)),
                bracket=self._bracket(symbol),
                tag=tag,
            )
        ]

    def _bracket(self, symbol: str) -> Bracket | None:
        price = self._price(symbol)
        if price is None:
            return None
        p = self.params
        take = None
        if p.take_profit_pct is not None:
            take = self.round_price(symbol, price * (1 + p.take_profit_pct), up=True)
        return Bracket(
            stop_loss=self.round_price(symbol, price * (1 - p.stop_loss_pct)), take_profit=take
        )

    def _price(self, symbol: str) -> float | None:
        book = self.ctx.book(symbol)
        if book is not None:
            mid = book.mid()
            if mid is not None:
                return float(mid)
        candles = self.ctx.candles(symbol)
        return float(candles[-1].close) if candles else None
