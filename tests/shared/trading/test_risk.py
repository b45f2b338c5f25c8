"""The risk manager: bad input refused with a reason, sizing, limits, breaker and kill switch."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from shared.book import OrderBook
from shared.clock import ManualClock
from shared.config.trading import RiskConfig
from shared.trading.instrument import round_qty
from shared.trading.portfolio import NS_PER_DAY, Portfolio
from shared.trading.risk import FLATTEN_TAG, RiskManager
from shared.trading.types import (
    Bracket,
    CancelIntent,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Rejection,
    TimeInForce,
)

D = Decimal
T0 = 10 * NS_PER_DAY + 3_600 * 10**9
EX, SYM = "binanceus", "BTC/USDT"
KEY = (EX, SYM)
INSTRUMENT = Instrument(
    EX, SYM, tick_size=D("0.01"), lot_size=D("0.0001"), min_notional=D(10),
    maker_fee=D("0.001"), taker_fee=D("0.002"),
)


def make_book(bid: str = "99.99", ask: str = "100.01", ts: int = T0) -> OrderBook:
    book = OrderBook(EX, SYM, price_decimals=2, size_decimals=4)
    book.load_snapshot([(int(D(bid) * 100), 50_000)], [(int(D(ask) * 100), 50_000)])
    book.ts_recv_ns = ts
    return book


def intent(**kw: Any) -> OrderIntent:
    base: dict[str, Any] = {
        "strategy": "s1", "exchange": EX, "symbol": SYM, "side": "buy",
        "type": OrderType.LIMIT, "qty": D(1), "price": D(100),
    }
    base.update(kw)
    return OrderIntent(**base)


def open_order(order_id: int, side: str, qty: str, price: str | None, **kw: Any) -> Order:
    return Order(
        order_id, "s1", EX, SYM, side, OrderType.LIMIT if price else OrderType.MARKET,  # type: ignore[arg-type]
        D(qty), None if price is None else D(price), None, TimeInForce.GTC, False, T0, T0,
        status=OrderStatus.OPEN, **kw,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def portfolio() -> Portfolio:
    return Portfolio("s1", D(10_000))


def buy_position(p: Portfolio, qty: str, price: str) -> None:
    p.apply(Fill(1, p.strategy, EX, SYM, "buy", D(price), D(qty), D(0), Liquidity.TAKER, T0))


def check(
    risk: RiskManager, i: OrderIntent, p: Portfolio, book: OrderBook | None = None,
    orders: list[Order] | None = None,
) -> Order | Rejection:
    return risk.check(i, p, make_book() if book is None else book, INSTRUMENT, orders or [])


def reason(outcome: Order | Rejection) -> str:
    assert isinstance(outcome, Rejection), f"expected a rejection, got {outcome}"
    assert outcome.detail
    return outcome.reason


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"qty": D("NaN")}, "nan_qty"),
        ({"qty": D("Infinity")}, "nan_qty"),
        ({"qty": D(0)}, "non_positive_qty"),
        ({"qty": D(-1)}, "non_positive_qty"),
        ({"price": D("NaN")}, "nan_price"),
        ({"price": D(-5)}, "non_positive_price"),
        ({"price": None}, "missing_price"),
        ({"size_fraction": D("1.5")}, "bad_size_fraction"),
        ({"symbol": "ETH/USDT"}, "unknown_symbol"),
        ({"price": D("0.001")}, "price_off_tick"),
        ({"qty": D("0.00001")}, "below_min_qty"),
        ({"qty": D("0.05")}, "below_min_notional"),
        ({"bracket": Bracket(stop_loss=D(110), take_profit=D(105))}, "bad_bracket"),
    ],
)
def test_bad_intents_are_rejected_with_a_reason(
    clock: ManualClock, portfolio: Portfolio, fields: dict[str, Any], code: str
) -> None:
    risk = RiskManager(RiskConfig(), clock)

    outcome = check(risk, intent(**fields), portfolio)

    assert reason(outcome) == code
    assert isinstance(outcome, Rejection)
    assert outcome.strategy == "s1" and outcome.ts_ns == T0


def test_a_stale_or_resyncing_book_is_refused(clock: ManualClock, portfolio: Portfolio) -> None:
    risk = RiskManager(RiskConfig(stale_book_s=5), clock)
    empty = OrderBook(EX, SYM)
    empty.ts_recv_ns = T0

    assert reason(check(risk, intent(), portfolio, make_book(ts=T0 - 6 * 10**9))) == "stale_book"
    assert reason(risk.check(intent(), portfolio, empty, INSTRUMENT, [])) == "book_resync"
    assert reason(risk.check(intent(), portfolio, None, INSTRUMENT, [])) == "book_resync"
    assert isinstance(check(risk, intent(), portfolio, make_book(ts=T0 - 4 * 10**9)), Order)


def test_the_kill_switch_refuses_everything_until_turned_off(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(kill_switch=True), clock)
    assert reason(check(risk, intent(), portfolio)) == "kill_switch"

    risk.set_kill_switch(False)

    assert isinstance(check(risk, intent(), portfolio), Order)


# -- accepted orders and sizing -------------------------------------------------------------


def test_an_accepted_intent_becomes_a_pending_order_for_the_broker_to_number(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(), clock)

    order = check(risk, intent(price=D("100.009"), tag="why"), portfolio)

    assert isinstance(order, Order)
    assert order.id == 0 and order.status is OrderStatus.PENDING
    assert order.created_ns == order.arrive_ns == T0
    assert order.price == D("100.00")  # off tick: rounded to the passive side
    assert (order.qty, order.tag) == (D(1), "why")


def test_a_sell_price_off_tick_rounds_up(clock: ManualClock, portfolio: Portfolio) -> None:
    buy_position(portfolio, "1", "100")
    risk = RiskManager(RiskConfig(), clock)

    order = check(risk, intent(side="sell", price=D("100.001")), portfolio)

    assert isinstance(order, Order) and order.price == D("100.01")


def test_size_is_equity_at_risk_over_the_stop_distance(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(risk_per_trade=0.01), clock)
    # 1% of 10,000 = 100 at risk; 10 per unit to the stop: 10 units, 1,000 notional.
    sized = intent(qty=None, bracket=Bracket(stop_loss=D(90), take_profit=D(120)))

    full = check(risk, sized, portfolio)
    half = check(risk, replace(sized, size_fraction=D("0.5")), portfolio)
    via_stop_price = check(risk, intent(qty=None, stop_price=D(90)), portfolio)

    assert isinstance(full, Order) and full.qty == D(10)
    assert full.bracket == Bracket(D(90), D(120))
    assert isinstance(half, Order) and half.qty == D(5)
    assert isinstance(via_stop_price, Order) and via_stop_price.qty == D(10)


def test_a_tight_stop_is_capped_at_the_largest_position(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(risk_per_trade=0.01, max_position_fraction=0.25), clock)

    order = check(risk, intent(qty=None, stop_price=D(99)), portfolio)  # 100 units uncapped

    assert isinstance(order, Order) and order.qty == D(25)  # 2,500 = 25% of equity


def test_without_a_stop_size_is_the_largest_position_scaled(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(max_position_fraction=0.2), clock)

    order = check(risk, intent(qty=None, type=OrderType.MARKET, price=None,
                               size_fraction=D("0.5")), portfolio)

    # 10,000 * 0.2 * 0.5 = 1,000 at the ask of 100.01, rounded down to the lot.
    assert isinstance(order, Order)
    assert order.qty == round_qty(INSTRUMENT, D(1_000) / D("100.01"))


def test_total_exposure_is_capped_across_positions(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    buy_position(portfolio, "30", "100")  # 3,000 held of 10,000 equity
    risk = RiskManager(RiskConfig(max_position_fraction=0.25, max_exposure_fraction=0.4), clock)
    eth = Instrument(EX, "ETH/USDT", D("0.01"), D("0.0001"))
    eth_book = make_book()
    eth_book.symbol = "ETH/USDT"

    order = risk.check(intent(symbol="ETH/USDT", qty=D(20)), portfolio, eth_book, eth, [])

    assert isinstance(order, Order) and order.qty == D(10)  # 4,000 cap - 3,000 held


def test_a_market_already_at_its_cap_is_refused(clock: ManualClock, portfolio: Portfolio) -> None:
    buy_position(portfolio, "25", "100")
    risk = RiskManager(RiskConfig(), clock)

    assert reason(check(risk, intent(), portfolio)) == "max_position"


# -- account limits -------------------------------------------------------------------------


def test_selling_more_than_held_or_already_offered_is_refused(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    buy_position(portfolio, "2", "100")
    risk = RiskManager(RiskConfig(), clock)
    resting = [open_order(7, "sell", "1.5", "110")]

    assert reason(check(risk, intent(side="sell", qty=D(3)), portfolio)) == (
        "insufficient_position"
    )
    assert reason(check(risk, intent(side="sell", qty=D(1)), portfolio, orders=resting)) == (
        "insufficient_position"
    )
    exit_all = check(risk, intent(side="sell", qty=None), portfolio, orders=resting)
    assert isinstance(exit_all, Order) and exit_all.qty == D("0.5")


def test_the_two_legs_of_an_oco_reserve_the_position_once(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    buy_position(portfolio, "2", "100")
    risk = RiskManager(RiskConfig(), clock)
    legs = [
        open_order(3, "sell", "1", "120", oco_id=4),
        open_order(4, "sell", "1", "90", oco_id=3),
    ]

    assert isinstance(check(risk, intent(side="sell", qty=D(1)), portfolio, orders=legs), Order)


def test_cash_reserved_by_open_buys_and_fees_counts_as_spent(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(max_position_fraction=0.25), clock)
    eth_bid = [replace(open_order(9, "buy", "40", "200"), symbol="ETH/USDT")]  # 8,016 reserved
    dot_bid = [replace(open_order(9, "buy", "19", "100"), symbol="DOT/USDT")]

    assert reason(check(risk, intent(qty=D(20)), portfolio, orders=eth_bid)) == (
        "insufficient_cash"
    )
    ok = check(risk, intent(qty=D(19)), portfolio, orders=dot_bid)
    assert isinstance(ok, Order)


def test_max_open_positions_blocks_a_new_market_but_not_adding(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    buy_position(portfolio, "1", "100")
    risk = RiskManager(RiskConfig(max_open_positions=2), clock)
    other = [replace(open_order(5, "buy", "1", "50"), symbol="ETH/USDT")]
    new_market = Instrument(EX, "SOL/USDT", D("0.01"), D("0.0001"))
    sol_book = make_book()
    sol_book.symbol = "SOL/USDT"

    refused = risk.check(intent(symbol="SOL/USDT"), portfolio, sol_book, new_market, other)

    assert reason(refused) == "max_open_positions"
    assert isinstance(check(risk, intent(), portfolio, orders=other), Order)


def test_the_daily_loss_limit_stops_entries_until_utc_midnight(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(daily_loss_limit=0.03, max_drawdown=0.5), clock)
    buy_position(portfolio, "20", "100")
    portfolio.update_mark(KEY, D(84))  # -320 = 3.2% of the day's 10,000
    risk.on_time([portfolio], T0)

    assert reason(check(risk, intent(), portfolio)) == "daily_loss_limit"
    sell = check(risk, intent(side="sell", qty=D(1), price=D(84)), portfolio)
    assert isinstance(sell, Order)  # exits are never blocked by the loss budget

    clock.set_ns((T0 // NS_PER_DAY + 1) * NS_PER_DAY)
    risk.on_time([portfolio], clock.time_ns())

    assert isinstance(check(risk, intent(price=D(84), qty=D("0.5")), portfolio,
                             make_book(ts=clock.time_ns())), Order)


# -- the circuit breaker --------------------------------------------------------------------


def test_the_drawdown_breaker_flattens_cancels_and_pauses_until_reset(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    resting = [open_order(11, "buy", "1", "50")]
    risk = RiskManager(
        RiskConfig(max_drawdown=0.1, daily_loss_limit=1.0), clock,
        open_orders=lambda strategy: resting if strategy == "s1" else [],
    )
    buy_position(portfolio, "25", "100")
    portfolio.update_mark(KEY, D(55))  # equity 8,875: 11.25% below 10,000

    intents = risk.on_time([portfolio], T0)

    assert intents[0] == CancelIntent("s1", 11)
    flatten = intents[1]
    assert isinstance(flatten, OrderIntent)
    assert (flatten.side, flatten.type, flatten.qty, flatten.tag) == (
        "sell", OrderType.MARKET, D(25), FLATTEN_TAG
    )
    assert reason(check(risk, intent(), portfolio)) == "circuit_breaker"
    resting[:] = [open_order(12, "sell", "25", None)]  # the broker now works the flatten
    assert risk.on_time([portfolio], T0) == []  # so it is not sent twice
    resting.clear()
    assert [getattr(i, "qty", None) for i in risk.on_time([portfolio], T0)] == [D(25)]
    # Its own flatten passes even the kill switch and a forged copy does not.
    risk.set_kill_switch(True)
    assert reason(check(risk, replace(flatten), portfolio)) == "kill_switch"
    order = check(risk, flatten, portfolio)
    assert isinstance(order, Order) and order.qty == D(25)

    risk.set_kill_switch(False)
    portfolio.apply(Fill(2, "s1", EX, SYM, "sell", D(55), D(25), D(0), Liquidity.TAKER, T0))
    risk.reset("s1", portfolio)

    assert portfolio.drawdown() == 0
    assert isinstance(check(risk, intent(qty=D(1)), portfolio), Order)


def test_a_fill_that_breaches_the_drawdown_trips_the_breaker_at_once(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(max_drawdown=0.05), clock)
    buy_position(portfolio, "10", "100")
    loss = Fill(3, "s1", EX, SYM, "sell", D(40), D(10), D(1), Liquidity.TAKER, T0)
    portfolio.apply(loss)

    assert risk.after_fill(portfolio, loss) == []  # nothing held to flatten
    assert "s1" in risk.paused


def test_the_breaker_trips_on_a_slide_that_earlier_ticks_found_safe(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(max_drawdown=0.1, daily_loss_limit=1.0), clock)
    buy_position(portfolio, "25", "100")
    tripped = []

    for mark in ("99", "96", "98", "70", "61", "60"):  # equity 9,975 ... 9,000 ... 8,750
        portfolio.update_mark(KEY, D(mark))
        tripped.append(bool(risk.on_time([portfolio], T0)))

    # 9,025 (mark 61) is 9.75% down: still under; 9,000 (mark 60) is exactly 10%.
    assert tripped == [False, False, False, False, False, True]
    assert "s1" in risk.paused


def test_a_new_high_resets_what_the_breaker_knew_to_be_safe(
    clock: ManualClock, portfolio: Portfolio
) -> None:
    risk = RiskManager(RiskConfig(max_drawdown=0.1, daily_loss_limit=1.0), clock)
    buy_position(portfolio, "25", "100")
    portfolio.update_mark(KEY, D(65))  # 9,125: 8.75% under the 10,000 start
    assert risk.on_time([portfolio], T0) == []
    portfolio.update_mark(KEY, D(200))  # 12,500: a new peak
    assert risk.on_time([portfolio], T0) == []

    portfolio.update_mark(KEY, D(150))  # 11,250: 10% under the new peak, above the old safe level

    assert risk.on_time([portfolio], T0) and "s1" in risk.paused
