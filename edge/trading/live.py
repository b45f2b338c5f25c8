"""Paper trading on the agent: the strategies of ``edge.yaml`` trade side by side
against the live books, through the same engine, broker and risk manager as a
backtest, with every order, fill and portfolio state in the agent's SQLite.

At start the ledger is reloaded (portfolios rebuilt from their fills, open
orders given back to the broker), so a restart — even after kill -9 — carries
on where the last committed step left off.

While the store writer cannot commit (a full disk) trading halts: no book, trade,
candle or timer reaches the engine, so no strategy decides and no order fills on
data that may never be stored, and no ledger step piles up in memory. It resumes
by itself with the first event after the writer stores again.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

from edge.store.full_disk import iso_utc
from edge.store.writer import StoreWriter
from edge.trading.instruments import DEFAULT_FEE, DEFAULT_STEP, instrument_from_market
from edge.trading.ledger import SqliteLedger, load_ledger
from shared.book import OrderBook
from shared.clock import Clock
from shared.config.edge import EdgeConfig
from shared.errors import ConfigError
from shared.marketdata import Candle, Trade
from shared.markets import MarketInfo, cache_file, read_cache
from shared.trading.broker import PaperBroker
from shared.trading.context import TradeTape
from shared.trading.engine import Key, PortfolioLike, TradingEngine
from shared.trading.portfolio import Portfolio
from shared.trading.risk import RiskManager
from shared.trading.strategy import (
    StrategyContext,
    build_strategy,
    builtin_registry,
    discover_strategies,
)
from shared.trading.types import Instrument

log = logging.getLogger("edge.trading")


def _cached_markets(data_dir: Path, cache_dir: str, exchange: str) -> dict[str, MarketInfo]:
    cached = read_cache(cache_file(data_dir / cache_dir, exchange), exchange)
    return cached[1] if cached is not None else {}


def default_instrument(book: OrderBook) -> Instrument:
    """Rules for a market with no cached metadata: the book's own precision,
    lot 1e-8, 0.1 % fees — said in the log so the operator can run
    ``tickerml edge markets`` to get the exchange's real ones."""
    return Instrument(
        exchange=book.exchange,
        symbol=book.symbol,
        tick_size=Decimal(1).scaleb(-book.price_decimals),
        lot_size=DEFAULT_STEP,
        maker_fee=DEFAULT_FEE,
        taker_fee=DEFAULT_FEE,
    )


