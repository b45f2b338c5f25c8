"""Invariants of the paper broker over random order and market-event streams."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.trading.types import Bracket, Liquidity, OrderStatus, OrderType, OrderUpdate, Side

from .broker_helpers import MS, D, make_book, make_broker, order, set_level, trade

PRICES = [f"{99 + i / 10:.2f}" for i in range(21)]  # 99.00 .. 101.00
SIZES = ["0.1", "0.25", "0.5", "1", "2"]

_submit = st.tuples(
    st.just("submit"),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET]),
    st.sampled_from(SIZES),
    st.sampled_from(PRICES),
    st.booleans(),
)
_level = st.tuples(st.just("level"), st.sampled_from(["bid", "ask"]), st.sampled_from(PRICES),
                   st.sampled_from(["0", *SIZES]))
_print = st.tuples(st.just("print"), st.sampled_from(PRICES), st.sampled_from(SIZES),
                   st.sampled_from(["buy", "sell"]))
_cancel = st.tuples(st.just("cancel"), st.integers(1, 30))
EVENTS = st.lists(st.one_of(_submit, _level, _print, _print, _cancel), min_size=10, max_size=60)


def _side(value: object) -> Side:
    return "buy" if value == "buy" else "sell"


def _run(events: list[tuple[object, ...]]) -> list[OrderUpdate]:
    broker, clock = make_broker()
    book = make_book()
    out = [broker.on_book(book)]
    for event in events:
        clock.advance_ns(20 * MS)
        match event:
            case ("submit", side, kind, qty, price, with_bracket):
                limit = str(price) if kind is OrderType.LIMIT else None
                stop = str(price) if kind is OrderType.STOP_MARKET else None
                bracket = Bracket(D("98.00"), D("102.00")) if with_bracket else None
                if side == "sell" and bracket is not None:
                    bracket = Bracket(D("102.00"), D("98.00"))
                out.append(broker.submit(order(
                    _side(side), str(qty), OrderType(str(kind)), price=limit, stop=stop,
                    bracket=bracket)))
            case ("level", side, price, size):
                set_level(book, str(side), str(price), str(size))
                if not book.is_crossed():
                    out.append(broker.on_book(book))
                else:
                    set_level(book, str(side), str(price), "0")
            case ("print", price, size, side):
                out.append(broker.on_trade(trade(str(price), str(size), _side(side))))
            case ("cancel", order_id):
                out.append(broker.cancel(int(str(order_id)), "test"))
    return out


@settings(max_examples=150, deadline=None)
@given(EVENTS)
def test_fills_add_up_respect_limits_and_repeat_exactly(events: list[tuple[object, ...]]) -> None:
    updates = _run(events)

    last = {o.id: o for u in updates for o in u.orders}
    filled: dict[int, Decimal] = {}
    for update in updates:
        for fill in update.fills:
            filled[fill.order_id] = filled.get(fill.order_id, Decimal(0)) + fill.qty
            order = last[fill.order_id]
            assert fill.qty > 0
            limit = order.price
            if order.type is OrderType.LIMIT and limit is not None:
                # a limit never fills worse than its price
                assert fill.price <= limit if order.side == "buy" else fill.price >= limit
            if fill.liquidity is Liquidity.MAKER:
                assert order.price is not None and fill.price == order.price
    for order_id, order in last.items():
        assert filled.get(order_id, Decimal(0)) == order.filled_qty <= order.qty
        assert order.queue_ahead >= 0
        if order.status is OrderStatus.FILLED:
            assert order.filled_qty == order.qty
    ids = {o.id for u in updates for o in u.orders}
    assert ids == set(range(1, len(ids) + 1))  # every id reported, none skipped
    assert updates == _run(events)
