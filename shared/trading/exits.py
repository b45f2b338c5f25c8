"""Why a round trip ended, read off the order that made it flat.

A round trip (:func:`shared.trading.metrics.round_trips`) keeps the id of the
order whose fill closed it; the order history (the ledger's order events) says
what that order was:

* ``breaker``: the risk manager's flatten after the circuit breaker tripped
  (tag :data:`~shared.trading.risk.FLATTEN_TAG`);
* ``stop``: the market child of a stop order (a bracket's stop-loss or a stop of
  the strategy's own);
* ``take-profit``: a take-profit order (a bracket's);
* ``signal``: any other order the strategy sent (its exit rule; the order's tag,
  ``trend: death cross`` say, tells which);
* ``end of backtest``: still open when the events ran out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from shared.trading.metrics import RoundTrip
from shared.trading.risk import FLATTEN_TAG
from shared.trading.types import Order, OrderType

STOP: Final = "stop"
TAKE_PROFIT: Final = "take-profit"
SIGNAL: Final = "signal"
BREAKER: Final = "breaker"
END_OF_BACKTEST: Final = "end of backtest"
EXIT_REASONS: Final = (STOP, TAKE_PROFIT, SIGNAL, BREAKER, END_OF_BACKTEST)


def latest_orders(history: Iterable[Order]) -> dict[int, Order]:
    """Each order's last recorded state, by id, from the order events oldest first."""
    return {order.id: order for order in history}


def exit_reason(trip: RoundTrip, orders: Mapping[int, Order]) -> str:
    """One of :data:`EXIT_REASONS` for ``trip``; ``orders`` from :func:`latest_orders`."""
    if not trip.closed or trip.exit_order_id is None:
        return END_OF_BACKTEST
    order = orders.get(trip.exit_order_id)
    if order is None:  # a ledger that kept no order events: the fill alone cannot say
        return SIGNAL
    if order.tag == FLATTEN_TAG:
        return BREAKER
    parent = orders.get(order.parent_id) if order.parent_id is not None else None
    if parent is not None and parent.type is OrderType.STOP_MARKET:
        return STOP
    if order.type is OrderType.TAKE_PROFIT:
        return TAKE_PROFIT
    return SIGNAL


def order_tag(order_id: int | None, orders: Mapping[int, Order]) -> str:
    """The tag an order was sent with (the strategy's reason), or ``""``."""
    order = orders.get(order_id) if order_id is not None else None
    return order.tag if order is not None else ""
