"""How paper orders meet the market: book walks, queue positions, trade prints.

The paper broker (``shared.trading.broker``) keeps the order lifecycle; this
module holds the per-market state and the matching rules it applies.

* **Taking liquidity** walks the opposite side of the L2 book level by level.
  Paper orders do not change the exchange's book, so what they take is kept in
  a per-level *consumed* overlay: a second order in the same moment cannot fill
  against size the first already took. An overlay entry remembers the level's
  displayed size when it was taken and lapses as soon as the exchange shows a
  different size there (the market moved on; the new size is the truth).
* **Resting** limits keep ``queue_ahead``: the displayed size at their price on
  their side when they arrived. Paper orders are not displayed, so one resting
  order is never in another's ``queue_ahead``; time priority between them is
  kept by filling them in price, then id, order from each print.
* A **print at the order's price** first eats ``queue_ahead``; only the excess
  fills the order. Every print at the price counts, whatever the taker's side:
  with paper orders invisible, a buyer lifting an ask at our bid's price means
  the real bids there are gone, and a seller would have met our order.
  A **print through the price** (below a resting buy, above a resting sell)
  means the level was cleared: the order fills up to the printed size.
* **Cancels**: when a book update shows the displayed size at our price fell by
  more than the prints there since the last update explain, the rest were
  cancels. They are assumed spread evenly through the queue, so
  ``queue_ahead`` shrinks by ``cancelled * queue_ahead / size_before`` (size
  before = displayed size less the prints). The model assumes a feed delivers a
  print before the book update that reflects it, as the exchanges' own
  sequence does; a print that arrives late makes the queue look shorter.
* A resting order never fills because the best price touched or crossed it:
  only prints fill it. That is the difference from dry runs that fill a limit in
  full the moment the price touches it.

Book prices and sizes stay integer ticks; ``Decimal`` work starts only once an
event touches an order.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from shared.book import OrderBook
from shared.trading.types import Instrument, Order

ZERO = Decimal(0)
_NEG_INF = Decimal("-Infinity")
_POS_INF = Decimal("Infinity")

Consumed = dict[tuple[bool, int], tuple[int, Decimal]]
"""(is_ask, price ticks) -> (displayed size ticks when taken, base units taken)."""


def book_ticks(value: Decimal, decimals: int, *, up: bool) -> int:
    """``value`` in book ticks, rounded up or down to a whole tick."""
    return int(value.scaleb(decimals).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR))


def exact_ticks(value: Decimal, decimals: int) -> int | None:
    """``value`` in book ticks, or ``None`` when it falls between ticks."""
    scaled = value.scaleb(decimals)
    whole = scaled.to_integral_value()
    return int(whole) if whole == scaled else None


class Resting:
    """A limit order live on the (paper) exchange, with its queue bookkeeping."""

    __slots__ = ("level_seen", "order", "price", "px", "traded")

    def __init__(self, order: Order, price: Decimal) -> None:
        self.order = order
        self.price = price
        self.px: int | None = None
        """The price in the book's ticks; ``None`` when no level can exist there."""
        self.level_seen: int | None = None
        """Displayed size at ``px`` at the last book update; ``None`` until one is seen."""
        self.traded = ZERO
        """Printed at exactly ``price`` since the last book update (explains decreases)."""

    def track(self, book: OrderBook) -> None:
        """Start following the level at this price in ``book``."""
        self.px = exact_ticks(self.price, book.price_decimals)
        own = book.bids if self.order.side == "buy" else book.asks
        self.level_seen = 0 if self.px is None else own.get(self.px, 0)
        self.traded = ZERO


class MarketState:
    """Everything the broker keeps for one (exchange, symbol)."""

    __slots__ = ("_reach", "book", "consumed", "instrument", "key", "pending", "resting", "stops")

    def __init__(self, key: tuple[str, str], instrument: Instrument | None) -> None:
        self.key = key
        self.instrument = instrument
        self.book: OrderBook | None = None
        """The last book the broker was handed for this market (the engine's live object)."""
        self.pending: list[Order] = []
        """Orders travelling to the exchange, by (arrive_ns, id)."""
        self.resting: list[Resting] = []
        """Limit and take-profit orders live at the exchange, by id. Change via add_/drop."""
        self.stops: list[Order] = []
        """Stop orders waiting for their trigger, by id. Change via add_stop/drop."""
        self.consumed: Consumed = {}
        self._reach: tuple[Decimal, Decimal] | None = None

    def active(self) -> bool:
        """Whether any event for this market can change anything."""
        return bool(self.pending or self.resting or self.stops or self.consumed)

    def add_resting(self, rest: Resting) -> None:
        """A limit starts resting (time priority by id)."""
        insort(self.resting, rest, key=_resting_id)
        self._reach = None

    def add_stop(self, order: Order) -> None:
        """A stop starts waiting for its trigger."""
        insort(self.stops, order, key=_order_id)
        self._reach = None

    def drop(self, order: Order) -> None:
        """``order`` leaves every list of this market."""
        remove(self.pending, order)
        if remove(self.stops, order):
            self._reach = None
        resting = self.resting
        for i, rest in enumerate(resting):
            if rest.order is order:
                del resting[i]
                self._reach = None
                return

    def reach(self) -> tuple[Decimal, Decimal]:
        """(high, low): a print at or below ``high`` or at or above ``low`` touches an order.

        Prints strictly between them (the usual case) need no further look.
        """
        reach = self._reach
        if reach is None:
            high, low = _NEG_INF, _POS_INF
            for rest in self.resting:
                if rest.order.side == "buy":
                    high = max(high, rest.price)
                else:
                    low = min(low, rest.price)
            for stop in self.stops:
                if stop.stop_price is not None:
                    if stop.side == "sell":
                        high = max(high, stop.stop_price)
                    else:
                        low = min(low, stop.stop_price)
            reach = self._reach = (high, low)
        return reach