class PaperTrading:
    """Everything paper trading needs on the agent, fed by the agent's event router."""

    def __init__(self, config: EdgeConfig, writer: StoreWriter, db_path: Path, clock: Clock):
        trading = config.trading
        if not trading.strategies:
            raise ConfigError("trading.strategies: trading is enabled but no strategy is listed")
        self.clock = clock
        self.writer = writer
        self.halted_since_ns: int | None = None
        """Since when trading is halted because the store cannot write (None: trading)."""
        data_dir = Path(config.data_dir)
        registry = builtin_registry()
        if trading.strategies_dir:
            folder = Path(trading.strategies_dir)
            report = discover_strategies(folder if folder.is_absolute() else data_dir / folder,
                                         registry)
            for failure in report.errors:
                log.error("strategy file failed to load: %s", failure)
        self.instruments: dict[Key, Instrument] = {}
        for strategy in trading.strategies:
            markets = _cached_markets(data_dir, config.history.metadata_cache, strategy.exchange)
            for symbol in strategy.symbols:
                if symbol in markets:
                    self.instruments[(strategy.exchange, symbol)] = instrument_from_market(
                        markets[symbol]
                    )
        recovered = load_ledger(db_path)
        self.portfolios: dict[str, Portfolio] = {}
        for strategy in trading.strategies:
            quote = strategy.symbols[0].partition("/")[2]
            if any(s.partition("/")[2] != quote for s in strategy.symbols):
                raise ConfigError(
                    f"trading.strategies[{strategy.name}].symbols: one quote currency per "
                    f"portfolio, got {strategy.symbols}"
                )
            self.portfolios[strategy.name] = recovered.portfolios.get(strategy.name) or Portfolio(
                strategy.name, strategy.starting_balance, quote=quote
            )
        self.broker = PaperBroker(
            clock, self.instruments, trading.broker, first_order_id=recovered.next_order_id
        )
        self.risk = RiskManager(trading.risk, clock, open_orders=self.broker.open_orders)
        self.ledger = SqliteLedger(
            writer, clock, self.portfolios, registered=recovered.portfolios.keys()
        )
        self.books: dict[Key, OrderBook] = {}
        self.tape = TradeTape()
        strategies = [
            build_strategy(
                s,
                StrategyContext.for_config(
                    s, clock, self.portfolios[s.name], books=self.books,
                    instruments=self.instruments, tape=self.tape,
                ),
                registry,
            )
            for s in trading.strategies
        ]
        self.wanted: set[Key] = {(s.exchange, sym) for s in trading.strategies for sym in s.symbols}
        portfolios: dict[str, PortfolioLike] = dict(self.portfolios)
        self.engine = TradingEngine(
            clock, self.broker, self.risk, strategies, portfolios, self.instruments,
            self.ledger, books=self.books, tape=self.tape,
        )
        self._paused_by_command: set[str] = set()
        restored = self.broker.restore(recovered.open_orders)
        self.ledger.record(restored)
        log.info(
            "paper trading %d strateg%s on %d market(s); reloaded %d fill(s), %d open order(s)",
            len(strategies), "y" if len(strategies) == 1 else "ies", len(self.wanted),
            recovered.fills, len(recovered.open_orders),
        )

    def pause(self) -> list[str]:
        """Pause every strategy (the hub's ``pause_trading``): no hook of theirs runs,
        orders already resting stay with the broker. Returns the strategies paused."""
        names = [s.name for s in self.engine.strategies if s.name not in self.engine.paused]
        self.engine.paused.update(names)
        self._paused_by_command.update(names)
        return names

    def resume(self) -> list[str]:
        """Undo :meth:`pause`. A strategy the engine paused for its own errors stays
        paused: only the strategies :meth:`pause` stopped come back."""
        names = sorted(self._paused_by_command)
        self.engine.paused.difference_update(names)
        self._paused_by_command.clear()
        return names

    @property
    def paused(self) -> bool:
        """True while :meth:`pause` holds the strategies."""
        return bool(self._paused_by_command)

    @property
    def halted(self) -> str | None:
        """Why trading is halted by the store (a full disk), or None while it trades."""
        since = self.halted_since_ns
        if since is None:
            return None
        return f"halted: the store cannot write (disk full since {iso_utc(since)})"

    def _storing(self) -> bool:
        """Whether the store writes; halts or resumes trading when that changed.

        Checked on every event: one attribute read, and a strategy must not see one
        more book after the writer found the disk full.
        """
        full = self.writer.disk_full_since_ns
        if full is None:
            if self.halted_since_ns is not None:
                lasted = (self.clock.time_ns() - self.halted_since_ns) / 1e9
                self.halted_since_ns = None
                log.warning(
                    "paper trading resumed: the store writes again (halted %.1f s; resting "
                    "orders stayed with the broker)", lasted,
                )
            return True
        if self.halted_since_ns is None:
            self.halted_since_ns = full
            log.warning(
                "paper trading halted: the store cannot write (disk full since %s); no "
                "strategy runs and no order fills until it stores again", iso_utc(full),
            )
        return False

    def on_book(self, book: OrderBook) -> None:
        key = (book.exchange, book.symbol)
        if key not in self.wanted or not self._storing():
            return
        if key not in self.instruments:
            self.instruments[key] = default_instrument(book)
            log.warning(
                "%s %s: no cached market metadata, paper trading with tick %s, lot %s, fees "
                "%s (run `tickerml edge markets` for the exchange's own)",
                book.exchange, book.symbol, self.instruments[key].tick_size, DEFAULT_STEP,
                DEFAULT_FEE,
            )
        self.engine.on_book(book)

    def on_trade(self, trade: Trade) -> None:
        if (trade.exchange, trade.symbol) in self.wanted and self._storing():
            self.engine.on_trade(trade)

    def on_candle(self, candle: Candle) -> None:
        if (candle.exchange, candle.symbol) in self.wanted and self._storing():
            self.engine.on_candle(candle)

    def on_time(self) -> None:
        if self._storing():
            self.engine.on_time()

    def close(self) -> None:
        """Snapshot every portfolio as it stands, so the ledger ends on the last fill."""
        self.ledger.on_time(self.clock.time_ns(), force=True)

    def summary(self) -> str:
        """One line per strategy: equity, realized PnL, fees, open orders."""
        now = self.clock.time_ns()
        parts = []
        for name, portfolio in self.portfolios.items():
            state = portfolio.state(now)
            parts.append(
                f"{name} equity {state.equity:.2f} {portfolio.quote} "
                f"(realized {state.realized:.2f}, fees {state.fees:.2f}, "
                f"open orders {len(self.broker.open_orders(name))})"
            )
        return "; ".join(parts)
