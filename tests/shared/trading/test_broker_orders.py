"""The paper broker's order lifecycle: stops, OCO, brackets, bad input, restarts, determinism."""

from __future__ import annotations

from copy import copy
from decimal import Decimal

import pytest

from shared.book import OrderBook
from shared.clock import ManualClock
from shared.trading.broker import PaperBroker
from shared.trading.types import (
    Bracket,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    TimeInForce,
)

from .broker_helpers import (
    EX,
    MS,
    D,
    arrive,
    last_state,
    make_book,
    make_broker,
    order,
    set_level,
    trade,
)

# -- stops ---------------------------------------------------------------------------------


def test_a_sell_stop_triggers_on_a_print_through_it_and_walks_the_book() -> None:
    broker, clock = make_broker()
    book = make_book(bids=[("99.40", "0.6"), ("99.30", "1")], asks=[("99.60", "1")])
    broker.on_book(book)
    stop_id = broker.submit(order("sell", "1", OrderType.STOP_MARKET, stop="99.50")).orders[0].id
    rested = arrive(broker, clock, book)

    above = broker.on_trade(trade("99.60", "1", "buy"))
    through = broker.on_trade(trade("99.50", "0.1"))

    assert last_state(rested, stop_id).status is OrderStatus.OPEN
    assert not above
    assert last_state(through, stop_id).status is OrderStatus.TRIGGERED
    child = through.orders[-1]
    assert child.type is OrderType.MARKET and child.parent_id == stop_id
    assert child.status is OrderStatus.FILLED
    assert [(f.order_id, f.price, f.qty) for f in through.fills] == [
        (child.id, D("99.40"), D("0.6")), (child.id, D("99.30"), D("0.4"))]


def test_a_buy_stop_waits_for_a_print_at_or_above_it() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("buy", "0.5", OrderType.STOP_MARKET, stop="100.10"))
    arrive(broker, clock, book)

    assert not broker.on_trade(trade("100.05", "1", "buy")).fills
    assert [f.price for f in broker.on_trade(trade("100.10", "1", "buy")).fills] == [
        D("100.10")]


def test_a_stop_never_triggers_on_the_book_alone() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("sell", "1", OrderType.STOP_MARKET, stop="99.95"))
    arrive(broker, clock, book)

    set_level(book, "bid", "100.00", "0")
    clock.advance_ns(MS)
    assert not broker.on_book(book)
    assert broker.open_orders()[0].status is OrderStatus.OPEN


# -- OCO and brackets ----------------------------------------------------------------------


def _oco_pair(broker: PaperBroker, clock: ManualClock, book: OrderBook) -> tuple[int, int]:
    """A long's exits on a fresh broker: stop 99.50 (id 1), take-profit 100.30 (id 2)."""
    first = 1  # ids are assigned in order from 1, so the pair can name each other
    stop = order("sell", "1", OrderType.STOP_MARKET, stop="99.50", oco_id=first + 1)
    target = order("sell", "1", OrderType.TAKE_PROFIT, price="100.30", oco_id=first)
    broker.submit(stop)
    broker.submit(target)
    arrive(broker, clock, book)
    return stop.id, target.id


def test_a_take_profit_filled_in_full_cancels_its_stop() -> None:
    broker, clock = make_broker()
    book = make_book(asks=[("100.20", "1")])
    broker.on_book(book)
    stop_id, target_id = _oco_pair(broker, clock, book)

    update = broker.on_trade(trade("100.40", "2", "buy"))

    assert last_state(update, target_id).status is OrderStatus.FILLED
    cancelled = last_state(update, stop_id)
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.reason == "oco_filled"
    assert broker.open_orders() == []


def test_a_partial_take_profit_shrinks_the_stop_to_the_remaining_position() -> None:
    broker, clock = make_broker()
    book = make_book(asks=[("100.20", "1")])
    broker.on_book(book)
    stop_id, target_id = _oco_pair(broker, clock, book)

    update = broker.on_trade(trade("100.40", "0.3", "buy"))
    later = broker.on_trade(trade("99.40", "5"))

    assert last_state(update, stop_id).qty == D("0.7")
    assert [f.qty for f in later.fills] == [D("0.7")]  # the stop sells what is left
    assert last_state(later, target_id).reason == "oco_filled"