def remove(orders: list[Order], order: Order) -> bool:
    """Remove ``order`` by identity (``==`` would compare every field); whether it was there."""
    for i, other in enumerate(orders):
        if other is order:
            del orders[i]
            return True
    return False


def _order_id(order: Order) -> int:
    return order.id


def _resting_id(rest: Resting) -> int:
    return rest.order.id


def take(
    state: MarketState, book: OrderBook, side: str, qty: Decimal, limit: Decimal | None
) -> list[tuple[Decimal, Decimal]]:
    """Take up to ``qty`` from the side ``side`` trades against: (price, qty) per level.

    Best level first, no further than ``limit`` (``None``: no limit). What is
    taken is added to the consumed overlay; the book itself is not touched.
    """
    decimals = book.price_decimals
    is_ask = side == "buy"
    prices: Iterable[int]
    if is_ask:
        levels, prices = book.asks, book.ask_prices()
        lim = None if limit is None else book_ticks(limit, decimals, up=False)
    else:
        levels, prices = book.bids, reversed(book.bid_prices())
        lim = None if limit is None else book_ticks(limit, decimals, up=True)
    consumed = state.consumed
    out: list[tuple[Decimal, Decimal]] = []
    left = qty
    for px in prices:
        if lim is not None and (px > lim if is_ask else px < lim):
            break
        size = levels[px]
        used = ZERO
        seen = consumed.get((is_ask, px))
        if seen is not None and seen[0] == size:
            used = seen[1]
        avail = book.size(size) - used
        if avail <= 0:
            continue
        got = avail if avail < left else left
        consumed[(is_ask, px)] = (size, used + got)
        out.append((book.price(px), got))
        left -= got
        if not left:
            break
    return out


def crosses(book: OrderBook, side: str, limit: Decimal) -> bool:
    """Whether a limit at ``limit`` would take displayed liquidity on arrival."""
    if side == "buy":
        best = book.best_ask_price()
        return best is not None and best <= book_ticks(limit, book.price_decimals, up=False)
    best = book.best_bid_price()
    return best is not None and best >= book_ticks(limit, book.price_decimals, up=True)


def prune_consumed(state: MarketState, book: OrderBook) -> None:
    """Forget what was taken from levels the exchange has since changed."""
    consumed = state.consumed
    for key in [k for k, (size, _) in consumed.items()
                if (book.asks if k[0] else book.bids).get(k[1], 0) != size]:
        del consumed[key]


def follow_queues(state: MarketState, book: OrderBook) -> None:
    """Apply a book update to every resting order's queue position (cancels ahead)."""
    bids, asks = book.bids, book.asks
    for rest in state.resting:
        order = rest.order
        own = bids if order.side == "buy" else asks
        if not own:
            continue  # an empty side is a resync under way: it says nothing about cancels
        if rest.level_seen is None:
            rest.track(book)
            continue
        px = rest.px
        now = 0 if px is None else own.get(px, 0)
        before = rest.level_seen
        if now < before:
            ahead = order.queue_ahead
            if ahead > 0:
                shown = book.size(now)
                if now == 0:
                    ahead = ZERO
                else:
                    cancelled = book.size(before - now) - rest.traded
                    if cancelled > 0:
                        # size_before = shown + cancelled > cancelled > 0
                        ahead -= cancelled * ahead / (shown + cancelled)
                    ahead = min(ahead, shown)
                order.queue_ahead = max(ahead, ZERO)
        rest.level_seen = now
        rest.traded = ZERO


def print_fills(state: MarketState, price: Decimal, size: Decimal) -> list[tuple[Resting, Decimal]]:
    """What one print of ``size`` at ``price`` fills among the resting orders.

    Orders are served in price priority, then time (id); each paper fill uses
    up part of the print, so the same printed size never fills two orders.
    Queue positions are updated in place.
    """
    out: list[tuple[Resting, Decimal]] = []
    for is_buy in (True, False):
        if is_buy:
            hit = [r for r in state.resting if r.order.side == "buy" and r.price >= price]
            hit.sort(key=lambda r: (-r.price, r.order.id))
        else:
            hit = [r for r in state.resting if r.order.side == "sell" and r.price <= price]
            hit.sort(key=lambda r: (r.price, r.order.id))
        left = size
        for rest in hit:
            order = rest.order
            if rest.price == price:
                rest.traded += size
                ahead = order.queue_ahead
                eaten = ahead if ahead < left else left
                order.queue_ahead = ahead - eaten
                spare = left - eaten
            else:
                order.queue_ahead = ZERO  # printed through: the level was cleared
                spare = left
            got = min(order.remaining, spare)
            if got > 0:
                out.append((rest, got))
                left -= got
    return out


def triggered(state: MarketState, price: Decimal) -> list[Order]:
    """Stops whose trigger a print at ``price`` reached (at or through), by id."""
    return [
        o for o in state.stops
        if o.stop_price is not None
        and (price <= o.stop_price if o.side == "sell" else price >= o.stop_price)
    ]
