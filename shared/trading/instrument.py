"""A market's trading rules applied to paper orders: tick, lot and minimums.

The risk manager rounds what strategies ask for; the paper broker checks again
what reaches it, because an order that a real venue would refuse must not fill
on paper either. Every check returns a :class:`Violation` (a short reason code
and a sentence) instead of raising, so a bad order is recorded and nothing stops.

Rounding never makes an order more aggressive than asked: a buy limit rounds
down to the tick, a sell limit up, a quantity down to the lot. All arithmetic is
exact ``Decimal`` (``divmod`` by the step, never a float).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.trading.types import Instrument, Order, OrderType, Rejection, Side, TimeInForce

_PRICED = (OrderType.LIMIT, OrderType.TAKE_PROFIT)


@dataclass(frozen=True, slots=True)
class Violation:
    """Why an order breaks the market's rules: a reason code and what was wrong."""

    reason: str
    """``nan_qty``, ``non_positive_qty``, ``qty_off_lot``, ``below_min_qty``,
    ``missing_price``, ``nan_price``, ``non_positive_price``, ``price_off_tick``,
    ``below_min_notional``, ``bad_bracket``, ``invalid_order``."""
    detail: str

    def rejection(self, order: Order, ts_ns: int) -> Rejection:
        """This violation as the :class:`Rejection` of ``order``."""
        return Rejection(
            order.strategy, order.exchange, order.symbol, self.reason, self.detail, ts_ns,
            order.id or None,
        )


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` not above ``value`` (``value`` >= 0, ``step`` > 0)."""
    whole, _ = divmod(value, step)
    return whole * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of ``step`` not below ``value`` (``value`` >= 0, ``step`` > 0)."""
    whole, rest = divmod(value, step)
    return (whole + 1) * step if rest else whole * step


def is_on_step(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is an exact multiple of ``step`` (always true for a zero step)."""
    return step <= 0 or value % step == 0


def round_price(instrument: Instrument, price: Decimal, side: Side) -> Decimal:
    """A limit or stop price on the tick, never more aggressive: buys down, sells up.

    For a stop this moves the trigger toward the market (a sell stop up, a buy
    stop down), so the stop fires no later than asked.
    """
    tick = instrument.tick_size
    return floor_to_step(price, tick) if side == "buy" else ceil_to_step(price, tick)


def round_qty(instrument: Instrument, qty: Decimal) -> Decimal:
    """A quantity down to the lot: never more than asked."""
    return floor_to_step(qty, instrument.lot_size)


def check_qty(instrument: Instrument, qty: object) -> Violation | None:
    """A quantity the venue would accept: finite, positive, on the lot, above the minimum."""
    if not isinstance(qty, Decimal):
        return Violation("invalid_order", f"quantity {qty!r} is not a Decimal")
    if not qty.is_finite():
        return Violation("nan_qty", f"quantity is {qty}")
    if qty <= 0:
        return Violation("non_positive_qty", f"quantity {qty} must be > 0")
    if not is_on_step(qty, instrument.lot_size):
        return Violation("qty_off_lot", f"quantity {qty} is not a multiple of the lot "
                         f"{instrument.lot_size}")
    if qty < instrument.min_qty:
        return Violation("below_min_qty", f"quantity {qty} is below the minimum "
                         f"{instrument.min_qty}")
    return None


def check_price(instrument: Instrument, price: object, name: str = "price") -> Violation | None:
    """A price the venue would accept: present, finite, positive and on the tick."""
    if price is None:
        return Violation("missing_price", f"the order needs a {name}")
    if not isinstance(price, Decimal):
        return Violation("invalid_order", f"{name} {price!r} is not a Decimal")
    if not price.is_finite():
        return Violation("nan_price", f"{name} is {price}")
    if price <= 0:
        return Violation("non_positive_price", f"{name} {price} must be > 0")
    if not is_on_step(price, instrument.tick_size):
        return Violation("price_off_tick", f"{name} {price} is not a multiple of the tick "
                         f"{instrument.tick_size}")
    return None


def check_notional(instrument: Instrument, price: Decimal, qty: Decimal) -> Violation | None:
    """``price * qty`` at or above the venue's minimum order value."""
    if price * qty < instrument.min_notional:
        return Violation("below_min_notional", f"{qty} @ {price} = {price * qty} is below the "
                         f"minimum notional {instrument.min_notional}")
    return None


def check_order(instrument: Instrument, order: Order) -> Violation | None:
    """Everything about ``order`` that can be checked before it meets the book.

    A market order's notional depends on the prices it will meet, so the broker
    checks it on arrival against the best opposite price.
    """
    if order.side not in ("buy", "sell"):
        return Violation("invalid_order", f"side {order.side!r} is neither buy nor sell")
    if not isinstance(order.type, OrderType):
        return Violation("invalid_order", f"order type {order.type!r} is unknown")
    if not isinstance(order.tif, TimeInForce):
        return Violation("invalid_order", f"time in force {order.tif!r} is unknown")
    problem = check_qty(instrument, order.qty)
    if problem is not None:
        return problem
    if order.type in _PRICED:
        problem = check_price(instrument, order.price)
        if problem is None and order.price is not None:
            problem = check_notional(instrument, order.price, order.qty)
    elif order.type is OrderType.STOP_MARKET:
        problem = check_price(instrument, order.stop_price, "stop_price")
    if problem is not None:
        return problem
    if order.post_only and order.type not in _PRICED:
        return Violation("invalid_order", f"post_only needs a limit order, not {order.type}")
    bracket = order.bracket
    if bracket is not None:
        for name, value in (("stop_loss", bracket.stop_loss), ("take_profit", bracket.take_profit)):
            if value is not None:
                problem = check_price(instrument, value, f"bracket {name}")
                if problem is not None:
                    return problem
        stop, take = bracket.stop_loss, bracket.take_profit
        if stop is not None and take is not None:
            # The stop protects the entry from the losing side, the target sits on the winning one.
            losing_below = order.side == "buy"
            if (stop >= take) if losing_below else (stop <= take):
                return Violation("bad_bracket", f"stop_loss {stop} and take_profit {take} are on "
                                 f"the wrong sides for a {order.side} entry")
    return None
