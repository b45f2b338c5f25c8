"""The per-intent rules of the risk manager: numbers, rounding, entry price, reservations.

Pure functions of an intent, an instrument, a book and the open orders; each
refusal raises :class:`Refused`, which the risk manager turns into a recorded
:class:`~shared.trading.types.Rejection`. Reason codes match the paper
broker's (``shared.trading.instrument``) so one vocabulary reaches the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

from shared.book import OrderBook
from shared.trading.instrument import round_price
from shared.trading.portfolio import EXACT, ZERO, Key
from shared.trading.types import Bracket, Instrument, Order, OrderIntent, OrderType, Side


class Refused(Exception):
    """One rule refused the intent (becomes a :class:`Rejection`)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def check_numbers(intent: OrderIntent) -> None:
    if intent.qty is not None:
        if not intent.qty.is_finite():
            raise Refused("nan_qty", f"size is {intent.qty}")
        if intent.qty <= 0:
            raise Refused("non_positive_qty", f"size {intent.qty} must be > 0")
    fraction = intent.size_fraction
    if not fraction.is_finite() or not 0 < fraction <= 1:
        raise Refused("bad_size_fraction", f"size_fraction {fraction} must be in (0, 1]")
    _check_price("price", intent.price)
    _check_price("stop_price", intent.stop_price)
    if intent.bracket is not None:
        _check_price("stop_loss", intent.bracket.stop_loss)
        _check_price("take_profit", intent.bracket.take_profit)
    if intent.type in (OrderType.LIMIT, OrderType.TAKE_PROFIT) and intent.price is None:
        raise Refused("missing_price", f"a {intent.type} order needs a price")
    if intent.type is OrderType.STOP_MARKET and intent.stop_price is None:
        raise Refused("missing_price", "a stop_market order needs a stop_price")


def _check_price(name: str, value: Decimal | None) -> None:
    if value is None:
        return
    if not value.is_finite():
        raise Refused("nan_price", f"{name} is {value}")
    if value <= 0:
        raise Refused("non_positive_price", f"{name} {value} must be > 0")


def on_tick(value: Decimal, side: Side, instrument: Instrument) -> Decimal:
    """``value`` on the tick, never more aggressive than asked (buys down, sells up)."""
    rounded = round_price(instrument, value, side)
    if rounded <= 0:
        # Below one tick: no price on the grid is this order, so it cannot be rounded.
        raise Refused(
            "price_off_tick", f"{value} rounds to {rounded} on tick {instrument.tick_size}"
        )
    return rounded


def rounded_prices(
    intent: OrderIntent, instrument: Instrument
) -> tuple[Decimal | None, Decimal | None]:
    """Price and stop on the tick, never more aggressive than asked (buys down, sells up)."""
    price, stop, side = intent.price, intent.stop_price, intent.side
    return (
        None if price is None else on_tick(price, side, instrument),
        None if stop is None else on_tick(stop, side, instrument),
    )


def rounded_bracket(intent: OrderIntent, instrument: Instrument) -> Bracket | None:
    """The exit legs of a long entry on the tick, as the sells they will be."""
    bracket = intent.bracket
    if bracket is None:
        return None
    if intent.side != "buy":
        raise Refused("bad_bracket", "brackets exit a long: only a buy entry can carry one")
    legs = [
        None if value is None else round_price(instrument, value, "sell")
        for value in (bracket.stop_loss, bracket.take_profit)
    ]
    stop, take = legs
    if any(leg is not None and leg <= 0 for leg in legs):
        raise Refused("price_off_tick", f"bracket {bracket} rounds to zero on the tick")
    if stop is not None and take is not None and not stop < take:
        raise Refused("bad_bracket", f"stop_loss {stop} must be below take_profit {take}")
    return Bracket(stop_loss=stop, take_profit=take)


def entry_price(
    intent: OrderIntent, price: Decimal | None, stop: Decimal | None, book: OrderBook | None
) -> Decimal:
    """The price sizing and cash checks assume: the limit, the stop trigger, or the touch."""
    if intent.type in (OrderType.LIMIT, OrderType.TAKE_PROFIT) and price is not None:
        return price
    if intent.type is OrderType.STOP_MARKET and stop is not None:
        return stop
    if book is not None:
        touch = book.best_ask_price() if intent.side == "buy" else book.best_bid_price()
        if touch is not None:
            return book.price(touch)
    raise Refused("book_resync", "no price to size a market order against: the book is empty")


def reserved_buys(
    open_orders: Sequence[Order], fee_rate: Decimal, fallback: Decimal
) -> Decimal:
    """Cash promised to open buys: remaining size at their price, plus the fee.

    A market buy still travelling has no price of its own: ``fallback`` (the
    current entry price) stands in for it.
    """
    with localcontext(EXACT):
        return sum(
            (o.remaining * (o.price or o.stop_price or fallback) * (1 + fee_rate)
             for o in open_orders if o.side == "buy" and o.is_open),
            ZERO,
        )


def reserved_sells(open_orders: Sequence[Order], key: Key) -> Decimal:
    """Base promised to open sells in ``key``; the two legs of an OCO count once."""
    sells = {
        o.id: o for o in open_orders
        if o.side == "sell" and o.is_open and (o.exchange, o.symbol) == key
    }
    total = ZERO
    for order in sells.values():
        partner = sells.get(order.oco_id) if order.oco_id is not None else None
        if partner is None:
            total += order.remaining
        elif order.id < partner.id:
            total += max(order.remaining, partner.remaining)
    return total
