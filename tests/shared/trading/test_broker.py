"""The paper broker against a hand-built L2 book: market orders, latency, limits and queues."""

from __future__ import annotations

from shared.book import OrderBook
from shared.clock import ManualClock
from shared.trading.broker import PaperBroker
from shared.trading.types import Liquidity, OrderStatus, OrderType, OrderUpdate, TimeInForce

from .broker_helpers import (
    LATENCY_MS,
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

# -- market orders ---------------------------------------------------------------------------


def test_a_market_buy_walks_three_levels_at_their_prices_with_taker_fees() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)

    submitted = broker.submit(order("buy", "2"))
    update = arrive(broker, clock, book)

    assert submitted.orders[0].status is OrderStatus.PENDING
    assert [(f.price, f.qty) for f in update.fills] == [
        (D("100.10"), D("0.5")), (D("100.20"), D("1")), (D("100.30"), D("0.5")),
    ]
    assert all(f.liquidity is Liquidity.TAKER for f in update.fills)
    assert [f.fee for f in update.fills] == [D("0.1001"), D("0.2004"), D("0.1003")]
    done = last_state(update, submitted.orders[0].id)
    assert done.status is OrderStatus.FILLED
    assert done.avg_price == D("100.20")  # (50.05 + 100.20 + 50.15) / 2
    assert done.fees == D("0.4008")


def test_a_market_sell_walks_the_bids_down() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)

    broker.submit(order("sell", "1.5"))
    update = arrive(broker, clock, book)

    assert [(f.price, f.qty) for f in update.fills] == [(D("100.00"), D("1")),
                                                        (D("99.90"), D("0.5"))]


def test_what_the_book_cannot_fill_is_cancelled_as_insufficient_liquidity() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)

    broker.submit(order("buy", "4"))
    update = arrive(broker, clock, book)

    assert sum(f.qty for f in update.fills) == D("3")
    done = update.orders[-1]
    assert done.status is OrderStatus.CANCELLED
    assert done.reason == "insufficient_liquidity"
    assert done.filled_qty == D("3")
    assert broker.open_orders() == []


def test_two_orders_in_one_moment_do_not_fill_against_the_same_displayed_size() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)

    broker.submit(order("buy", "0.5", strategy="a"))
    broker.submit(order("buy", "0.5", strategy="b"))
    update = arrive(broker, clock, book)

    assert [(f.strategy, f.price) for f in update.fills] == [("a", D("100.10")),
                                                             ("b", D("100.20"))]


def test_taken_size_comes_back_once_the_exchange_shows_the_level_changed() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("buy", "0.5"))
    arrive(broker, clock, book)

    broker.submit(order("buy", "0.5"))
    clock.advance_ns(10 * MS)
    broker.on_book(book)  # an update elsewhere in the book: 100.10 is still what we took
    set_level(book, "ask", "100.10", "0.7")
    update = arrive(broker, clock, book)

    assert [(f.price, f.qty) for f in update.fills] == [(D("100.10"), D("0.5"))]


# -- latency ---------------------------------------------------------------------------------


def test_an_order_meets_the_book_as_it_is_after_the_latency() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    submitted = broker.submit(order("buy", "1"))

    clock.advance_ns(10 * MS)
    set_level(book, "ask", "100.10", "0")  # the best ask is lifted while our order travels
    early = broker.on_book(book)
    still_pending = broker.open_orders()[0].status
    clock.advance_ns((LATENCY_MS - 10) * MS)
    set_level(book, "ask", "100.20", "0.4")
    on_arrival = broker.on_book(book)

    assert not early and still_pending is OrderStatus.PENDING
    assert [(f.price, f.qty) for f in on_arrival.fills] == [(D("100.20"), D("0.4")),
                                                            (D("100.30"), D("0.6"))]
    assert on_arrival.fills[0].ts_ns == submitted.orders[0].created_ns + LATENCY_MS * MS


