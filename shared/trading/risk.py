"""The risk manager: every order intent passes here before the paper broker sees it.

It checks the intent (finite, positive numbers; the market it names; a fresh,
synced book), the account (kill switch, circuit breaker, daily loss limit, open
positions, cash, what is held) and sizes it: a fixed fraction of equity at risk
to the stop, capped at ``max_position_fraction`` of equity per position and at
``max_exposure_fraction`` in total, rounded down to the lot. Anything refused
comes back as a :class:`Rejection` with a short reason code, so the engine
records it and nothing else stops.

Accepted intents become an :class:`Order` with ``id=0`` and ``status=PENDING``:
the broker assigns ids (one sequence for every order, its own OCO legs
included), and adds the latency to ``arrive_ns``.

Cash reserved by open buy orders (their remaining size at their price, plus the
taker fee) and base reserved by open sells count as spent, so two quick
intents cannot both spend the same cash.

On a timer, a portfolio whose drawdown from peak reaches ``max_drawdown`` trips
the circuit breaker: its open orders are cancelled, every position is sold at
market, and the strategy is refused until :meth:`RiskManager.reset`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, localcontext

from shared.book import OrderBook
from shared.clock import Clock
from shared.config.trading import RiskConfig
from shared.trading.engine import Intent, PortfolioLike
from shared.trading.instrument import round_qty
from shared.trading.portfolio import (
    EXACT,
    ZERO,
    Key,
    Portfolio,
    exact_add,
    exact_mul,
    exact_sub,
)
from shared.trading.risk_checks import (
    Refused,
    check_numbers,
    entry_price,
    on_tick,
    reserved_sells,
    rounded_bracket,
    rounded_prices,
)
from shared.trading.types import (
    Bracket,
    CancelIntent,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Rejection,
)

OpenOrders = Callable[[str], Sequence[Order]]
"""A strategy's open orders, as the broker knows them (``broker.open_orders``)."""

FLATTEN_TAG = "risk:flatten"


