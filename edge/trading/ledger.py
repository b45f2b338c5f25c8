"""The paper-trading ledger in the agent's SQLite store, and its recovery.

Every table is append-only (the sync sends rows after an acknowledged id): an
order's life is a series of ``order_events`` rows, its state the last one.
Fills are the source of truth for money: :func:`load_ledger` rebuilds each
portfolio by replaying its fills onto its starting balance, so the
``portfolio_state`` snapshots are for charts and the hub, never for recovery.

One broker step (an :class:`OrderUpdate`: order changes, fills, rejections)
goes to the store writer as one ``put_many`` group, which always lands in a
single commit. A ``kill -9`` therefore loses whole trailing steps at worst,
never half of one, and a fill is never stored without its order's event.

The engine records an update *before* applying its fills to the portfolios,
so the post-fill snapshot of a portfolio is written with the next step, or on
the next :meth:`SqliteLedger.on_time`, whichever comes first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from edge.store.db import connect
from edge.store.writer import StoreWriter, decimal_text
from shared.clock import Clock
from shared.trading.portfolio import LedgerError, Portfolio, PortfolioState
from shared.trading.types import (
    Bracket,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Rejection,
    TimeInForce,
)

Row = tuple[str, tuple[Any, ...]]

_ORDER_COLUMNS = (
    "order_id, strategy, exchange, symbol, side, type, tif, post_only, qty, price, stop_price, "
    "status, filled_qty, avg_price, fees, queue_ahead, parent_id, oco_id, bracket_stop, "
    "bracket_take, tag, reason, created_ns, arrive_ns, ts_ns"
)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def order_row(order: Order) -> Row:
    """One ``order_events`` row: the order as it is now."""
    bracket = order.bracket
    return (
        "order_events",
        (
            order.id, order.strategy, order.exchange, order.symbol, order.side,
            str(order.type), str(order.tif), int(order.post_only), decimal_text(order.qty),
            _text(order.price), _text(order.stop_price), str(order.status),
            decimal_text(order.filled_qty), decimal_text(order.avg_price),
            decimal_text(order.fees), decimal_text(order.queue_ahead), order.parent_id,
            order.oco_id, _text(bracket.stop_loss) if bracket else None,
            _text(bracket.take_profit) if bracket else None, order.tag, order.reason,
            order.created_ns, order.arrive_ns, order.updated_ns or order.created_ns,
        ),
    )


def fill_row(fill: Fill) -> Row:
    """One ``fills`` row."""
    return (
        "fills",
        (
            fill.order_id, fill.strategy, fill.exchange, fill.symbol, fill.side,
            decimal_text(fill.price), decimal_text(fill.qty), decimal_text(fill.fee),
            str(fill.liquidity), fill.ts_ns,
        ),
    )


def rejection_row(rejection: Rejection) -> Row:
    """One ``risk_rejections`` row."""
    return (
        "risk_rejections",
        (
            rejection.strategy, rejection.exchange, rejection.symbol, rejection.reason,
            rejection.detail, rejection.order_id, rejection.ts_ns,
        ),
    )


def state_row(state: PortfolioState) -> Row:
    """One ``portfolio_state`` row."""
    return (
        "portfolio_state",
        (
            state.strategy, state.ts_ns, decimal_text(state.cash),
            decimal_text(state.positions_value), decimal_text(state.equity),
            decimal_text(state.realized), decimal_text(state.unrealized),
            decimal_text(state.fees), decimal_text(state.drawdown), decimal_text(state.exposure),
            decimal_text(state.peak_equity), state.open_positions,
        ),
    )


class SqliteLedger:
    """Records the engine's every step through the agent's store writer (``LedgerLike``).

    ``portfolios`` are the live portfolios the engine applies fills to; the
    ledger reads them for snapshots. Any not in ``registered`` (the strategies
    :func:`load_ledger` found) has its starting balance recorded now, since
    recovery replays fills onto it.
    """

    def __init__(
        self,
        writer: StoreWriter,
        clock: Clock,
        portfolios: Mapping[str, Portfolio],
        *,
        registered: Collection[str] = (),
        state_interval_s: float = 60.0,
    ) -> None:
        self.writer = writer
        self.clock = clock
        self.portfolios = portfolios
        self.state_interval_ns = int(state_interval_s * 1e9)
        self._dirty: set[str] = set()
        self._last_states_ns: int | None = None
        now = clock.time_ns()
        new = [
            ("paper_portfolios", (p.strategy, p.quote, decimal_text(p.start), now))
            for name, p in portfolios.items()
            if name not in registered
        ]
        writer.put_many(new)

    def record(self, update: OrderUpdate) -> None:
        """Queue one broker step as one group: it commits whole or not at all."""
        rows = self._dirty_states(self.clock.time_ns())
        rows += [order_row(order) for order in update.orders]
        rows += [fill_row(fill) for fill in update.fills]
        rows += [rejection_row(rejection) for rejection in update.rejections]
        self._dirty.update(fill.strategy for fill in update.fills)
        self.writer.put_many(rows)

    def on_time(self, now_ns: int, *, force: bool = False) -> None:
        """Snapshot portfolios that filled since the last one, and all of them every
        interval (or now, with ``force``: at shutdown)."""
        due = (
            force
            or self._last_states_ns is None
            or now_ns - self._last_states_ns >= self.state_interval_ns
        )
        if due:
            self._last_states_ns = now_ns
            self._dirty.clear()
            rows = [state_row(p.state(now_ns)) for p in self.portfolios.values()]
        else:
            rows = self._dirty_states(now_ns)
        self.writer.put_many(rows)

    def _dirty_states(self, now_ns: int) -> list[Row]:
        rows = [
            state_row(self.portfolios[name].state(now_ns))
            for name in sorted(self._dirty)
            if name in self.portfolios
        ]
        self._dirty.clear()
        return rows


@dataclass
class Recovered:
    """What :func:`load_ledger` rebuilt from the store."""

    portfolios: dict[str, Portfolio] = field(default_factory=dict)
    open_orders: list[Order] = field(default_factory=list)
    """Orders whose last event leaves them working, by id."""
    next_order_id: int = 1
    fills: int = 0


def load_ledger(db_path: Path | str) -> Recovered:
    """Rebuild portfolios (fills replayed onto starting balances) and open orders.

    Raises :class:`LedgerError` if the stored ledger is inconsistent: a fill
    whose order has no event, a fill for an unregistered portfolio, or books
    that stop balancing during the replay.
    """
    path = Path(db_path)
    if not path.exists():
        return Recovered()
    # A writable connection, though it only reads: after a kill -9 the first
    # opener must run WAL recovery, which a read-only connection cannot.
    conn = connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "order_events" not in tables:
            return Recovered()
        # One read transaction: the writer may be appending while we read, and
        # every query must see the same commits.
        conn.execute("BEGIN")
        return _load(conn, path)
    finally:
        conn.close()


def _load(conn: sqlite3.Connection, path: Path) -> Recovered:
    out = Recovered()
    for strategy, quote, balance in conn.execute(
        "SELECT strategy, quote, starting_balance FROM paper_portfolios ORDER BY id"
    ):
        # The first registration wins: a portfolio keeps the balance it started with.
        if strategy not in out.portfolios:
            out.portfolios[strategy] = Portfolio(strategy, Decimal(balance), quote)
    known_orders = {r[0] for r in conn.execute("SELECT DISTINCT order_id FROM order_events")}
    for row in conn.execute(
        "SELECT id, order_id, strategy, exchange, symbol, side, price, qty, fee, liquidity, "
        "ts_ns FROM fills ORDER BY id"
    ):
        fill = Fill(
            order_id=row[1], strategy=row[2], exchange=row[3], symbol=row[4], side=row[5],
            price=Decimal(row[6]), qty=Decimal(row[7]), fee=Decimal(row[8]),
            liquidity=Liquidity(row[9]), ts_ns=row[10],
        )
        if fill.order_id not in known_orders:
            raise LedgerError(f"{path}: fill row {row[0]} has no event for order {fill.order_id}")
        portfolio = out.portfolios.get(fill.strategy)
        if portfolio is None:
            raise LedgerError(f"{path}: fill row {row[0]} for unregistered {fill.strategy}")
        portfolio.apply(fill)
        out.fills += 1
    for strategy, peak in conn.execute(
        "SELECT strategy, peak_equity FROM portfolio_state WHERE id IN "
        "(SELECT MAX(id) FROM portfolio_state GROUP BY strategy)"
    ):
        # The replay samples equity only at fills; the live run saw marks in
        # between, and the drawdown breaker must not forget its high.
        portfolio = out.portfolios.get(strategy)
        if portfolio is not None:
            portfolio.peak_equity = max(portfolio.peak_equity, Decimal(peak))
    for row in conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM order_events WHERE id IN "
        "(SELECT MAX(id) FROM order_events GROUP BY order_id) ORDER BY order_id"
    ):
        order = _order(row)
        if order.id > 0 and order.is_open:
            out.open_orders.append(order)
    top = conn.execute(
        "SELECT MAX(m) FROM (SELECT MAX(order_id) AS m FROM order_events "
        "UNION ALL SELECT MAX(order_id) FROM fills "
        "UNION ALL SELECT MAX(order_id) FROM risk_rejections)"
    ).fetchone()[0]
    out.next_order_id = (top or 0) + 1
    return out


def _order(row: tuple[Any, ...]) -> Order:
    stop, take = _dec(row[18]), _dec(row[19])
    return Order(
        id=row[0], strategy=row[1], exchange=row[2], symbol=row[3], side=row[4],
        type=OrderType(row[5]), tif=TimeInForce(row[6]), post_only=bool(row[7]),
        qty=Decimal(row[8]), price=_dec(row[9]), stop_price=_dec(row[10]),
        status=OrderStatus(row[11]), filled_qty=Decimal(row[12]), avg_price=Decimal(row[13]),
        fees=Decimal(row[14]), queue_ahead=Decimal(row[15]), parent_id=row[16], oco_id=row[17],
        bracket=None if stop is None and take is None else Bracket(stop, take),
        tag=row[20], reason=row[21], created_ns=row[22], arrive_ns=row[23], updated_ns=row[24],
    )
