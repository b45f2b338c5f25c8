"""Why each round trip ended, from a real candle-mode paper broker's order events."""

from __future__ import annotations

from shared.trading.exits import (
    BREAKER,
    END_OF_BACKTEST,
    SIGNAL,
    STOP,
    TAKE_PROFIT,
    exit_reason,
    latest_orders,
    order_tag,
)
from shared.trading.metrics import round_trips
from shared.trading.risk import FLATTEN_TAG
from shared.trading.types import Bracket, Fill, Order

from .broker_helpers import MS, D, candle, make_broker, order

MINUTE = 60_000 * MS


def test_each_exit_is_named_after_the_order_that_made_the_position_flat() -> None:
    """Tried: five bracketed or plain entries in turn, left by a bracket's stop, its
    take-profit, the strategy's own sell, the breaker's flatten, and not at all.
    Kept: stop, take-profit, signal (with the strategy's tag), breaker and end of
    backtest, one per round trip in that order."""
    broker, clock = make_broker(candle_mode=True, start_ns=MINUTE)
    history: list[Order] = []
    fills: list[Fill] = []
    bar = 1

    def next_bar(o: str, h: str, low: str, c: str) -> None:
        nonlocal bar
        clock.set_ns((bar + 1) * MINUTE)
        update = broker.on_candle(candle(bar, o, h, low, c))
        history.extend(update.orders)
        fills.extend(update.fills)
        bar += 1

    def submit(o: Order) -> None:
        history.extend(broker.submit(o).orders)

    submit(order("buy", "1", bracket=Bracket(D("99.00"), D("101.00"))))
    next_bar("100.00", "100.20", "99.80", "100.00")  # entry
    next_bar("100.00", "100.20", "98.50", "98.80")  # the stop
    submit(order("buy", "1", bracket=Bracket(D("97.00"), D("100.00"))))
    next_bar("98.80", "99.00", "98.70", "98.90")  # entry
    next_bar("98.90", "100.50", "98.80", "100.20")  # the take-profit
    submit(order("buy", "1"))
    next_bar("100.20", "100.30", "100.10", "100.20")
    exit_by_signal = order("sell", "1")
    exit_by_signal.tag = "trend: fast EMA below slow"
    submit(exit_by_signal)
    next_bar("100.20", "100.30", "100.10", "100.20")
    submit(order("buy", "1"))
    next_bar("100.20", "100.30", "100.10", "100.20")
    flatten = order("sell", "1")
    flatten.tag = FLATTEN_TAG
    submit(flatten)
    next_bar("100.20", "100.30", "100.10", "100.20")
    submit(order("buy", "1"))
    next_bar("100.20", "100.30", "100.10", "100.20")

    orders = latest_orders(history)
    trips = round_trips(fills)

    assert [exit_reason(t, orders) for t in trips] == [
        STOP, TAKE_PROFIT, SIGNAL, BREAKER, END_OF_BACKTEST
    ]
    assert [order_tag(t.exit_order_id, orders) for t in trips] == [
        "bracket", "bracket", "trend: fast EMA below slow", FLATTEN_TAG, ""
    ]
    assert trips[0].entry_order_id is not None and trips[-1].exit_order_id is None