class RiskManager:
    """Pre-trade checks and position sizing for every strategy's portfolio.

    ``open_orders`` lets the circuit breaker cancel what a tripped strategy has
    resting; wire it to the broker's ``open_orders``. Without it the breaker
    still sells every position but leaves cancelling to the strategy's pause.
    """

    def __init__(
        self, config: RiskConfig, clock: Clock, *, open_orders: OpenOrders | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.open_orders = open_orders
        self.kill_switch = config.kill_switch
        self.paused: dict[str, str] = {}
        """Strategies stopped by the circuit breaker, with why."""
        self.tripped_ns: dict[str, int] = {}
        """When each strategy in ``paused`` was stopped (clock time)."""
        self._risk = Decimal(str(config.risk_per_trade))
        self._max_position = Decimal(str(config.max_position_fraction))
        self._max_exposure = Decimal(str(config.max_exposure_fraction))
        self._daily_loss = Decimal(str(config.daily_loss_limit))
        self._max_drawdown = Decimal(str(config.max_drawdown))
        self._stale_ns = int(config.stale_book_s * 1e9)
        # The flatten intents this manager emitted itself: they pass the pause, the
        # kill switch and the stale-book guard, which exist to stop new risk, not exits.
        self._own: list[OrderIntent] = []
        # strategy -> (peak, equity): the lowest equity below that peak whose drawdown
        # was found under the limit. Drawdown only grows as equity falls, so on a tick
        # at or above it (a portfolio a little under its high, the usual case with a
        # position open) the breaker need not divide again to know it stays off.
        self._safe: dict[str, tuple[Decimal, Decimal]] = {}

    # -- runtime controls ---------------------------------------------------------------

    def set_kill_switch(self, on: bool) -> None:
        """Refuse (True) or allow again (False) every new order; cancels always pass."""
        self.kill_switch = on

    def reset(self, strategy: str, portfolio: PortfolioLike | None = None) -> None:
        """Let a strategy stopped by the circuit breaker trade again, from a fresh peak."""
        self.paused.pop(strategy, None)
        self.tripped_ns.pop(strategy, None)
        if portfolio is not None:
            _narrow(portfolio).reset_peak()

    # -- the engine's calls -------------------------------------------------------------

    def check(
        self,
        intent: OrderIntent,
        portfolio: PortfolioLike,
        book: OrderBook | None,
        instrument: Instrument,
        open_orders: Sequence[Order],
    ) -> Order | Rejection:
        """The order to submit for ``intent``, or the rule that refused it."""
        now = self.clock.time_ns()
        own = self._take_own(intent) if self._own else False
        try:
            return self._check(intent, _narrow(portfolio), book, instrument, open_orders, now, own)
        except Refused as refused:
            return Rejection(
                intent.strategy, intent.exchange, intent.symbol, refused.reason,
                refused.detail, now,
            )

    def after_fill(self, portfolio: PortfolioLike, fill: Fill) -> list[Intent]:
        """A fill can take a portfolio past its drawdown limit: trip now, not at the next tick."""
        return self._breaker(_narrow(portfolio), retry=False)

    def on_time(self, portfolios: Iterable[PortfolioLike], now_ns: int) -> list[Intent]:
        """Roll daily budgets at UTC midnight and trip breakers: flatten intents to run now."""
        intents: list[Intent] = []
        paused = self.paused
        safe = self._safe
        for portfolio in portfolios:
            p = portfolio if type(portfolio) is Portfolio else _narrow(portfolio)
            equity = p.observe(now_ns)
            if p.strategy not in paused:
                if equity >= p.peak_equity:
                    continue  # at a high, running: nothing to trip (the usual tick)
                known = safe.get(p.strategy)
                if known is not None and equity >= known[1] and known[0] == p.peak_equity:
                    continue  # no lower than an equity already found under the limit
            intents += self._breaker(p, retry=True, equity=equity)
        return intents

    # -- rules --------------------------------------------------------------------------

    def _check(
        self,
        intent: OrderIntent,
        portfolio: Portfolio,
        book: OrderBook | None,
        instrument: Instrument,
        open_orders: Sequence[Order],
        now: int,
        own: bool,
    ) -> Order:
        if intent.exchange != instrument.exchange or intent.symbol != instrument.symbol:
            raise Refused(
                "unknown_symbol",
                f"{intent.exchange}:{intent.symbol} has instrument "
                f"{instrument.exchange}:{instrument.symbol}",
            )
        check_numbers(intent)
        if not own:
            if self.kill_switch:
                raise Refused("kill_switch", "the kill switch is on: no new orders")
            if intent.strategy in self.paused:
                raise Refused("circuit_breaker", self.paused[intent.strategy])
            self._check_book(book, now)
        # Sampled once: nothing below changes the portfolio, so every rule sees this equity.
        equity = portfolio.observe(now)
        if (
            intent.type is OrderType.LIMIT and intent.price is not None
            and intent.stop_price is None and intent.bracket is None
        ):
            # A plain limit (every market-maker quote): what the three helpers below
            # give for it, with one call instead of three.
            entry = on_tick(intent.price, intent.side, instrument)
            price: Decimal | None = entry
            stop: Decimal | None = None
            bracket: Bracket | None = None
        else:
            price, stop = rounded_prices(intent, instrument)
            bracket = rounded_bracket(intent, instrument)
            entry = entry_price(intent, price, stop, book)
        key = (intent.exchange, intent.symbol)
        fee_rate = max(instrument.maker_fee, instrument.taker_fee)
        reserved = ZERO
        if intent.side == "sell":
            qty = self._sell_qty(intent, portfolio, key, open_orders, own)
        else:
            self._check_entry_allowed(portfolio, key, open_orders, equity)
            qty, reserved = self._buy_qty(
                intent, portfolio, key, entry, bracket, open_orders, fee_rate, equity
            )
        qty = round_qty(instrument, qty) if qty > 0 else qty
        if qty <= 0 or qty < instrument.min_qty:
            raise Refused(
                "below_min_qty",
                f"size {qty} after lot rounding is below the minimum {instrument.min_qty} "
                f"(lot {instrument.lot_size})",
            )
        notional = exact_mul(qty, entry)
        if notional < instrument.min_notional:
            raise Refused(
                "below_min_notional",
                f"{qty} @ {entry} = {notional} is below the minimum notional "
                f"{instrument.min_notional}",
            )
        if intent.side == "buy" and intent.qty is not None:
            self._check_cash(portfolio, qty, entry, fee_rate, reserved)
        return Order(
            id=0, strategy=intent.strategy, exchange=intent.exchange, symbol=intent.symbol,
            side=intent.side, type=intent.type, qty=qty, price=price, stop_price=stop,
            tif=intent.tif, post_only=intent.post_only, created_ns=now, arrive_ns=now,
            status=OrderStatus.PENDING, bracket=bracket, tag=intent.tag, updated_ns=now,
        )

    def _check_book(self, book: OrderBook | None, now: int) -> None:
        if book is None or book.best_bid_price() is None or book.best_ask_price() is None:
            raise Refused("book_resync", "the book is empty or resyncing: no reliable price")
        age = now - book.ts_recv_ns
        if age > self._stale_ns:
            raise Refused(
                "stale_book",
                f"the book is {age / 1e9:.3f}s old (limit {self.config.stale_book_s}s)",
            )

    def _check_entry_allowed(
        self, portfolio: Portfolio, key: Key, open_orders: Sequence[Order], equity: Decimal
    ) -> None:
        # At a high (the usual case) the drawdown is 0: no division to find that out.
        drawdown = ZERO if equity >= portfolio.peak_equity else portfolio.drawdown(equity)
        if drawdown >= self._max_drawdown:
            raise Refused(
                "max_drawdown",
                f"drawdown {drawdown:.4%} reached the {self._max_drawdown:.2%} limit",
            )
        daily_pnl = exact_sub(equity, portfolio.day_start_equity)  # daily_pnl(), from equity
        loss = -daily_pnl
        budget = portfolio.day_start_equity * self._daily_loss
        if loss >= budget:
            raise Refused(
                "daily_loss_limit",
                f"lost {loss} today, limit {budget} ({self._daily_loss:.2%} of "
                f"{portfolio.day_start_equity})",
            )
        if key in portfolio.positions:
            return  # adding to a position held opens none
        markets = set(portfolio.positions)
        markets.update((o.exchange, o.symbol) for o in open_orders if o.side == "buy")
        if key not in markets and len(markets) >= self.config.max_open_positions:
            raise Refused(
                "max_open_positions",
                f"{len(markets)} positions or entries open, limit "
                f"{self.config.max_open_positions}",
            )

    def _sell_qty(
        self,
        intent: OrderIntent,
        portfolio: Portfolio,
        key: Key,
        open_orders: Sequence[Order],
        own: bool,
    ) -> Decimal:
        held = portfolio.qty(key)
        # The breaker's flatten has cancelled the resting exits just before; the
        # cancels may still be travelling, so it counts only what is held.
        reserved = ZERO if own else reserved_sells(open_orders, key)
        free = held - reserved
        if intent.qty is None:
            # No size on an exit: close (a fraction of) what is held and not already offered.
            with localcontext(EXACT):
                return max(free, ZERO) * intent.size_fraction
        if intent.qty > free:
            raise Refused(
                "insufficient_position",
                f"sell {intent.qty} but {held} held and {reserved} already offered by open "
                "sells: spot is long only",
            )
        return intent.qty

    def _buy_qty(
        self,
        intent: OrderIntent,
        portfolio: Portfolio,
        key: Key,
        entry: Decimal,
        bracket: Bracket | None,
        open_orders: Sequence[Order],
        fee_rate: Decimal,
        equity: Decimal,
    ) -> tuple[Decimal, Decimal]:
        """The size to buy, and the cash promised to open buys.

        The second is what :func:`~shared.trading.risk_checks.reserved_buys` gives,
        summed in the same pass over the open orders as the pending exposure.
        """
        with localcontext(EXACT):
            if intent.qty is not None:
                qty = intent.qty
            else:
                protective = bracket.stop_loss if bracket is not None else None
                if protective is None and intent.type is not OrderType.STOP_MARKET:
                    protective = intent.stop_price
                distance = abs(entry - protective) if protective is not None else ZERO
                if distance > 0:
                    qty = equity * self._risk / distance * intent.size_fraction
                else:
                    # No stop to measure risk against: the largest position, scaled.
                    qty = equity * self._max_position * intent.size_fraction / entry
            # One pass for the three sums; exact (no rounding), so the order they add
            # in does not change them.
            pending_here = pending_all = reserved = ZERO
            fee_factor = 1 + fee_rate
            for o in open_orders:
                if o.side == "buy" and o.is_open:
                    value = o.remaining * (o.price or o.stop_price or entry)
                    pending_all += value
                    reserved += value * fee_factor
                    if o.exchange == key[0] and o.symbol == key[1]:
                        pending_here += value
            # portfolio.position_value(key), already in the EXACT context it opens.
            position_value = portfolio.qty(key) * portfolio.mark(key)
            room_position = equity * self._max_position - position_value - pending_here
            room_exposure = equity * self._max_exposure - portfolio.positions_value() - pending_all
            if room_position <= 0:
                raise Refused(
                    "max_position",
                    f"{key[1]} already uses {self._max_position:.0%} of equity {equity}",
                )
            if room_exposure <= 0:
                raise Refused(
                    "max_exposure",
                    f"exposure already at {self._max_exposure:.0%} of equity {equity}",
                )
            qty = min(qty, room_position / entry, room_exposure / entry)
            if intent.qty is None:
                # A sized entry is shrunk to the cash left; an explicit size is refused instead.
                spendable = portfolio.cash - reserved
                qty = min(qty, max(spendable, ZERO) / (entry * fee_factor))
        return qty, reserved

    def _check_cash(
        self,
        portfolio: Portfolio,
        qty: Decimal,
        entry: Decimal,
        fee_rate: Decimal,
        reserved: Decimal,
    ) -> None:
        need = exact_mul(exact_mul(qty, entry), exact_add(1, fee_rate))
        if need > exact_sub(portfolio.cash, reserved):
            raise Refused(
                "insufficient_cash",
                f"{need} needed (fees included), {portfolio.cash} cash with {reserved} "
                "reserved by open buys",
            )

    # -- circuit breaker ----------------------------------------------------------------

    def _breaker(
        self, portfolio: Portfolio, *, retry: bool, equity: Decimal | None = None
    ) -> list[Intent]:
        if portfolio.strategy in self.paused:
            return self._retry_flatten(portfolio) if retry else []
        if equity is None:
            equity = portfolio.equity()
        if equity >= portfolio.peak_equity:
            return []  # at a high the drawdown is 0, below any limit (max_drawdown > 0)
        drawdown = portfolio.drawdown(equity)
        if drawdown < self._max_drawdown:
            known = self._safe.get(portfolio.strategy)
            peak = portfolio.peak_equity
            if known is None or known[0] != peak or equity < known[1]:
                self._safe[portfolio.strategy] = (peak, equity)
            return []
        why = (
            f"drawdown {drawdown:.4%} reached {self._max_drawdown:.2%}: flattened and paused "
            "until reset"
        )
        self.paused[portfolio.strategy] = why
        self.tripped_ns[portfolio.strategy] = self.clock.time_ns()
        intents: list[Intent] = []
        if self.open_orders is not None:
            intents += [
                CancelIntent(portfolio.strategy, order.id)
                for order in self.open_orders(portfolio.strategy)
            ]
        for (exchange, symbol), position in sorted(portfolio.positions.items()):
            flatten = OrderIntent(
                portfolio.strategy, exchange, symbol, "sell", OrderType.MARKET,
                qty=position.qty, tag=FLATTEN_TAG,
            )
            self._own.append(flatten)
            intents.append(flatten)
        return intents

    def _retry_flatten(self, portfolio: Portfolio) -> list[Intent]:
        """Sell again what a tripped strategy still holds with no sell working.

        A flatten refused on an empty book, or cut short by a thin one, leaves a
        position behind; the next tick tries again.
        """
        if self.open_orders is None or not portfolio.positions:
            return []
        selling = {
            (o.exchange, o.symbol) for o in self.open_orders(portfolio.strategy) if o.side == "sell"
        }
        intents: list[Intent] = []
        for key, position in sorted(portfolio.positions.items()):
            if key not in selling:
                flatten = OrderIntent(
                    portfolio.strategy, key[0], key[1], "sell", OrderType.MARKET,
                    qty=position.qty, tag=FLATTEN_TAG,
                )
                self._own.append(flatten)
                intents.append(flatten)
        return intents

    def _take_own(self, intent: OrderIntent) -> bool:
        # Identity, not equality or the tag: a strategy cannot forge a flatten intent.
        for i, own in enumerate(self._own):
            if own is intent:
                del self._own[i]
                return True
        return False


def _narrow(portfolio: PortfolioLike) -> Portfolio:
    if not isinstance(portfolio, Portfolio):
        raise TypeError(
            f"the risk manager needs a shared.trading.portfolio.Portfolio, got "
            f"{type(portfolio).__name__} for {portfolio.strategy}"
        )
    return portfolio