def test_a_timer_tick_lets_an_order_arrive_when_no_market_event_comes() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("buy", "0.5"))

    before = broker.on_time(clock.time_ns() + (LATENCY_MS - 1) * MS)
    after = broker.on_time(clock.time_ns() + LATENCY_MS * MS)

    assert not before
    assert [f.price for f in after.fills] == [D("100.10")]


# -- limit orders and the queue ----------------------------------------------------------------


def _resting_buy(
    qty: str = "1", ahead: str = "5"
) -> tuple[PaperBroker, ManualClock, OrderBook, int, OrderUpdate]:
    """A buy limit at the 100.00 bid with ``ahead`` displayed in front of it."""
    broker, clock = make_broker()
    book = make_book(bids=[("100.00", ahead), ("99.90", "2")])
    broker.on_book(book)
    submitted = broker.submit(order("buy", qty, OrderType.LIMIT, price="100.00"))
    update = arrive(broker, clock, book)
    return broker, clock, book, submitted.orders[0].id, update


def test_a_limit_at_the_bid_rests_behind_the_displayed_size() -> None:
    _, _, _, order_id, update = _resting_buy()

    rested = last_state(update, order_id)
    assert rested.status is OrderStatus.OPEN
    assert rested.queue_ahead == D("5")
    assert not update.fills


def test_a_resting_buy_fills_only_after_the_size_ahead_has_traded() -> None:
    broker, _, _, order_id, _ = _resting_buy()

    first = broker.on_trade(trade("100.00", "3"))
    ahead_after_first = broker.open_orders()[0].queue_ahead
    second = broker.on_trade(trade("100.00", "2.4"))  # 2 clear the queue, 0.4 reach us
    third = broker.on_trade(trade("100.00", "1"))

    assert not first.fills and ahead_after_first == D("2")
    assert [(f.price, f.qty, f.liquidity) for f in second.fills] == [
        (D("100.00"), D("0.4"), Liquidity.MAKER)]
    assert second.fills[0].fee == D("0.04")  # maker 0.1 % of 40.00
    assert last_state(second, order_id).status is OrderStatus.PARTIALLY_FILLED
    assert [f.qty for f in third.fills] == [D("0.6")]
    assert last_state(third, order_id).status is OrderStatus.FILLED


def test_touching_the_price_without_prints_never_fills_a_resting_order() -> None:
    broker, clock, book, _, _ = _resting_buy()

    set_level(book, "ask", "100.10", "0")
    set_level(book, "ask", "100.20", "0")
    set_level(book, "ask", "100.30", "0")
    set_level(book, "ask", "100.00", "3")  # the ask comes down to our bid
    clock.advance_ns(MS)
    update = broker.on_book(book)

    assert not update.fills
    assert broker.open_orders()[0].status is OrderStatus.OPEN


def test_a_print_through_the_price_fills_at_our_limit_whatever_the_queue() -> None:
    broker, _, _, order_id, _ = _resting_buy()

    update = broker.on_trade(trade("99.90", "0.3"))

    assert [(f.price, f.qty) for f in update.fills] == [(D("100.00"), D("0.3"))]
    assert last_state(update, order_id).queue_ahead == 0


def test_a_print_below_our_price_does_not_touch_a_resting_sell() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("sell", "1", OrderType.LIMIT, price="100.30"))
    arrive(broker, clock, book)

    assert not broker.on_trade(trade("100.20", "5", "buy")).fills
    assert broker.on_trade(trade("100.40", "0.2", "buy")).fills[0].price == D("100.30")


def test_cancels_at_the_level_move_the_order_up_pro_rata() -> None:
    broker, clock, book, _, _ = _resting_buy(ahead="5")
    set_level(book, "bid", "100.00", "10")  # 5 more join behind us
    clock.advance_ns(MS)
    broker.on_book(book)

    set_level(book, "bid", "100.00", "8")  # 2 cancelled, spread through the queue
    clock.advance_ns(MS)
    broker.on_book(book)

    assert broker.open_orders()[0].queue_ahead == D("4")  # 5 - 2 * 5/10


