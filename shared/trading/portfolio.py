"""One strategy's isolated paper portfolio: cash, positions, PnL, equity, drawdown.

Spot only, long only: a position is a quantity held and the total it cost
(average-cost method). Realized PnL is gross of fees; fees are kept apart, so the
books balance as::

    cash + marked positions == start + realized + unrealized - fees

That identity is checked, exactly, after every fill. It holds only if no sum is
ever rounded, so the arithmetic here runs in a 100-digit decimal context (the
default 28 digits would round ``qty * price`` of two long decimals), and the one
inexact step, the cost removed by a partial sell, is quantized to
:data:`COST_QUANTUM` before it moves from the position's cost into realized PnL. Ratios (average
cost, drawdown, exposure) are not part of the identity and use the ordinary
28-digit context.

Marks come from the market (``update_mark``, called on every trade) and from our
own fills. Equity, peak and drawdown are computed when asked for, not on every
mark: a mark arrives for every trade of every symbol, far more often than anyone
reads equity. Peak equity is therefore sampled at fills, snapshots, risk checks
and timer ticks (:meth:`Portfolio.observe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

from shared.errors import OperationalError
from shared.trading.types import Fill

Key = tuple[str, str]
"""(exchange, symbol)."""

NS_PER_DAY = 86_400 * 1_000_000_000

COST_QUANTUM = Decimal("1e-30")
"""Scale of the cost moved out of a position by a partial sell (quote units)."""

EXACT = Context(prec=100)
"""Wide enough that sums and products of exchange decimals are never rounded."""

# EXACT's own methods give what ``with localcontext(EXACT):`` would, without the
# context copy and switch (about half a microsecond) on paths asked every risk
# check and timer tick.
exact_add = EXACT.add
exact_sub = EXACT.subtract
exact_mul = EXACT.multiply

ZERO = Decimal(0)


def is_valid_mark(price: Decimal) -> bool:
    """Whether ``price`` may mark a position (a NaN or non-positive print is ignored)."""
    return price.is_finite() and price > 0


class LedgerError(OperationalError):
    """The paper books do not balance, or a fill cannot apply: stop and inspect the ledger."""


@dataclass(slots=True)
class Position:
    """Base quantity held in one market and the total quote it cost."""

    qty: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def avg_cost(self) -> Decimal:
        """Average cost per unit (0 when flat)."""
        if not self.qty:
            return ZERO
        return self.cost / self.qty


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """A portfolio's figures at one instant: what ``portfolio_state`` rows hold."""

    ts_ns: int
    strategy: str
    cash: Decimal
    positions_value: Decimal
    equity: Decimal
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    drawdown: Decimal
    """Fraction below peak equity (0 at a new high)."""
    exposure: Decimal
    """Marked positions over equity."""
    peak_equity: Decimal
    open_positions: int


