"""Order-book imbalance and order flow.

Two readings of who is pressing: the resting size on each side of the top
``levels`` (``(bid - ask) / (bid + ask)``, from -1 to 1) and the signed taker flow
of the last ``flow_window_s`` seconds (buy size minus sell size over their sum).
When both lean to the buy side past the entry thresholds, buy at market with a
stop (and optional take-profit) in bps of the mid; while long, exit when either
turns past its exit threshold. Decisions are taken at most every ``interval_ms``
of clock time per symbol, declared in ``next_book_ns``, so the engine does not
call ``on_book`` for the book updates in between.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import Field

from shared.book import OrderBook
from shared.marketdata import Trade
from shared.trading.strategy import Intents, Strategy, StrategyContext, StrategyParams
from shared.trading.types import Bracket


class ImbalanceParams(StrategyParams):
    levels: int = Field(5, ge=1, description="Book levels per side in the imbalance.")
    interval_ms: int = Field(250, ge=0, description="Evaluate at most this often per symbol.")
    flow_window_s: float = Field(30.0, gt=0, description="Trade-flow window (seconds).")
    min_flow_trades: int = Field(
        5, ge=1, description="Trades needed in the window before the flow counts."
    )
    enter_imbalance: float = Field(0.3, gt=0, le=1, description="Buy when imbalance >= this...")
    enter_flow: float = Field(0.2, gt=0, le=1, description="...and trade flow >= this.")
    exit_imbalance: float = Field(
        -0.2, ge=-1, lt=1, description="While long, exit when imbalance <= this."
    )
    exit_flow: float = Field(-0.2, ge=-1, lt=1, description="While long, exit when flow <= this.")
    stop_bps: float = Field(30.0, gt=0, description="Stop-loss this many bps below the mid.")
    take_profit_bps: float | None = Field(
        60.0, gt=0, description="Take-profit this many bps above the mid; null: none."
    )
    cooldown_s: float = Field(
        30.0, ge=0, description="No new decision on a symbol for this long after one."
    )
    size_fraction: float = Field(
        0.5, gt=0, le=1, description="Fraction of the size the risk manager allows."
    )


@dataclass(slots=True)
class _Flow:
    trades: deque[tuple[int, float, float]] = field(default_factory=deque)
    signed: float = 0.0
    total: float = 0.0
    next_eval_ns: int = 0
    cooldown_until_ns: int = 0


class ImbalanceStrategy(Strategy[ImbalanceParams]):
    """Top-of-book imbalance plus signed trade flow; long only."""

    kind = "imbalance"
    Params = ImbalanceParams

    def __init__(
        self, context: StrategyContext, params: ImbalanceParams | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(context, params)
        self._flow = {s: _Flow() for s in self.symbols}
        p = self.params
        self._interval_ns = p.interval_ms * 1_000_000
        self._window_ns = int(p.flow_window_s * 1e9)
        self._cooldown_ns = int(p.cooldown_s * 1e9)

    def on_trade(self, trade: Trade) -> Intents:
        flow = self._flow.get(trade.symbol)
        if flow is None or trade.exchange != self.exchange:
            return None
        size = float(trade.size)
        signed = size if trade.side == "buy" else -size
        flow.trades.append((self.clock.time_ns(), signed, size))
        flow.signed += signed
        flow.total += size
        return None

    def flow(self, symbol: str, now_ns: int) -> float | None:
        """Signed trade flow of ``symbol`` over the window ending at ``now_ns``."""
        flow = self._flow[symbol]
        trades = flow.trades
        cutoff = now_ns - self._window_ns
        while trades and trades[0][0] < cutoff:
            _, signed, size = trades.popleft()
            flow.signed -= signed
            flow.total -= size
        if not trades:
            flow.signed = flow.total = 0.0  # drop accumulated rounding
            return None
        if len(trades) < self.params.min_flow_trades or flow.total <= 0:
            return None
        return flow.signed / flow.total

    def on_book(self, book: OrderBook) -> Intents:
        flow = self._flow.get(book.symbol)
        if flow is None or book.exchange != self.exchange:
            return None
        now = self.clock.time_ns()
        if now < flow.next_eval_ns:
            return None
        flow.next_eval_ns = now + self._interval_ns
        # No call from the engine before any symbol is due (Strategy.next_book_ns).
        flows = self._flow
        self.next_book_ns = (
            flow.next_eval_ns if len(flows) == 1 else min(f.next_eval_ns for f in flows.values())
        )
        if now < flow.cooldown_until_ns:
            return None
        return self._decide(book, now, flow)

    def _decide(self, book: OrderBook, now: int, state: _Flow) -> Intents:
        p = self.params
        symbol = book.symbol
        flow = self.flow(symbol, now)
        long = self.ctx.position(symbol) > 0
        if not long and (flow is None or flow < p.enter_flow):
            return None  # flat and no buying flow: no entry whatever the book says
        imbalance = book.imbalance(p.levels)
        if imbalance is None:
            return None
        if long:
            if imbalance <= p.exit_imbalance or (flow is not None and flow <= p.exit_flow):
                state.cooldown_until_ns = now + self._cooldown_ns
                return self.exit_position(
                    symbol, f"imbalance: exit imb={imbalance:.2f} flow={flow}"
                )
            return None
        if flow is None or imbalance < p.enter_imbalance or flow < p.enter_flow:
            return None
        if self.ctx.open_orders(symbol):
            return None
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is None or ask is None:
            return None
        mid = float(book.price(bid + ask)) / 2
        stop = self.round_price(symbol, mid * (1 - p.stop_bps / 10_000))
        take = None
        if p.take_profit_bps is not None:
            take = self.round_price(symbol, mid * (1 + p.take_profit_bps / 10_000), up=True)
        state.cooldown_until_ns = now + self._cooldown_ns
        return [
            self.market(
                symbol,
                "buy",
                size_fraction=Decimal(str(p.size_fraction)),
                bracket=Bracket(stop_loss=stop, take_profit=take),
                tag=f"imbalance: imb={imbalance:.2f} flow={flow:.2f}",
            )
        ]
