"""A ledger kept in lists: backtests and tests record here instead of SQLite.

Orders are mutable and the broker keeps changing the same objects, so each
recorded order is a copy: the list is the order's history, like the
``order_events`` table, not its current state repeated.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from shared.trading.portfolio import Portfolio, PortfolioState
from shared.trading.types import Fill, Order, OrderUpdate, Rejection


class MemoryLedger:
    """Everything the engine recorded, in order (satisfies ``LedgerLike``)."""

    def __init__(self) -> None:
        self.orders: list[Order] = []
        """Every order change, oldest first (copies, as they were at the time)."""
        self.fills: list[Fill] = []
        self.rejections: list[Rejection] = []
        self.states: list[PortfolioState] = []
        self.updates = 0

    def record(self, update: OrderUpdate) -> None:
        """Keep every order change, fill and rejection of one broker step."""
        self.updates += 1
        self.orders.extend(copy.copy(order) for order in update.orders)
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
