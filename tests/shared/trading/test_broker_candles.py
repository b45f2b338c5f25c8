"""Candle-only mode: the approximation for backtests over bars with no book."""

from __future__ import annotations

from shared.clock import ManualClock
from shared.trading.broker import PaperBroker
from shared.trading.types import Bracket, Liquidity, OrderStatus, OrderType, TimeInForce

from .broker_helpers import (
    MS,
    D,
    candle,
    last_state,
    make_book,
    make_broker,
    order,
    trade,
)

MINUTE = 60_000 * MS


def _candle_broker() -> tuple[PaperBroker, ManualClock]:
    """A candle-mode broker whose clock reads the close of bar 0 (the open of bar 1)."""
    return make_broker(candle_mode=True, start_ns=MINUTE)


def test_a_market_order_fills_at_the_next_open_moved_by_the_slippage() -> None:
    broker, clock = _candle_broker()
    buy = broker.submit(order("buy", "1")).orders[0]
    sell = broker.submit(order("sell", "1")).orders[0]

    clock.set_ns(2 * MINUTE)
    update = broker.on_candle(candle(1, "100.01", "101.00", "99.00", "100.50"))

    fills = {f.order_id: f for f in update.fills}
    assert fills[buy.id].price == D("100.07")  # 100.01 * 1.0005 = 100.060005, up to the tick
    assert fills[sell.id].price == D("99.95")  # 100.01 * 0.9995 = 99.959995, down to the tick
    assert fills[buy.id].liquidity is Liquidity.TAKER
    assert fills[buy.id].fee == D("0.20014")
    assert last_state(update, buy.id).status is OrderStatus.FILLED


def test_slippage_never_takes_a_fill_outside_the_bar() -> None:
    broker, clock = _candle_broker()
    broker.submit(order("buy", "1"))

    clock.set_ns(2 * MINUTE)
    update = broker.on_candle(candle(1, "100.00", "100.00", "99.00", "99.50"))

    assert update.fills[0].price == D("100.00")


def test_an_order_decided_inside_a_bar_waits_for_the_next_open() -> None:
    broker, clock = _candle_broker()
    clock.set_ns(MINUTE + 30_000 * MS)
    broker.submit(order("buy", "1"))

    clock.set_ns(2 * MINUTE)
    same_bar = broker.on_candle(candle(1, "100.00", "101.00", "99.00", "100.50"))
    clock.set_ns(3 * MINUTE)
    next_bar = broker.on_candle(candle(2, "100.50", "101.00", "100.00", "100.80"))

    assert not same_bar.fills
    assert next_bar.fills[0].price == D("100.56")  # 100.50 * 1.0005 = 100.55025, up


def test_a_limit_fills_at_its_price_as_maker_once_a_bar_touches_it() -> None:
    broker, clock = _candle_broker()
    limit = broker.submit(order("buy", "1", OrderType.LIMIT, price="99.00")).orders[0]

    clock.set_ns(2 * MINUTE)
    untouched = broker.on_candle(candle(1, "100.00", "100.50", "99.01", "99.50"))
    clock.set_ns(3 * MINUTE)
    touched = broker.on_candle(candle(2, "99.50", "99.80", "99.00", "99.20"))

    assert not untouched.fills and last_state(untouched, limit.id).status is OrderStatus.OPEN
    assert [(f.price, f.liquidity) for f in touched.fills] == [(D("99.00"), Liquidity.MAKER)]


def test_a_limit_already_through_at_the_open_takes_but_not_beyond_its_price() -> None:
    broker, clock = _candle_broker()
    broker.submit(order("buy", "1", OrderType.LIMIT, price="100.02"))
    broker.submit(order("buy", "1", OrderType.LIMIT, price="100.50", post_only=True))
    broker.submit(order("buy", "1", OrderType.LIMIT, price="99.00", tif=TimeInForce.IOC))

    clock.set_ns(2 * MINUTE)
    update = broker.on_candle(candle(1, "100.00", "101.00", "99.50", "100.50"))

    assert [(f.price, f.liquidity) for f in update.fills] == [(D("100.02"), Liquidity.TAKER)]
    assert [r.reason for r in update.rejections] == ["post_only_would_take"]
    assert update.orders[-1].reason == "ioc_remainder"


