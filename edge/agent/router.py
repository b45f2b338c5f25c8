"""Where the agent's market data goes: the store, candles, snapshots, and its subscribers.

:class:`EventRouter` is shared by every connection of the agent. It runs on the
event loop thread only, so its builders and timers need no locks; the store
writer it feeds is the one place rows cross to another thread. Its subscribers,
paper trading and the arbitrage detector, are given to it when it is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from edge.collector.runner import STOPPING
from edge.feeds.base import ExchangeFeed
from edge.store.writer import StoreWriter
from shared.book import OrderBook
from shared.candles import NS_PER_MS, CandleBuilder
from shared.clock import Clock
from shared.config.store import StoreConfig
from shared.marketdata import FeedEvent, FeedEventKind, Trade
from shared.trading.arbitrage import ArbitrageDetector, ArbitrageOpportunity

if TYPE_CHECKING:
    from edge.trading.live import PaperTrading

ARBITRAGE_COLUMNS = (
    "symbol", "buy_exchange", "sell_exchange", "start_ns", "end_ns", "duration_ns",
    "buy_price", "sell_price", "size", "edge_bps", "profit", "max_edge_bps", "max_size",
    "max_profit", "updates",
)

log = logging.getLogger("edge.agent")

QUIET_EVENTS = frozenset(
    {FeedEventKind.CONNECTED, FeedEventKind.SUBSCRIBED, FeedEventKind.SNAPSHOT}
)
"""Routine events logged at INFO; everything else is worth a WARNING."""


class EventRouter:
    """Trades, candles, events and periodic book snapshots into the store writer; books,
    trades and candles on to paper trading and the arbitrage detector, when given."""

    def __init__(
        self,
        writer: StoreWriter,
        clock: Clock,
        config: StoreConfig,
        *,
        trading: PaperTrading | None = None,
        arbitrage: ArbitrageDetector | None = None,
    ) -> None:
        self.writer = writer
        self.clock = clock
        self.snapshot_interval_ns = int(config.snapshot_interval_s * 1e9)
        self.snapshot_levels = config.snapshot_levels
        self.close_grace_ms = int(config.candle_close_grace_s * 1000)
        self.builders: dict[tuple[str, str], CandleBuilder] = {}
        self._last_snapshot: dict[tuple[str, str], int] = {}
        self.trades = 0
        self.candles = 0
        self.snapshots = 0
        self.book_updates = 0
        self.events: dict[str, int] = {}
        self.trading = trading
        """Paper trading fed from the same books, trades and candles, when enabled
        (``None`` again once the engine failed: see :meth:`_trade_safely`)."""
        self.arbitrage = arbitrage
        """Cross-exchange detector, when two exchanges carry the same symbol."""
        self.opportunities = 0

    def on_trade(self, trade: Trade) -> None:
        self.trades += 1
        self.writer.put_trade(trade)
        key = (trade.exchange, trade.symbol)
        builder = self.builders.get(key)
        if builder is None:
            builder = self.builders[key] = CandleBuilder(trade.exchange, trade.symbol)
        for candle in builder.add(trade):
            self.candles += 1
            self.writer.put_candle(candle)
            if self.trading is not None:
                self._trade_safely(self.trading.on_candle, candle)
        if self.trading is not None:
            self._trade_safely(self.trading.on_trade, trade)

    def on_event(self, event: FeedEvent) -> None:
        kind = str(event.kind)
        self.events[kind] = self.events.get(kind, 0) + 1
        self.writer.put_event(event)
        routine = event.kind in QUIET_EVENTS or (
            event.kind is FeedEventKind.DISCONNECTED and event.detail == STOPPING
        )
        level = logging.INFO if routine else logging.WARNING
        log.log(level, "%s %s %s %s", event.exchange, event.symbol or "-", kind, event.detail)

    def on_book(self, book: OrderBook) -> None:
        # Snapshots are taken on a timer (take_snapshots), not per update: a book
        # changes up to 10 times a second per symbol and only one state per
        # interval is kept.
        self.book_updates += 1
        if self.trading is not None:
            self._trade_safely(self.trading.on_book, book)
        if self.arbitrage is not None:
            self._store_opportunities(self.arbitrage.on_book(book))

    def _store_opportunities(self, closed: list[ArbitrageOpportunity]) -> None:
        for opportunity in closed:
            self.opportunities += 1
            row = opportunity.as_row()
            self.writer.put("arbitrage_opportunities", tuple(row[c] for c in ARBITRAGE_COLUMNS))

    def close_arbitrage(self, *, everything: bool = False) -> None:
        """Record opportunities whose books went stale (or all open ones, at shutdown)."""
        if self.arbitrage is not None:
            arb = self.arbitrage
            self._store_opportunities(arb.close_all() if everything else arb.on_time())

    def tick_trading(self) -> None:
        """The paper-trading timer: order arrivals, circuit breakers, ledger snapshots."""
        if self.trading is not None:
            self._trade_safely(self.trading.on_time)

    def close_trading(self) -> None:
        """Paper trading's last ledger states, at shutdown (nothing once it stopped)."""
        if self.trading is not None:
            self._trade_safely(self.trading.close)

    def _trade_safely(self, handler: Callable[..., None], *args: Any) -> None:
        """Run a paper-trading handler; a failure stops trading, never collection.

        The engine already isolates strategies; what reaches here is the engine's
        own failure (e.g. a ledger invariant broken), after which its books can't
        be trusted: trading stops with the reason logged, and data keeps flowing.
        """
        try:
            handler(*args)
        except Exception:
            log.exception("paper trading stopped: the engine failed; collection goes on")
            self.trading = None

    def close_candles(self) -> None:
        """Close every candle whose minute (plus the grace) has passed by the clock.

        Without this a symbol that stops trading would keep its last minute open
        until its next trade, however late that comes.
        """
        now_ms = self.clock.time_ns() // NS_PER_MS - self.close_grace_ms
        for builder in self.builders.values():
            for candle in builder.close_before(now_ms):
                self.candles += 1
                self.writer.put_candle(candle)
                if self.trading is not None:
                    self._trade_safely(self.trading.on_candle, candle)

    def take_snapshots(self, feeds: Iterable[ExchangeFeed]) -> None:
        """Store the top levels of every synced book whose interval is due."""
        now = self.clock.time_ns()
        interval = self.snapshot_interval_ns
        for feed in feeds:
            for symbol, book in feed.books.items():
                key = (feed.name, symbol)
                if now - self._last_snapshot.get(key, -interval) < interval:
                    continue
                if not feed.is_synced(symbol):
                    continue
                self._last_snapshot[key] = now
                self.snapshots += 1
                self.writer.put_book_snapshot(book, now, self.snapshot_levels)
