"""A two-sided market maker: post-only quotes around the microprice, skewed by inventory.

Quotes sit ``spread_bps / 2`` either side of the microprice, both shifted down
by ``skew_bps * inventory / max_inventory`` (bps of the microprice): holding
inventory makes the ask more attractive and the bid less, which leans the next
fills towards flat. Spot paper trading is long only, so the ask is quoted only
for inventory held and the bid only up to ``max_inventory``.

Requoting (cancel every open quote, place new ones) is what a maker pays for:
every cancel-replace loses its place in the queue, and a venue counts the
messages. So the book is looked at no more than every ``min_requote_ms`` of
clock time (the engine does not even call ``on_book`` in between: the strategy
declares its next look in ``next_book_ns``), and a look replaces
live quotes only when the bid or the ask it would quote moved at least
``requote_ticks`` ticks from the live one. A look with no quotes live places
them; a fill makes the next book update look and requote at once (the filled
side is gone, and the inventory, so both sizes and the skew, changed). A book older than
``stale_ms`` (checked on book updates and on timer ticks) cancels the quotes:
quotes left on a book nobody is watching are free options for the market.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field

from shared.book import OrderBook
from shared.trading.strategy import (
    Intent,
    Intents,
    Strategy,
    StrategyContext,
    StrategyParams,
    on_tick,
)
from shared.trading.types import Fill


class MarketMakerParams(StrategyParams):
    spread_bps: float = Field(10.0, gt=0, description="Full quoted spread (bps of microprice).")
    quote_size: Decimal = Field(Decimal("0.001"), gt=0, description="Size of each quote (base).")
    max_inventory: Decimal = Field(
        Decimal("0.01"), gt=0, description="Most base units held; the bid stops at this."
    )
    skew_bps: float = Field(
        10.0, ge=0, description="Quote shift at full inventory (bps of microprice)."
    )
    requote_ticks: int = Field(
        5,
        ge=0,
        description="Replace live quotes only when a quote price would move at least this "
        "many ticks (0: whenever min_requote_ms allows).",
    )
    min_requote_ms: int = Field(
        1_000,
        ge=0,
        description="Replace live quotes at most this often (ms of clock time); quoting "
        "after a fill or with none live does not wait.",
    )
    stale_ms: int = Field(2_000, gt=0, description="Cancel quotes on a book older than this.")


@dataclass(slots=True)
class _Quotes:
    bid: float = 0.0
    """Where the bid was computed at the last requote, before rounding to the tick."""
    ask: float = 0.0
    live: bool = False
    filled: bool = False
    next_eval_ns: int = 0
    """The book is not looked at before this; 0 after a fill (requote at the next update)."""


class MarketMakerStrategy(Strategy[MarketMakerParams]):
    """Inventory-skewed two-sided quoting."""

    kind = "market_maker"
    Params = MarketMakerParams

    def __init__(
        self, context: StrategyContext, params: MarketMakerParams | Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(context, params)
        self._quotes = {s: _Quotes() for s in self.symbols}
        p = self.params
        self._stale_ns = p.stale_ms * 1_000_000
        self._min_requote_ns = p.min_requote_ms * 1_000_000
        self._max_inventory = float(p.max_inventory)

    def on_book(self, book: OrderBook) -> Intents:
        q = self._quotes.get(book.symbol)
        if q is None or book.exchange != self.exchange:
            return None
        now = self.clock.time_ns()
        if now < q.next_eval_ns:
            return None  # live quotes, no fill, looked too recently: the usual update
        q.next_eval_ns = now + self._min_requote_ns
        quotes = self._quotes  # the engine calls again once any symbol is due
        self.next_book_ns = (
            q.next_eval_ns if len(quotes) == 1 else min(x.next_eval_ns for x in quotes.values())
        )
        if now - book.ts_recv_ns > self._stale_ns:
            return self._pull(book.symbol, q)
        bb, ba = book.best_bid(), book.best_ask()
        if bb is None or ba is None:
            return self._pull(book.symbol, q)
        # The microprice in float: it only places quotes that are then put on the
        # tick, and Decimal would cost more than the rest of the decision.
        (bid_px, bid_sz), (ask_px, ask_sz) = bb, ba
        micro = (bid_px * ask_sz + ask_px * bid_sz) / (bid_sz + ask_sz) * 10.0**-book.price_decimals
        inventory = self.ctx.position(book.symbol)
        bid, ask = self._skewed(micro, inventory)
        tick = self.tick(book.symbol)  # once per look: the steps below all need it
        if q.live and not q.filled:
            limit = self.params.requote_ticks * float(tick)
            if abs(bid - q.bid) < limit and abs(ask - q.ask) < limit:
                return None
        return self._requote(book, q, bid, ask, tick, inventory)

    def on_fill(self, fill: Fill) -> Intents:
        q = self._quotes.get(fill.symbol)
        if q is not None and fill.strategy == self.name:
            q.filled = True
            q.next_eval_ns = self.next_book_ns = 0
        return None

    def on_time(self, now_ns: int) -> Intents:
        intents: list[Intent] = []
        for symbol, q in self._quotes.items():
            book = self.ctx.book(symbol)
            if q.live and (book is None or now_ns - book.ts_recv_ns > self._stale_ns):
                intents += self._pull(symbol, q) or ()
        return intents or None

    def _raw_quotes(self, symbol: str, micro: float) -> tuple[float, float]:
        """(bid, ask) for the current inventory before rounding to the tick."""
        return self._skewed(micro, self.ctx.position(symbol))

    def _skewed(self, micro: float, inventory: Decimal) -> tuple[float, float]:
        ratio = min(max(float(inventory) / self._max_inventory, 0.0), 1.0)
        shift = micro * self.params.skew_bps / 10_000 * ratio
        half = micro * self.params.spread_bps / 20_000
        return micro - half - shift, micro + half - shift

    def quote_prices(self, book: OrderBook, micro: float) -> tuple[Decimal, Decimal]:
        """(bid, ask) for the current inventory, on the tick and never crossing the book."""
        return self._on_tick(book, *self._raw_quotes(book.symbol, micro), self.tick(book.symbol))

    def _on_tick(
        self, book: OrderBook, raw_bid: float, raw_ask: float, tick: Decimal
    ) -> tuple[Decimal, Decimal]:
        bid = on_tick(raw_bid, tick)
        ask = on_tick(raw_ask, tick, up=True)
        best_bid, best_ask = book.best_bid_price(), book.best_ask_price()
        # Post-only: a quote that would cross is rejected, so keep it one tick off.
        if best_ask is not None:
            bid = min(bid, book.price(best_ask) - tick)
        if best_bid is not None:
            ask = max(ask, book.price(best_bid) + tick)
        return bid, ask

    def _requote(
        self,
        book: OrderBook,
        q: _Quotes,
        raw_bid: float,
        raw_ask: float,
        tick: Decimal,
        inventory: Decimal,
    ) -> Intents:
        p = self.params
        symbol = book.symbol
        intents = self.cancel_all(symbol)
        bid, ask = self._on_tick(book, raw_bid, raw_ask, tick)
        bid_qty = min(p.quote_size, p.max_inventory - inventory)
        ask_qty = min(p.quote_size, inventory)
        if bid_qty > 0 and bid > 0:
            intents.append(
                self.limit(symbol, "buy", bid, qty=bid_qty, post_only=True, tag="market_maker: bid")
            )
        if ask_qty > 0:
            intents.append(
                self.limit(
                    symbol, "sell", ask, qty=ask_qty, post_only=True, tag="market_maker: ask"
                )
            )
        q.bid, q.ask, q.live, q.filled = raw_bid, raw_ask, True, False
        return intents or None

    def _pull(self, symbol: str, q: _Quotes) -> Intents:
        if not q.live:
            return None
        q.live = False
        return self.cancel_all(symbol) or None