def test_a_stop_fills_at_the_stop_less_slippage_or_at_the_open_after_a_gap() -> None:
    broker, clock = _candle_broker()
    broker.submit(order("sell", "1", OrderType.STOP_MARKET, stop="99.00"))
    clock.set_ns(2 * MINUTE)
    crossed = broker.on_candle(candle(1, "100.00", "100.20", "98.50", "98.80"))

    broker.submit(order("sell", "1", OrderType.STOP_MARKET, stop="98.00"))
    clock.set_ns(3 * MINUTE)
    gapped = broker.on_candle(candle(2, "97.00", "97.50", "96.50", "97.20"))

    assert [f.price for f in crossed.fills] == [D("98.95")]  # 99.00 * 0.9995 = 98.9505, down
    assert [f.price for f in gapped.fills] == [D("96.95")]  # the open 97.00, less 5 bps
    assert crossed.orders[0].status is OrderStatus.OPEN
    assert crossed.orders[1].status is OrderStatus.TRIGGERED


def test_a_bar_that_reaches_both_bracket_legs_is_taken_as_a_stop_out() -> None:
    broker, clock = _candle_broker()
    broker.submit(order("buy", "1", bracket=Bracket(D("99.00"), D("101.00"))))
    clock.set_ns(2 * MINUTE)
    entered = broker.on_candle(candle(1, "100.00", "100.20", "99.80", "100.10"))

    clock.set_ns(3 * MINUTE)
    both = broker.on_candle(candle(2, "100.10", "101.50", "98.50", "100.00"))

    assert [o.tag for o in entered.orders].count("bracket") == 2
    assert [(f.side, f.price) for f in both.fills] == [("sell", D("98.95"))]
    target_id = next(o.id for o in both.orders if o.type is OrderType.TAKE_PROFIT)
    target = last_state(both, target_id)
    assert target.status is OrderStatus.CANCELLED and target.reason == "oco_filled"


def test_candle_mode_ignores_books_trades_and_timer_ticks() -> None:
    broker, clock = _candle_broker()
    book = make_book()
    broker.submit(order("buy", "1"))

    clock.set_ns(MINUTE + 100 * MS)
    assert not broker.on_book(book)
    assert not broker.on_trade(trade("100.00", "5"))
    assert not broker.on_time(clock.time_ns())
    assert broker.open_orders()[0].status is OrderStatus.PENDING


def test_book_mode_ignores_candles() -> None:
    broker, clock = make_broker(start_ns=MINUTE)
    broker.submit(order("buy", "1"))

    clock.set_ns(2 * MINUTE)
    assert not broker.on_candle(candle(1, "100.00", "101.00", "99.00", "100.50"))


def test_a_fill_and_its_order_events_are_stamped_at_the_open_of_the_bar_it_fills_in() -> None:
    """Tried: a bracketed market buy decided on bar 0's close, filled at bar 1's open,
    and its stop hit in bar 2, each bar handed over at its close (when it is known).
    Kept: every fill and every order event of a bar carries that bar's open time, the
    time of the price it got, not the close one bar later."""
    broker, clock = _candle_broker()
    buy = broker.submit(order("buy", "1", bracket=Bracket(D("99.00"), None))).orders[0]

    clock.set_ns(2 * MINUTE)
    entered = broker.on_candle(candle(1, "100.00", "100.20", "99.80", "100.10"))
    clock.set_ns(3 * MINUTE)
    stopped = broker.on_candle(candle(2, "100.10", "100.20", "98.50", "98.80"))

    assert [f.ts_ns for f in entered.fills] == [MINUTE]
    assert last_state(entered, buy.id).updated_ns == MINUTE
    assert {o.updated_ns for o in entered.orders} == {MINUTE}  # the entry and its stop leg
    assert [(f.side, f.ts_ns) for f in stopped.fills] == [("sell", 2 * MINUTE)]
    assert {o.updated_ns for o in stopped.orders} == {2 * MINUTE}