def test_a_triggered_stop_cancels_the_take_profit_once_its_child_fills() -> None:
    broker, clock = make_broker()
    book = make_book(asks=[("100.20", "1")])
    broker.on_book(book)
    stop_id, target_id = _oco_pair(broker, clock, book)

    update = broker.on_trade(trade("99.50", "0.1"))

    assert last_state(update, stop_id).status is OrderStatus.TRIGGERED
    assert sum(f.qty for f in update.fills) == D("1")
    assert last_state(update, target_id).status is OrderStatus.CANCELLED


def test_a_filled_entry_with_a_bracket_places_an_exit_oco_for_the_filled_qty() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    entry = order("buy", "1", bracket=Bracket(stop_loss=D("99.00"), take_profit=D("101.00")))
    broker.submit(entry)

    filled = arrive(broker, clock, book)
    legs = [o for o in filled.orders if o.tag == "bracket"]
    placed = arrive(broker, clock, book)

    stop, target = legs
    assert (stop.type, stop.stop_price, target.type, target.price) == (
        OrderType.STOP_MARKET, D("99.00"), OrderType.TAKE_PROFIT, D("101.00"))
    assert all(leg.side == "sell" and leg.qty == D("1") and leg.parent_id == entry.id
               and leg.strategy == "s1" and leg.status is OrderStatus.PENDING for leg in legs)
    assert (stop.oco_id, target.oco_id) == (target.id, stop.id)
    assert {o.id: o.status for o in placed.orders} == {
        stop.id: OrderStatus.OPEN, target.id: OrderStatus.OPEN}


def test_a_partly_filled_entry_protects_only_what_it_bought() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("buy", "5", bracket=Bracket(stop_loss=D("99.00"))))

    update = arrive(broker, clock, book)

    legs = [o for o in update.orders if o.tag == "bracket"]
    assert [(leg.type, leg.qty, leg.oco_id) for leg in legs] == [
        (OrderType.STOP_MARKET, D("3"), None)]


# -- cancels, restarts, ids ------------------------------------------------------------------


def test_cancel_closes_an_open_order_and_refuses_an_unknown_one() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    order_id = broker.submit(order("buy", "1", OrderType.LIMIT, price="99.00")).orders[0].id
    arrive(broker, clock, book)

    cancelled = broker.cancel(order_id, "cancelled by s1")
    again = broker.cancel(order_id, "cancelled by s1")

    assert cancelled.orders[0].status is OrderStatus.CANCELLED
    assert cancelled.orders[0].reason == "cancelled by s1"
    assert [r.reason for r in again.rejections] == ["order_not_open"]
    assert not broker.on_trade(trade("98.00", "5")).fills


def test_ids_count_up_from_the_first_id_across_children_and_legs() -> None:
    broker, clock = make_broker(first_order_id=41)
    book = make_book()
    broker.on_book(book)

    ids = [broker.submit(order("buy", "0.1", bracket=Bracket(stop_loss=D("99")))).orders[0].id,
           broker.submit(order("buy", "0.1")).orders[0].id]
    update = arrive(broker, clock, book)

    assert ids == [41, 42]
    assert [o.id for o in update.orders if o.tag == "bracket"] == [43]


def test_open_orders_filters_by_strategy() -> None:
    broker, _ = make_broker()
    broker.submit(order("buy", "1", OrderType.LIMIT, price="99.00", strategy="a"))
    broker.submit(order("buy", "1", OrderType.LIMIT, price="99.00", strategy="b"))

    assert [o.strategy for o in broker.open_orders()] == ["a", "b"]
    assert [o.strategy for o in broker.open_orders("b")] == ["b"]