class Portfolio:
    """A strategy's paper account in one quote currency.

    ``apply`` is the only way money moves; the risk manager refuses a sell larger
    than the position before it gets here, so such a fill is a bug upstream and
    raises :class:`LedgerError` rather than going short.
    """

    def __init__(self, strategy: str, starting_balance: Decimal, quote: str = "USDT") -> None:
        if not starting_balance.is_finite() or starting_balance <= 0:
            raise LedgerError(f"{strategy}: starting balance {starting_balance} must be > 0")
        self.strategy = strategy
        self.quote = quote
        self.start = starting_balance
        self.cash = starting_balance
        self.realized = ZERO
        self.fees = ZERO
        self.positions: dict[Key, Position] = {}
        self.marks: dict[Key, Decimal] = {}
        self.peak_equity = starting_balance
        self.day = -1
        """UTC day number (days since the epoch) that ``day_start_equity`` belongs to."""
        self.day_start_equity = starting_balance
        self.fills_applied = 0

    # -- changes ------------------------------------------------------------------------

    def apply(self, fill: Fill) -> None:
        """Book one fill; :class:`LedgerError` if it cannot apply or the books stop balancing."""
        if fill.strategy != self.strategy:
            raise LedgerError(f"{self.strategy}: fill for {fill.strategy} ({_describe(fill)})")
        for name, value in (("price", fill.price), ("qty", fill.qty)):
            if not value.is_finite() or value <= 0:
                raise LedgerError(f"{self.strategy}: fill {name} {value} ({_describe(fill)})")
        if not fill.fee.is_finite():
            raise LedgerError(f"{self.strategy}: fill fee {fill.fee} ({_describe(fill)})")
        key = (fill.exchange, fill.symbol)
        with localcontext(EXACT):
            notional = fill.qty * fill.price
            position = self.positions.get(key)
            if fill.side == "buy":
                if position is None:
                    position = self.positions[key] = Position()
                position.qty += fill.qty
                position.cost += notional
                self.cash -= notional
            else:
                held = position.qty if position is not None else ZERO
                if position is None or fill.qty > held:
                    raise LedgerError(
                        f"{self.strategy}: sell of {fill.qty} exceeds the {held} held "
                        f"({_describe(fill)}); spot portfolios are long only"
                    )
                if fill.qty == position.qty:
                    removed = position.cost
                    del self.positions[key]
                else:
                    removed = (position.cost * fill.qty / position.qty).quantize(COST_QUANTUM)
                    position.qty -= fill.qty
                    position.cost -= removed
                self.realized += notional - removed
                self.cash += notional
            self.cash -= fill.fee
            self.fees += fill.fee
        # Our own execution is the freshest price we know for this market.
        self.marks[key] = fill.price
        self.fills_applied += 1
        self.check_invariant(fill)
        self.observe(fill.ts_ns)

    def update_mark(self, key: Key, price: Decimal) -> None:
        """The market's latest price for ``key`` (a trade print or a candle close)."""
        if is_valid_mark(price):
            self.marks[key] = price

    def observe(self, now_ns: int) -> Decimal:
        """Sample equity: raise the peak, and start a new UTC day's loss budget at midnight.

        Returns the equity sampled, so a caller that needs it next need not recompute it.
        """
        equity = self.equity()
        if equity > self.peak_equity:
            self.peak_equity = equity
        day = now_ns // NS_PER_DAY
        # Only forward: a candle backtest books a bar's fills at its close, stamped at its
        # open, so a fill of the 23:59 bar comes after midnight's tick started the new day.
        if day > self.day:
            self.day = day
            self.day_start_equity = equity
        return equity

    def reset_peak(self) -> None:
        """Forget the old high (after a circuit breaker is reset): drawdown restarts at 0."""
        self.peak_equity = self.equity()

    # -- figures ------------------------------------------------------------------------

    def qty(self, key: Key) -> Decimal:
        """Base quantity held in ``key`` (0 when flat)."""
        position = self.positions.get(key)
        return position.qty if position is not None else ZERO

    def mark(self, key: Key) -> Decimal:
        """The price ``key`` is valued at: the last mark, else its average cost."""
        mark = self.marks.get(key)
        if mark is not None:
            return mark
        position = self.positions.get(key)
        return position.avg_cost if position is not None else ZERO

    def position_value(self, key: Key) -> Decimal:
        """Marked value of the position in ``key``."""
        return exact_mul(self.qty(key), self.mark(key))

    def positions_value(self) -> Decimal:
        """Marked value of every position."""
        if not self.positions:
            return ZERO  # flat, the usual case: asked on every risk check and timer tick
        return self._marked()

    def _marked(self) -> Decimal:
        """:meth:`positions_value` of a portfolio holding something (exact)."""
        marks = self.marks
        total = ZERO
        for key, position in self.positions.items():
            mark = marks.get(key)
            total = exact_add(
                total, exact_mul(position.qty, mark if mark is not None else position.avg_cost)
            )
        return total

    def unrealized(self) -> Decimal:
        """Marked value minus what the positions cost."""
        with localcontext(EXACT):
            return sum((p.qty * self.mark(k) - p.cost for k, p in self.positions.items()), ZERO)

    def equity(self) -> Decimal:
        """Cash plus marked positions."""
        if not self.positions:
            return self.cash
        return exact_add(self.cash, self._marked())

    def drawdown(self, equity: Decimal | None = None) -> Decimal:
        """Fraction of peak equity lost since the peak (0 at a new high).

        ``equity``: the current :meth:`equity` when the caller has it already.
        """
        if equity is None:
            equity = self.equity()
        peak = max(self.peak_equity, equity)
        if peak <= 0:
            return ZERO
        return (peak - equity) / peak

    def exposure(self) -> Decimal:
        """Marked positions over equity (infinite if equity is gone but positions remain)."""
        value = self.positions_value()
        equity = self.cash + value
        if not value:
            return ZERO
        if equity <= 0:
            return Decimal("Infinity")
        return value / equity

    def daily_pnl(self) -> Decimal:
        """Equity change since the start of the current UTC day (as last observed)."""
        with localcontext(EXACT):
            return self.equity() - self.day_start_equity

    def state(self, now_ns: int) -> PortfolioState:
        """Every figure at ``now_ns`` (also samples the peak)."""
        self.observe(now_ns)
        value = self.positions_value()
        with localcontext(EXACT):
            equity = self.cash + value
        return PortfolioState(
            ts_ns=now_ns,
            strategy=self.strategy,
            cash=self.cash,
            positions_value=value,
            equity=equity,
            realized=self.realized,
            unrealized=self.unrealized(),
            fees=self.fees,
            drawdown=self.drawdown(),
            exposure=self.exposure(),
            peak_equity=self.peak_equity,
            open_positions=len(self.positions),
        )

    def check_invariant(self, fill: Fill | None = None) -> None:
        """:class:`LedgerError` unless cash + marked == start + realized + unrealized - fees."""
        with localcontext(EXACT):
            left = self.cash + self.positions_value()
            right = self.start + self.realized + self.unrealized() - self.fees
        if left != right:
            after = f" after {_describe(fill)}" if fill is not None else ""
            raise LedgerError(
                f"{self.strategy}: books do not balance{after}: cash + marked positions = "
                f"{left}, start + realized + unrealized - fees = {right}"
            )

    def __repr__(self) -> str:
        return (
            f"Portfolio({self.strategy}, cash={self.cash}, positions={len(self.positions)}, "
            f"realized={self.realized}, fees={self.fees})"
        )


def _describe(fill: Fill) -> str:
    return (
        f"fill of order {fill.order_id}: {fill.side} {fill.qty} {fill.exchange}:{fill.symbol} "
        f"@ {fill.price} fee {fill.fee} at {fill.ts_ns}"
    )
