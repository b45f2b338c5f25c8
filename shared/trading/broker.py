"""The paper broker: orders meet the order book the way an exchange would fill them.

Nothing here can reach an exchange: orders live in this object and fill against
the public book and trade prints the engine hands in. The rules that decide a
fill (book walks, queue positions, prints) are in ``shared.trading.matching``,
candle-only fills in ``shared.trading.candle_fills``, and what a fill means
(fees, status, OCO siblings, bracket legs) in ``shared.trading.orders``.

Lifecycle of an order:

* :meth:`PaperBroker.submit` assigns the next id, checks the order against the
  market's rules (``shared.trading.instrument``) and holds it ``PENDING`` until
  ``created_ns + latency``. It *arrives* on the first ``on_book``/``on_trade``/
  ``on_time`` call whose time is at or after that, and meets the book as it is
  then: the book as it will be after the decision-to-exchange latency.
* A market order walks the opposite side level by level; what the book cannot
  fill is cancelled (``insufficient_liquidity``). A limit takes what crosses up
  to its price (taker), then rests with a queue position and fills only from
  prints (maker). ``post_only`` is rejected when it would take; IOC cancels what
  is left (``ioc_remainder``).
* A stop waits for a print at or through its stop price, turns ``TRIGGERED``
  and sends a market child (``parent_id``: the stop), which walks the book at
  once: the stop already sits at the exchange, so no second latency applies.
* OCO legs (``oco_id``) shrink each other: a fill of ``q`` on one takes ``q``
  off the other, and a leg filled in full cancels the other (``oco_filled``).
  A stop's child inherits the stop's ``oco_id``.
* An entry carrying a ``bracket`` gets, for each batch of fills, an exit OCO
  for the filled quantity: a stop-loss and a take-profit, same strategy, tag
  ``bracket``, ``parent_id`` the entry. Each batch gets its own pair (new orders
  join the back of the queue, as an amended order would on a real venue); the
  legs travel with the latency like any other order, and are placed whatever
  their size, since an exit must not be refused as dust.
* Cancels act at once, with no latency.
* Paper orders never trade with each other, only with the market: two
  strategies' paper orders on opposite sides both wait for real prints.

Every change to an order is reported in :class:`OrderUpdate` ``orders`` as a
*copy* taken at that moment, so the ledger sees each state in turn even when
one event moves an order twice. Queue-position changes alone are not reported
(one per book event would flood the ledger); a restored order keeps the queue
of its last reported state, which only errs towards waiting longer.
:meth:`PaperBroker.open_orders` returns the live objects, which callers must
not modify.

Arithmetic is exact ``Decimal`` except two divisions, carried at the default
28 significant digits: an order's average price (its exact notional is kept)
and the pro-rata queue shrink on cancels. No wall clock, no randomness and no
unordered iteration: the same events give the same fills.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from shared.book import OrderBook
from shared.clock import Clock
from shared.config.trading import BrokerConfig
from shared.marketdata import Candle, Trade
from shared.trading.candle_fills import (
    limit_touched,
    marketable_at_open,
    slippage_fraction,
    slipped,
    stop_reference,
)
from shared.trading.instrument import Violation, check_notional, check_order
from shared.trading.matching import (
    ZERO,
    MarketState,
    Resting,
    crosses,
    follow_queues,
    print_fills,
    prune_consumed,
    remove,
    take,
    triggered,
)
from shared.trading.orders import (
    NO_BOOK,
    Key,
    OrderKeeper,
    by_arrival,
    by_id,
    fill_status,
    instrument_of,
)
from shared.trading.types import (
    NO_UPDATE,
    Instrument,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Rejection,
    TimeInForce,
)

_LIMITS = (OrderType.LIMIT, OrderType.TAKE_PROFIT)


class PaperBroker:
    """Paper orders against the public book: market, limit, stops, OCO and brackets.

    ``instruments`` gives each (exchange, symbol) its tick, lot, minimums and
    fees. ``candle_mode`` fills from closed candles only (backtests over candle
    histories, see ``shared.trading.candle_fills``); otherwise candles are
    ignored and fills come from books and prints. Order ids count up from
    ``first_order_id`` (pass the ledger's next id after a restart).
    """

    def __init__(
        self,
        clock: Clock,
        instruments: dict[Key, Instrument],
        config: BrokerConfig,
        *,
        first_order_id: int = 1,
        candle_mode: bool = False,
    ) -> None:
        self.clock = clock
        self.instruments = instruments
        self.config = config
        self.candle_mode = candle_mode
        self._latency_ns = round(config.latency_ms * 1_000_000)
        self._slip = slippage_fraction(config.candle_slippage_bps)
        self._orders = OrderKeeper(instruments, self._latency_ns, first_order_id)
        self._markets = self._orders.markets  # read on every book event: one lookup less

    # -- orders -------------------------------------------------------------------------

    def submit(self, order: Order) -> OrderUpdate:
        """Accept ``order`` (``PENDING`` until it arrives) or reject it with a reason.

        The broker takes ownership of ``order``: it sets ``id``, ``arrive_ns``
        and ``status``; a ``created_ns`` of 0 means now.
        """
        now = self.clock.time_ns()
        order.id = self._orders.new_id()
        if order.created_ns <= 0:
            order.created_ns = now
        order.arrive_ns = order.created_ns + self._latency_ns
        order.status = OrderStatus.PENDING
        order.updated_ns = now
        update = OrderUpdate()
        key = (order.exchange, order.symbol)
        instrument = self.instruments.get(key)
        problem = (
            Violation("unknown_symbol", f"no instrument for {order.exchange}:{order.symbol}")
            if instrument is None
            else check_order(instrument, order)
        )
        if problem is not None:
            self._orders.reject(None, order, problem, now, update)
            return update
        market = self._orders.market(key)
        market.instrument = instrument
        self._orders.add_pending(market, order)
        self._orders.emit(order, update)
        return update

    def cancel(self, order_id: int, reason: str) -> OrderUpdate:
        """Cancel an open order now; an order that is not open is a rejection."""
        now = self.clock.time_ns()
        order = self._orders.open.get(order_id)
        if order is None:
            detail = f"order {order_id} is not open (unknown, filled or already cancelled)"
            return OrderUpdate(
                rejections=[Rejection("", "", "", "order_not_open", detail, now, order_id)]
            )
        update = OrderUpdate()
        self._orders.cancel(order, reason or "cancelled", now, update)
        return update

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        """Open orders (pending included), by id; the live objects: do not modify them."""
        orders = sorted(self._orders.open.values(), key=by_id)
        if strategy is None:
            return orders
        return [o for o in orders if o.strategy == strategy]

    def restore(self, orders: Iterable[Order]) -> OrderUpdate:
        """Reload open orders after a restart (the ledger's last state of each).

        Ids continue after the highest one seen. A resting order keeps its
        ``queue_ahead`` and starts following its level at the next book. An
        order whose market is unknown now, or a market order caught mid-walk,
        cannot be continued: it is cancelled, and the update says so.
        """
        now = self.clock.time_ns()
        update = OrderUpdate()
        for order in sorted(orders, key=by_id):
            self._orders.next_id = max(self._orders.next_id, order.id + 1)
            if not order.is_open or order.id in self._orders.open:
                continue
            key = (order.exchange, order.symbol)
            instrument = self.instruments.get(key)
            walking = order.type is OrderType.MARKET and order.status is not OrderStatus.PENDING
            if instrument is None or walking:
                order.status = OrderStatus.CANCELLED
                order.reason = "unknown_symbol" if instrument is None else "restart"
                order.updated_ns = now
                self._orders.emit(order, update)
                continue
            market = self._orders.market(key)
            market.instrument = instrument
            self._orders.notional[order.id] = order.avg_price * order.filled_qty
            if order.status is OrderStatus.PENDING:
                self._orders.add_pending(market, order)
                continue
            self._orders.open[order.id] = order
            if order.type is OrderType.STOP_MARKET:
                market.add_stop(order)
            elif order.price is not None:
                market.add_resting(Resting(order, order.price))
        return update

    # -- market events ------------------------------------------------------------------

    def on_book(self, book: OrderBook) -> OrderUpdate:
        """A book changed: follow queues, let due orders arrive against it."""
        key = (book.exchange, book.symbol)
        market = self._markets.get(key)
        if market is None:
            market = self._orders.market(key)
        market.book = book
        if self.candle_mode:
            return NO_UPDATE
        # The hot path: most book events fill nothing; queues and the consumed overlay
        # change in place and are not reported, so only an arrival makes an update.
        if market.consumed:
            prune_consumed(market, book)
        if market.resting:
            follow_queues(market, book)
        pending = market.pending
        if pending:
            now = self.clock.time_ns()
            if pending[0].arrive_ns <= now:
                update = OrderUpdate()
                self._arrivals(market, now, update)
                return update
        return NO_UPDATE

    def on_trade(self, trade: Trade) -> OrderUpdate:
        """A print: due orders arrive, resting limits fill from it, stops trigger."""
        market = self._markets.get((trade.exchange, trade.symbol))
        if market is None or self.candle_mode or not market.active():
            return NO_UPDATE
        now = self.clock.time_ns()
        high, low = market.reach()
        price = trade.price
        pending = market.pending
        due = market.book is not None and pending and pending[0].arrive_ns <= now
        if not due and high < price < low:  # the usual print: between every order and stop
            return NO_UPDATE
        update = OrderUpdate()
        if due:
            self._arrivals(market, now, update)
            high, low = market.reach()  # an arrival may have added a resting order or stop
        if high < price < low:
            return update
        if market.resting:
            for rest, qty in print_fills(market, price, trade.size):
                order = rest.order
                qty = min(qty, order.remaining)  # an OCO sibling's fill may have shrunk it
                if not order.is_open or qty <= 0:
                    continue
                self._orders.fill(market, order, rest.price, qty, Liquidity.MAKER, now, update)
                order.status = fill_status(order)
                self._orders.settle(market, order, qty, now, update)
        if market.stops:
            for stop in triggered(market, price):
                if stop.is_open:
                    self._trigger(market, stop, now, update)
        return update

    def on_time(self, now_ns: int) -> OrderUpdate:
        """Time passed with no market event: due orders arrive against the current books."""
        if self.candle_mode:
            return NO_UPDATE
        due = [
            order
            for market in self._orders.markets.values()
            if market.book is not None and market.pending
            for order in market.pending
            if order.arrive_ns <= now_ns
        ]
        if not due:
            return NO_UPDATE
        update = OrderUpdate()
        # Across markets too, orders reach the exchange in the order they were sent.
        for order in sorted(due, key=by_arrival):
            if order.status is OrderStatus.PENDING:
                market = self._orders.markets[(order.exchange, order.symbol)]
                remove(market.pending, order)
                self._arrive(market, order, now_ns, update)
        return update

    def on_candle(self, candle: Candle) -> OrderUpdate:
        """Candle mode: fill what the bar reached (an approximation, see candle_fills)."""
        if not self.candle_mode:
            return OrderUpdate()
        market = self._orders.markets.get((candle.exchange, candle.symbol))
        if market is None or not market.active():
            return OrderUpdate()
        # The bar is handed over at its close (when it is known), but what fills in it
        # fills at its prices: the fills and order events are stamped at its open, the
        # time of the open price a market order gets (a stop or limit touched later in
        # the bar has no better time: a bar has no order of events inside it).
        open_ns = candle.open_time_ms * 1_000_000
        now = open_ns
        update = OrderUpdate()
        # Orders decided at or before the open meet this bar; later ones wait for the next.
        for order in [o for o in market.pending if o.created_ns <= open_ns]:
            if order.status is OrderStatus.PENDING:
                remove(market.pending, order)
                self._arrive_on_candle(market, order, candle, now, update)
        for stop in list(market.stops):
            if stop.is_open and stop.stop_price is not None:
                ref = stop_reference(candle, stop.side, stop.stop_price)
                if ref is not None:
                    self._trigger(market, stop, now, update, candle=candle, at=ref)
        for rest in list(market.resting):
            order = rest.order
            if order.is_open and limit_touched(candle, order.side, rest.price):
                filled = order.remaining
                self._orders.fill(market, order, rest.price, filled, Liquidity.MAKER, now, update)
                order.status = OrderStatus.FILLED
                self._orders.settle(market, order, filled, now, update)
        return update

    # -- arrival --------------------------------------------------------------------------

    def _arrivals(self, market: MarketState, now: int, update: OrderUpdate) -> None:
        pending = market.pending
        while pending and pending[0].arrive_ns <= now:
            self._arrive(market, pending.pop(0), now, update)

    def _arrive(self, market: MarketState, order: Order, now: int, update: OrderUpdate) -> None:
        """``order`` reaches the exchange and meets the current book."""
        book = market.book
        if order.type is OrderType.STOP_MARKET:
            self._rest_stop(market, order, now, update)
            return
        if book is None or not (book.bids or book.asks):
            self._orders.reject(market, order, NO_BOOK, now, update)
            return
        if order.type is OrderType.MARKET:
            self._walk(market, book, order, now, update)
            return
        price = order.price
        if price is None:  # check_order refuses a limit without a price
            raise RuntimeError(f"order {order.id}: a {order.type} order without a price")
        filled = ZERO
        if crosses(book, order.side, price):
            if order.post_only:
                detail = f"post-only {order.side} at {price} would take liquidity"
                self._orders.reject(market, order, Violation("post_only_would_take", detail), now,
                             update)
                return
            filled = self._take(market, book, order, price, now, update)
        if order.remaining <= 0:
            order.status = OrderStatus.FILLED
        elif order.tif is TimeInForce.IOC:
            order.status = OrderStatus.CANCELLED
            order.reason = "ioc_remainder"
        else:
            rest = Resting(order, price)
            rest.track(book)
            order.queue_ahead = book.size(rest.level_seen or 0)
            order.status = fill_status(order)
            market.add_resting(rest)
        self._orders.settle(market, order, filled, now, update)

    def _walk(
        self, market: MarketState, book: OrderBook, order: Order, now: int, update: OrderUpdate
    ) -> None:
        """A market order takes the book; what the book cannot fill is cancelled."""
        best = book.best_ask() if order.side == "buy" else book.best_bid()
        if best is None:
            self._orders.reject(market, order, NO_BOOK, now, update)
            return
        instrument = instrument_of(market)
        if order.parent_id is None:  # a triggered stop's child is already at the exchange
            problem = check_notional(instrument, book.price(best[0]), order.qty)
            if problem is not None:
                self._orders.reject(market, order, problem, now, update)
                return
        filled = self._take(market, book, order, None, now, update)
        if order.remaining > 0:
            order.status = OrderStatus.CANCELLED
            order.reason = "insufficient_liquidity"
        else:
            order.status = OrderStatus.FILLED
        self._orders.settle(market, order, filled, now, update)

    def _take(
        self,
        market: MarketState,
        book: OrderBook,
        order: Order,
        limit: Decimal | None,
        now: int,
        update: OrderUpdate,
    ) -> Decimal:
        filled = ZERO
        for price, qty in take(market, book, order.side, order.remaining, limit):
            self._orders.fill(market, order, price, qty, Liquidity.TAKER, now, update)
            filled += qty
        return filled

    def _rest_stop(self, market: MarketState, order: Order, now: int, update: OrderUpdate) -> None:
        order.status = OrderStatus.OPEN
        order.updated_ns = now
        market.add_stop(order)
        self._orders.emit(order, update)

    def _arrive_on_candle(
        self, market: MarketState, order: Order, candle: Candle, now: int, update: OrderUpdate
    ) -> None:
        if order.type is OrderType.STOP_MARKET:
            self._rest_stop(market, order, now, update)
            return
        instrument = instrument_of(market)
        tick = instrument.tick_size
        fill_at = slipped(candle.open, order.side, self._slip, tick, candle)
        if order.type in _LIMITS and order.price is not None:
            limit = order.price
            if not marketable_at_open(candle, order.side, limit):
                if order.tif is TimeInForce.IOC:
                    self._orders.cancel(order, "ioc_remainder", now, update, market)
                    return
                order.status = OrderStatus.OPEN
                order.updated_ns = now
                market.add_resting(Resting(order, limit))
                self._orders.emit(order, update)
                return
            if order.post_only:
                detail = f"post-only {order.side} at {limit} would take at the open {candle.open}"
                self._orders.reject(market, order, Violation("post_only_would_take", detail), now,
                             update)
                return
            fill_at = min(fill_at, limit) if order.side == "buy" else max(fill_at, limit)
        elif order.parent_id is None:
            problem = check_notional(instrument, fill_at, order.qty)
            if problem is not None:
                self._orders.reject(market, order, problem, now, update)
                return
        filled = order.remaining
        self._orders.fill(market, order, fill_at, filled, Liquidity.TAKER, now, update)
        order.status = OrderStatus.FILLED
        self._orders.settle(market, order, filled, now, update)

    def _trigger(
        self,
        market: MarketState,
        stop: Order,
        now: int,
        update: OrderUpdate,
        *,
        candle: Candle | None = None,
        at: Decimal = ZERO,
    ) -> None:
        """A stop fires: it turns TRIGGERED and its market child fills at once."""
        stop.status = OrderStatus.TRIGGERED
        stop.updated_ns = now
        self._orders.close(market, stop)
        self._orders.emit(stop, update)
        child = Order(
            id=self._orders.new_id(), strategy=stop.strategy, exchange=stop.exchange,
            symbol=stop.symbol, side=stop.side, type=OrderType.MARKET, qty=stop.remaining,
            price=None, stop_price=None, tif=TimeInForce.IOC, post_only=False,
            created_ns=now, arrive_ns=now, parent_id=stop.id, oco_id=stop.oco_id,
            bracket=stop.bracket, tag=stop.tag, updated_ns=now,
        )
        self._orders.open[child.id] = child
        if candle is None:
            book = market.book
            if book is None:
                self._orders.reject(market, child, NO_BOOK, now, update)
            else:
                self._walk(market, book, child, now, update)
            return
        price = slipped(at, child.side, self._slip, instrument_of(market).tick_size, candle)
        self._orders.fill(market, child, price, child.qty, Liquidity.TAKER, now, update)
        child.status = OrderStatus.FILLED
        self._orders.settle(market, child, child.qty, now, update)

    # -- bookkeeping ------------------------------------------------------------------------