def test_restored_orders_keep_their_queue_and_ids_continue() -> None:
    broker, clock = make_broker()
    book = make_book(bids=[("100.00", "5")])
    broker.on_book(book)
    broker.submit(order("buy", "1", OrderType.LIMIT, price="100.00"))
    arrive(broker, clock, book)
    broker.on_trade(trade("100.00", "2"))
    saved = [copy(o) for o in broker.open_orders()]

    restarted, _ = make_broker(start_ns=clock.time_ns())
    restored = restarted.restore(saved)
    restarted.on_book(book)
    update = restarted.on_trade(trade("100.00", "3.5"))
    new_id = restarted.submit(order("sell", "1", OrderType.LIMIT, price="101.00")).orders[0].id

    assert not restored
    assert [f.qty for f in update.fills] == [D("0.5")]
    assert new_id == saved[0].id + 1


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (order("buy", Decimal("NaN")), "nan_qty"),
        (order("buy", Decimal("Infinity")), "nan_qty"),
        (order("buy", "0"), "non_positive_qty"),
        (order("buy", "-1"), "non_positive_qty"),
        (order("buy", "0.00005"), "qty_off_lot"),
        (order("buy", "1", symbol="DOGE/USD"), "unknown_symbol"),
        (order("buy", "1", OrderType.LIMIT, price="100.005"), "price_off_tick"),
        (order("buy", "1", OrderType.LIMIT), "missing_price"),
        (order("buy", "1", OrderType.LIMIT, price="NaN"), "nan_price"),
        (order("buy", "1", OrderType.LIMIT, price="-5"), "non_positive_price"),
        (order("sell", "1", OrderType.STOP_MARKET), "missing_price"),
        (order("buy", "0.001", OrderType.LIMIT, price="100.00"), "below_min_notional"),
        (order("buy", "1", post_only=True), "invalid_order"),
        (order("buy", "1", bracket=Bracket(D("101"), D("99"))), "bad_bracket"),
    ],
)
def test_bad_orders_are_rejected_with_a_reason_and_the_next_one_still_fills(
    bad: Order, reason: str
) -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)

    rejected = broker.submit(bad)
    good = broker.submit(order("buy", "0.5"))
    update = arrive(broker, clock, book)

    assert [(r.reason, r.order_id) for r in rejected.rejections] == [(reason, bad.id)]
    assert rejected.orders[0].status is OrderStatus.REJECTED
    assert [f.order_id for f in update.fills] == [good.orders[0].id]


def test_an_order_reaching_an_empty_or_resyncing_book_is_rejected_as_no_book() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("buy", "1"))
    broker.submit(order("sell", "1", OrderType.LIMIT, price="101.00"))

    book.clear()  # a resync has started
    update = arrive(broker, clock, book)

    assert [r.reason for r in update.rejections] == ["no_book", "no_book"]


def test_a_market_buy_with_no_asks_is_rejected_as_no_book() -> None:
    broker, clock = make_broker()
    book = make_book(asks=[])
    broker.on_book(book)
    broker.submit(order("buy", "1"))

    update = arrive(broker, clock, book)

    assert [r.reason for r in update.rejections] == ["no_book"]


def test_a_market_order_below_the_minimum_notional_is_rejected_on_arrival() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("buy", "0.0001"))  # 0.01 of quote, below the 1.00 minimum

    update = arrive(broker, clock, book)

    assert [r.reason for r in update.rejections] == ["below_min_notional"]


# -- determinism -----------------------------------------------------------------------------


def _session() -> list[OrderUpdate]:
    broker, clock = make_broker()
    book = make_book()
    out = [broker.on_book(book)]
    out.append(broker.submit(order("buy", "1.2", bracket=Bracket(D("99.50"), D("100.50")))))
    out.append(broker.submit(order("sell", "2", OrderType.LIMIT, price="100.30")))
    out.append(broker.submit(order("buy", "1", OrderType.LIMIT, price="99.90", strategy="b")))
    for step in range(40):
        clock.advance_ns(7 * MS)
        price = f"{100 + (step % 7 - 3) / 10:.2f}"
        set_level(book, "bid", "99.90", str(2 + step % 3))
        out.append(broker.on_book(book))
        out.append(broker.on_trade(trade(price, "0.4", "buy" if step % 2 else "sell")))
    return out


def test_the_same_events_give_the_same_orders_and_fills() -> None:
    first, second = _session(), _session()

    assert first == second
    assert sum(len(u.fills) for u in first) > 3
    assert {f.exchange for u in first for f in u.fills} == {EX}


# -- reports ---------------------------------------------------------------------------------


def test_a_reported_order_is_a_copy_of_every_field() -> None:
    live = Order(
        7, "s", EX, "BTC/USDT", "buy", OrderType.LIMIT, D("1"), D("100.00"), D("99.00"),
        TimeInForce.IOC, True, 11, 12, status=OrderStatus.PARTIALLY_FILLED,
        filled_qty=D("0.4"), avg_price=D("100"), fees=D("0.04"), queue_ahead=D("2"),
        parent_id=3, oco_id=8, bracket=Bracket(D("90"), D("110")), tag="t", reason="r",
        updated_ns=13,
    )  # fmt: skip

    snapshot = copy(live)
    live.filled_qty = D("1")

    assert snapshot is not live
    assert [getattr(snapshot, name) for name in Order.__slots__ if name != "filled_qty"] == [
        getattr(live, name) for name in Order.__slots__ if name != "filled_qty"
    ]
    assert snapshot.filled_qty == D("0.4")