def test_a_decrease_the_prints_explain_is_not_counted_twice() -> None:
    broker, clock, book, _, _ = _resting_buy(ahead="5")

    broker.on_trade(trade("100.00", "2"))
    set_level(book, "bid", "100.00", "3")
    clock.advance_ns(MS)
    broker.on_book(book)

    assert broker.open_orders()[0].queue_ahead == D("3")


def test_a_level_that_empties_leaves_nothing_ahead_but_still_needs_a_print() -> None:
    broker, clock, book, _, _ = _resting_buy(ahead="5")

    set_level(book, "bid", "100.00", "0")
    clock.advance_ns(MS)
    quiet = broker.on_book(book)
    printed = broker.on_trade(trade("100.00", "0.25", "buy"))

    assert not quiet.fills and broker.open_orders()[0].queue_ahead == 0
    assert [f.qty for f in printed.fills] == [D("0.25")]


def test_a_resync_that_empties_the_book_does_not_count_as_cancels() -> None:
    broker, clock, book, _, _ = _resting_buy(ahead="5")

    book.clear()
    clock.advance_ns(MS)
    broker.on_book(book)

    assert broker.open_orders()[0].queue_ahead == D("5")


def test_two_paper_orders_at_one_price_share_a_print_in_time_priority() -> None:
    broker, clock = make_broker()
    book = make_book(bids=[("100.00", "1")])
    broker.on_book(book)
    broker.submit(order("buy", "1", OrderType.LIMIT, price="100.00", strategy="first"))
    broker.submit(order("buy", "1", OrderType.LIMIT, price="100.00", strategy="second"))
    arrive(broker, clock, book)

    update = broker.on_trade(trade("100.00", "2.5"))

    assert [(f.strategy, f.qty) for f in update.fills] == [("first", D("1")),
                                                           ("second", D("0.5"))]


def test_a_marketable_limit_takes_up_to_its_price_and_rests_the_rest() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    submitted = broker.submit(order("buy", "2", OrderType.LIMIT, price="100.20"))

    update = arrive(broker, clock, book)

    assert [(f.price, f.liquidity) for f in update.fills] == [
        (D("100.10"), Liquidity.TAKER), (D("100.20"), Liquidity.TAKER)]
    rested = last_state(update, submitted.orders[0].id)
    assert rested.status is OrderStatus.PARTIALLY_FILLED
    assert rested.remaining == D("0.5") and rested.queue_ahead == 0


def test_post_only_that_would_take_is_rejected() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("buy", "1", OrderType.LIMIT, price="100.10", post_only=True))

    update = arrive(broker, clock, book)

    assert not update.fills
    assert [r.reason for r in update.rejections] == ["post_only_would_take"]
    assert update.orders[-1].status is OrderStatus.REJECTED


def test_post_only_behind_the_spread_rests() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("sell", "1", OrderType.LIMIT, price="100.10", post_only=True))

    update = arrive(broker, clock, book)

    assert update.orders[-1].status is OrderStatus.OPEN
    assert update.orders[-1].queue_ahead == D("0.5")


def test_ioc_cancels_what_does_not_fill_on_arrival() -> None:
    broker, clock = make_broker()
    book = make_book()
    broker.on_book(book)
    broker.submit(order("buy", "2", OrderType.LIMIT, price="100.20", tif=TimeInForce.IOC))

    update = arrive(broker, clock, book)

    assert sum(f.qty for f in update.fills) == D("1.5")
    assert update.orders[-1].status is OrderStatus.CANCELLED
    assert update.orders[-1].reason == "ioc_remainder"
    assert broker.open_orders() == []


def test_a_book_event_with_no_open_orders_reports_nothing() -> None:
    broker, clock = make_broker()
    book = make_book()

    for _ in range(3):
        clock.advance_ns(MS)
        assert not broker.on_book(book)
        assert not broker.on_trade(trade("100.00", "1"))
