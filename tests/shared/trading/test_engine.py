"""The engine's one dispatch: what reaches a paused strategy, what a hook's return does.

Driven through a stepped candle backtest, so the engine is the real one with the
real broker, risk manager and portfolios around it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from shared.config.trading import BrokerConfig, StrategyConfig
from shared.marketdata import Candle
from shared.trading.backtest import CANDLE, Backtest, BacktestConfig, Event, candle_close_ns
from shared.trading.strategy import Intents, Strategy, StrategyParams, StrategyRegistry
from shared.trading.types import Fill, Instrument, Order, OrderIntent

EX, SYM = "binance", "BTC/USDT"
INSTRUMENT = Instrument(EX, SYM, tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"))


class BuysOnce(Strategy[StrategyParams]):
    """A market buy on the first candle; keeps what reaches its other hooks.

    Its ``on_order`` returns a buy too, which the engine must drop: ``on_order``
    returns nothing by contract.
    """

    kind = "buys_once"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.orders: list[Order] = []
        self.fills: list[Fill] = []

    def on_candle(self, candle: Candle) -> Intents:
        if self.orders:
            return None
        return [self.market(SYM, "buy", qty=Decimal("0.01"), tag="once")]

    def on_order(self, order: Order) -> list[OrderIntent]:  # type: ignore[override]
        self.orders.append(order)
        return [self.market(SYM, "buy", qty=Decimal("1"), tag="dropped")]

    def on_fill(self, fill: Fill) -> Intents:
        self.fills.append(fill)
        return None


def candles(n: int) -> list[Event]:
    out: list[Event] = []
    for i in range(n):
        price = Decimal(100 + i)
        c = Candle(EX, SYM, i * 60_000, price, price, price, price, Decimal(1), 1)
        out.append((candle_close_ns(c), CANDLE, c))
    return out


def stepped(events: list[Event]) -> tuple[Backtest, BuysOnce]:
    registry = StrategyRegistry()
    registry.register(BuysOnce)
    backtest = Backtest(
        BacktestConfig(
            strategies=[StrategyConfig(name="once", kind="buys_once", exchange=EX, symbols=[SYM])],
            instruments={(EX, SYM): INSTRUMENT},
            start_ns=events[0][0] - 60_000_000_000, end_ns=events[-1][0],
            broker=BrokerConfig(latency_ms=0), candle_mode=True,
        ),
        registry=registry,
    )
    backtest.load(events)
    (strategy,) = backtest.engine.strategies
    assert isinstance(strategy, BuysOnce)
    return backtest, strategy


def test_a_paused_strategy_still_sees_its_order_updates_but_not_its_fills() -> None:
    backtest, strategy = stepped(candles(3))
    backtest.step()  # decides on the first close
    assert strategy.ctx.open_orders(SYM)
    backtest.engine.paused.add("once")

    backtest.step()  # fills at the second candle's open

    assert backtest.portfolios["once"].qty((EX, SYM)) == Decimal("0.01")
    assert strategy.ctx.open_orders(SYM) == []  # the table is right for when it resumes
    assert strategy.orders[-1].is_open is False
    assert strategy.fills == []  # paused: no hook that could trade


def test_what_on_order_returns_is_dropped() -> None:
    backtest, strategy = stepped(candles(3))

    backtest.step_until(candles(3)[-1][0])
    result = backtest.result()

    assert {o.tag for o in strategy.orders} == {"once"}
    assert result.stats.orders == 1
    assert [f.qty for f in strategy.fills] == [Decimal("0.01")]
