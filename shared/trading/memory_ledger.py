"""A ledger kept in lists: backtests and tests record here instead of SQLite.

The list of orders is each order's history, like the ``order_events`` table,
not its current state repeated. That holds without copying here: the broker
reports every order change as a snapshot copy taken at that moment
(``OrderKeeper.emit``) and never touches it again, so the ledger keeps the
objects it is handed (copying each again cost as much as the rest of recording).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.trading.portfolio import Portfolio, PortfolioState
from shared.trading.types import Fill, Order, OrderUpdate, Rejection


class MemoryLedger:
    """Everything the engine recorded, in order (satisfies ``LedgerLike``)."""

    def __init__(self) -> None:
        self.orders: list[Order] = []
        """Every order change, oldest first (the broker's snapshots, as they were then)."""
        self.fills: list[Fill] = []
        self.rejections: list[Rejection] = []
        self.states: list[PortfolioState] = []
        self.updates = 0

    def record(self, update: OrderUpdate) -> None:
        """Keep every order change, fill and rejection of one broker step."""
        self.updates += 1
        self.orders.extend(update.orders)
        self.fills.extend(update.fills)
        self.rejections.extend(update.rejections)

    def record_state(self, state: PortfolioState) -> None:
        """Keep one portfolio snapshot (the equity curve of a backtest)."""
        self.states.append(state)

    def snapshot(self, portfolios: Iterable[Portfolio], now_ns: int) -> None:
        """Keep every portfolio's state at ``now_ns``."""
        for portfolio in portfolios:
            self.states.append(portfolio.state(now_ns))

    def latest_orders(self) -> dict[int, Order]:
        """Each order's last recorded state, by id."""
        return {order.id: order for order in self.orders}

    def open_orders(self) -> list[Order]:
        """Orders whose last recorded state is still working, by id."""
        return [o for _, o in sorted(self.latest_orders().items()) if o.is_open]
