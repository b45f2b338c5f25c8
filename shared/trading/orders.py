"""The paper broker's order bookkeeping: ids, open orders, fills, OCO links and brackets.

``shared.trading.broker`` decides *when* and *at what price* an order fills;
this module records what that means: fees, average price, status, the report
to the ledger, and the orders that follow from a fill (an OCO sibling shrunk or
cancelled, a bracket's exit legs placed). See the broker's docstring for the
rules; they are implemented here once for book and candle mode alike.
"""

from __future__ import annotations

from bisect import insort
from decimal import Decimal

from shared.trading.instrument import Violation
from shared.trading.matching import ZERO, MarketState
from shared.trading.types import (
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)

Key = tuple[str, str]
"""(exchange, symbol)."""


def by_arrival(order: Order) -> tuple[int, int]:
    """Sort key: the order orders reach the exchange in."""
    return order.arrive_ns, order.id


def by_id(order: Order) -> int:
    """Sort key: time priority."""
    return order.id


def fill_status(order: Order) -> OrderStatus:
    """OPEN, PARTIALLY_FILLED or FILLED from what has filled so far."""
    if order.filled_qty >= order.qty:
        return OrderStatus.FILLED
    return OrderStatus.PARTIALLY_FILLED if order.filled_qty > 0 else OrderStatus.OPEN


class OrderKeeper:
    """Every order the broker knows that can still change, by market and by id."""

    def __init__(self, instruments: dict[Key, Instrument], latency_ns: int, first_id: int) -> None:
        self.instruments = instruments
        self.latency_ns = latency_ns
        self.next_id = first_id
        self.markets: dict[Key, MarketState] = {}
        self.open: dict[int, Order] = {}
        """Open orders (pending included) by id."""
        self.notional: dict[int, Decimal] = {}
        """Exact sum of price * qty filled, per open order: avg_price is derived from it."""

    def fill(
        self,
        market: MarketState,
        order: Order,
        price: Decimal,
        qty: Decimal,
        liquidity: Liquidity,
        now: int,
        update: OrderUpdate,
    ) -> None:
        """Record one execution: fee in quote currency, exact average price, the Fill."""
        instrument = instrument_of(market)
        rate = instrument.maker_fee if liquidity is Liquidity.MAKER else instrument.taker_fee
        value = price * qty
        fee = value * rate
        notional = self.notional.get(order.id, ZERO) + value
        self.notional[order.id] = notional
        order.filled_qty += qty
        order.avg_price = notional / order.filled_qty
        order.fees += fee
        order.updated_ns = now
        update.fills.append(
            Fill(order.id, order.strategy, order.exchange, order.symbol, order.side, price, qty,
                 fee, liquidity, now)
        )

    def settle(
        self, market: MarketState, order: Order, filled: Decimal, now: int, update: OrderUpdate
    ) -> None:
        """Report ``order``'s new state, then what its fills mean for OCO and brackets."""
        order.updated_ns = now
        self.emit(order, update)
        if not order.is_open:
            self.close(market, order)
        if filled > 0:
            self._oco(order, filled, now, update)
            self._bracket(market, order, filled, now, update)

    def _oco(self, order: Order, filled: Decimal, now: int, update: OrderUpdate) -> None:
        """A fill on one leg takes as much off the other; a leg filled in full cancels it."""
        sibling = None if order.oco_id is None else self.open.get(order.oco_id)
        if sibling is None:
            return
        if order.remaining <= 0 or sibling.remaining <= filled:
            self.cancel(sibling, "oco_filled", now, update)
            return
        sibling.qty -= filled
        sibling.updated_ns = now
        self.emit(sibling, update)

    def _bracket(
        self, market: MarketState, entry: Order, filled: Decimal, now: int, update: OrderUpdate
    ) -> None:
        """Exit legs for what ``entry`` just filled: an OCO pair, or one leg if one is set."""
        bracket = entry.bracket
        if bracket is None:
            return
        side: Side = "sell" if entry.side == "buy" else "buy"
        legs: list[Order] = []
        for kind, price, stop in (
            (OrderType.STOP_MARKET, None, bracket.stop_loss),
            (OrderType.TAKE_PROFIT, bracket.take_profit, None),
        ):
            if price is None and stop is None:
                continue
            legs.append(Order(
                id=self.new_id(), strategy=entry.strategy, exchange=entry.exchange,
                symbol=entry.symbol, side=side, type=kind, qty=filled, price=price,
                stop_price=stop, tif=TimeInForce.GTC, post_only=False, created_ns=now,
                arrive_ns=now + self.latency_ns, parent_id=entry.id, tag="bracket",
                updated_ns=now,
            ))
        if len(legs) == 2:
            legs[0].oco_id, legs[1].oco_id = legs[1].id, legs[0].id
        for leg in legs:
            self.add_pending(market, leg)
            self.emit(leg, update)

    def cancel(
        self,
        order: Order,
        reason: str,
        now: int,
        update: OrderUpdate,
        market: MarketState | None = None,
    ) -> None:
        """Cancel ``order`` now with ``reason`` and report it."""
        order.status = OrderStatus.CANCELLED
        order.reason = reason
        order.updated_ns = now
        self.close(market or self.markets[(order.exchange, order.symbol)], order)
        self.emit(order, update)

    def reject(
        self,
        market: MarketState | None,
        order: Order,
        problem: Violation,
        now: int,
        update: OrderUpdate,
    ) -> None:
        """Reject ``order``: reported as an order change and as a :class:`Rejection`."""
        order.status = OrderStatus.REJECTED
        order.reason = problem.reason
        order.updated_ns = now
        if market is not None:
            self.close(market, order)
        self.emit(order, update)
        update.rejections.append(problem.rejection(order, now))

    def close(self, market: MarketState, order: Order) -> None:
        """Forget an order that can no longer change."""
        self.open.pop(order.id, None)
        self.notional.pop(order.id, None)
        market.drop(order)

    def add_pending(self, market: MarketState, order: Order) -> None:
        """Hold ``order`` until it reaches the exchange."""
        self.open[order.id] = order
        insort(market.pending, order, key=by_arrival)

    def market(self, key: Key) -> MarketState:
        """The state of one market, created on first use."""
        market = self.markets.get(key)
        if market is None:
            market = self.markets[key] = MarketState(key, self.instruments.get(key))
        return market

    def new_id(self) -> int:
        """The next order id: one sequence for submitted orders, stop children and legs."""
        order_id = self.next_id
        self.next_id += 1
        return order_id

    @staticmethod
    def emit(order: Order, update: OrderUpdate) -> None:
        """Report ``order`` as it is now: a copy, so later changes do not rewrite it."""
        update.orders.append(order.__copy__())


NO_BOOK = Violation(
    "no_book", "the book has no levels on the side the order needs (empty or resyncing)"
)



def instrument_of(market: MarketState) -> Instrument:
    """The market's instrument; every market holding an order has one."""
    instrument = market.instrument
    if instrument is None:  # submit and restore set it before any order reaches a market
        raise RuntimeError(f"{market.key}: an order without an instrument")
    return instrument
