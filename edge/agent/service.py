"""The agent's service, ``tickerml edge run``: every configured exchange into one
store, paper trading on the same books, the news jobs and the sync to the hub.

For each exchange the symbols are split into connections of at most the feed's
``max_symbols_per_connection``; each connection gets a
:class:`~edge.collector.runner.ConnectionRunner`. One ticker closes candles of
quiet symbols and takes book snapshots on the injected clock; one status task
logs a line a period. Stopping (a signal, ``duration_s``, or the caller's
event) closes the sockets, then drains the store writer so nothing already
received is lost; :meth:`AgentService.run` returns the run's own figures
(:class:`RunSummary`), not the state the shutdown left.

Before anything opens, :func:`~edge.agent.checks.check_runnable` refuses a config
the agent cannot run, and a lock beside the database
(:class:`~edge.store.lock.StoreLock`) refuses a second agent on the same store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.agent.checks import check_runnable, errors_of
from edge.agent.commands import agent_handlers, feed_health
from edge.agent.router import EventRouter
from edge.collector.recorder import RawRecorder
from edge.collector.runner import ConnectionRunner
from edge.feeds import feed_class
from edge.store.full_disk import iso_utc
from edge.store.lock import StoreLock, lock_path
from edge.store.writer import StoreWriter, database_path
from edge.store.writer_stats import WriterStats
from edge.sync.client import SyncClient
from edge.trading.live import PaperTrading
from shared.clock import Clock, LiveClock
from shared.config.edge import EdgeConfig
from shared.errors import OperationalError, TemporaryError
from shared.trading.arbitrage import ArbitrageDetector

if TYPE_CHECKING:
    from edge.news.jobs import NewsJobs

log = logging.getLogger("edge.agent")

STOP_GRACE_S = 5.0
"""How long connections get to close cleanly before their tasks are cancelled."""


def split_symbols(symbols: list[str], per_connection: int) -> list[list[str]]:
    """``symbols`` in consecutive groups of at most ``per_connection``."""
    size = max(1, per_connection)
    return [symbols[i : i + size] for i in range(0, len(symbols), size)]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One status sample: what the status line prints and tests read."""

    messages: int
    messages_per_s: float
    books_synced: int
    books: int
    connections_up: int
    connections: int
    reconnects: int
    silences: int
    writer: WriterStats
    trading: str | None = None
    """Why paper trading is not trading (halted by a full disk), when it is not."""
    now_ns: int = 0
    """When the sample was taken (the agent's clock): the age of a full disk."""

    def line(self) -> str:
        w = self.writer
        return (
            f"collect: {self.messages_per_s:.1f} msg/s, books {self.books_synced}/{self.books} "
            f"synced, sockets {self.connections_up}/{self.connections} up, "
            f"reconnects {self.reconnects}, rows {w.total_written} "
            f"(trades {w.rows_written.get('trades', 0)}, "
            f"candles {w.rows_written.get('candles_1m', 0)}, "
            f"snapshots {w.rows_written.get('book_snapshots', 0)}), "
            f"commits {w.commits_per_s:.2f}/s, queue {w.pending_rows}"
            + (f", dropped {w.dropped_rows}" if w.dropped_rows else "")
            + self._store_problem()
        )

    def _store_problem(self) -> str:
        w = self.writer
        if w.disk_full_since_ns is None:
            return ""
        age = max(self.now_ns - w.disk_full_since_ns, 0) / 1e9
        return (
            f"; STORE: disk full since {iso_utc(w.disk_full_since_ns)} ({age:.0f} s, "
            f"{w.disk_full_reason}): {w.pending_rows} rows wait in memory, "
            f"{w.disk_full_dropped} dropped; trading {self.trading or 'not running'}"
        )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run did, from its start to the moment it was told to stop: the
    closing line and the exit status report these, not the state after shutdown
    (every socket closed, every book unsynced)."""

    duration_s: float
    messages: int
    """WebSocket messages received over the run."""
    book_updates: int
    """Books published consistent with their exchange (synced, checked)."""
    trades: int
    books: int
    books_synced_best: int
    """The most books synced at once (sampled every tick and at the stop)."""
    books_synced_at_stop: int
    """Books synced when the stop came, before the sockets closed."""
    connections: int
    connections_up: int
    """Sockets that were up at some point of the run."""
    reconnects: int
    silences: int
    writer: WriterStats

    @property
    def messages_per_s(self) -> float:
        """The average rate over the whole run."""
        return self.messages / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def received_market_data(self) -> bool:
        """Whether any book synced or any trade arrived."""
        return self.book_updates > 0 or self.trades > 0

    def line(self) -> str:
        w = self.writer
        return (
            f"ran {self.duration_s:.1f} s: {self.messages} messages "
            f"({self.messages_per_s:.1f} msg/s), books synced {self.books_synced_best}/"
            f"{self.books} at best and {self.books_synced_at_stop}/{self.books} at stop, "
            f"sockets {self.connections_up}/{self.connections} up, "
            f"reconnects {self.reconnects}, rows {w.total_written} "
            f"(trades {w.rows_written.get('trades', 0)}, "
            f"candles {w.rows_written.get('candles_1m', 0)}, "
            f"snapshots {w.rows_written.get('book_snapshots', 0)}), commits {w.commits}"
            + (f", dropped {w.dropped_rows}" if w.dropped_rows else "")
        )


class AgentService:
    """The agent of an :class:`EdgeConfig`: collects every exchange into its SQLite
    store and routes the market data on to paper trading and the arbitrage detector."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        clock: Clock | None = None,
        db_path: Path | None = None,
        capture_path: Path | None = None,
        status_interval_s: float = 60.0,
        source: str = "edge config",
        lock: StoreLock | None = None,
    ) -> None:
        """``source`` names the config in errors (the file, for ``edge run``); ``lock``
        is the database's lock when the caller took it already (else it is taken here)
        and is released when the run ends."""
        problems = check_runnable(config)
        failure = errors_of(problems, source)
        if failure is not None:
            raise failure
        for problem in problems:
            log.warning("%s", problem.line(source))
        self.config = config
        self.clock: Clock = clock or LiveClock()
        self.db_path = db_path or database_path(config.data_dir, config.store)
        self.status_interval_s = status_interval_s
        if lock is not None and lock.path != lock_path(self.db_path):
            raise ValueError(f"{lock.path} is not the lock of {self.db_path}")
        self.lock = lock or StoreLock.acquire(self.db_path)
        """This agent's hold on its database, for as long as it runs."""
        try:
            self._assemble(config, capture_path)
        except BaseException:
            # A part that failed after the writer opened (paper trading's ledger, say)
            # must not leave its thread writing to a database it no longer holds.
            writer: StoreWriter | None = getattr(self, "writer", None)
            with contextlib.suppress(Exception):
                if writer is not None:
                    writer.close()
            self.lock.release()
            raise

    def _assemble(self, config: EdgeConfig, capture_path: Path | None) -> None:
        self.writer = StoreWriter(self.db_path, config.store, clock=self.clock)
        arb = config.trading.arbitrage
        exchanges_per_symbol: dict[str, set[str]] = {}
        for exchange in config.exchanges:
            for symbol in exchange.symbols:
                exchanges_per_symbol.setdefault(symbol, set()).add(exchange.name)
        arbitrage: ArbitrageDetector | None = None
        if arb.enabled and any(len(names) > 1 for names in exchanges_per_symbol.values()):
            fee = Decimal(str(arb.taker_fee))
            arbitrage = ArbitrageDetector(
                self.clock,
                {e.name: fee for e in config.exchanges},
                latency_ms=arb.latency_ms,
                min_edge_bps=arb.min_edge_bps,
            )
        self.paper: PaperTrading | None = None
        if config.trading.enabled:
            self.paper = PaperTrading(config, self.writer, self.db_path, self.clock)
        self.router = EventRouter(
            self.writer, self.clock, config.store, trading=self.paper, arbitrage=arbitrage
        )
        names = [e.name for e in config.exchanges]
        self.recorder = RawRecorder(
            self.writer if config.store.raw_capture else None, capture_path, names
        )
        self.runners: list[ConnectionRunner] = []
        for exchange in config.exchanges:
            cls = feed_class(exchange.name)  # check_runnable vouched for the name
            groups = split_symbols(exchange.symbols, cls.max_symbols_per_connection)
            for i, symbols in enumerate(groups):
                label = exchange.name if len(groups) == 1 else f"{exchange.name}#{i + 1}"
                self.runners.append(
                    ConnectionRunner(
                        exchange, symbols, self.router, self.clock, config.backoff,
                        recorder=self.recorder, feed_class=cls, label=label,
                    )
                )
        self.sync: SyncClient | None = None
        """The sync to the hub while running, when ``sync.enabled``."""
        self.news: NewsJobs | None = None
        """The news harvest and hourly roll-up while running, when ``news.enabled``."""
        self._last_status = (time.monotonic(), 0)
        self._best_synced = 0

    def _synced_books(self) -> int:
        synced = sum(r.feed.is_synced(s) for r in self.runners for s in r.feed.symbols)
        self._best_synced = max(self._best_synced, synced)
        return synced

    # -- status ----------------------------------------------------------------------

    def status(self) -> ServiceStatus:
        """Counters now; ``messages_per_s`` is since the previous call."""
        messages = sum(r.messages for r in self.runners)
        now = time.monotonic()
        then, before = self._last_status
        self._last_status = (now, messages)
        books = synced = 0
        for runner in self.runners:
            for symbol in runner.feed.symbols:
                books += 1
                synced += runner.feed.is_synced(symbol)
        return ServiceStatus(
            messages=messages,
            messages_per_s=(messages - before) / max(now - then, 1e-9),
            books_synced=synced,
            books=books,
            connections_up=sum(r.connected for r in self.runners),
            connections=len(self.runners),
            reconnects=sum(r.reconnects for r in self.runners),
            silences=sum(r.silences for r in self.runners),
            writer=self.writer.stats(),
            trading=self.paper.halted if self.paper is not None else None,
            now_ns=self.clock.time_ns(),
        )

    # -- running ---------------------------------------------------------------------

    async def run(
        self, *, duration_s: float | None = None, stop: asyncio.Event | None = None
    ) -> RunSummary:
        """Run until ``stop`` is set, ``duration_s`` passes, or SIGINT/SIGTERM.

        Always drains the writer and releases the database's lock before returning;
        raises the writer's error if it failed.
        """
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        if self.config.news.enabled:
            from edge.news.jobs import NewsJobs

            self.news = NewsJobs(self.config, self.writer, self.db_path, self.clock)
            try:
                self.news.start()
            except BaseException:
                self._close_store()
                raise
        if self.config.sync.enabled:
            try:
                self.sync = SyncClient(
                    self.config, self.writer, self.db_path, self.clock,
                    commands=agent_handlers(self.runners, self.paper, loop),
                    health=lambda: feed_health(self.runners),
                )
            except BaseException:
                if self.news is not None:
                    self.news.shutdown()
                self._close_store()
                raise
            self.sync.start()
        handled = self._install_signals(loop, stop)
        tasks = [
            loop.create_task(runner.run(stop), name=f"runner {runner.label}")
            for runner in self.runners
        ]
        background = [
            loop.create_task(self._ticker(stop), name="agent ticker"),
            loop.create_task(self._status_loop(stop), name="agent status"),
        ]
        log.info(
            "collecting %d symbol(s) over %d connection(s) into %s",
            sum(len(r.feed.symbols) for r in self.runners), len(self.runners), self.db_path,
        )
        failure: BaseException | None = None
        try:
            waiter = loop.create_task(stop.wait())
            done, _ = await asyncio.wait(
                [waiter, *tasks], timeout=duration_s, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is not waiter and task.exception() is not None:
                    failure = task.exception()
            waiter.cancel()
        finally:
            # The run's figures as the stop finds them, before closing the sockets
            # unsyncs every book.
            stopped = time.monotonic()
            at_stop = self._synced_books()
            stop.set()
            await self._stop_tasks(tasks)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            for sig in handled:
                loop.remove_signal_handler(sig)
            self._shutdown()
            summary = RunSummary(
                duration_s=stopped - started,
                messages=sum(r.messages for r in self.runners),
                book_updates=self.router.book_updates,
                trades=self.router.trades,
                books=sum(len(r.feed.symbols) for r in self.runners),
                books_synced_best=self._best_synced,
                books_synced_at_stop=at_stop,
                connections=len(self.runners),
                connections_up=sum(r.connects > 0 for r in self.runners),
                reconnects=sum(r.reconnects for r in self.runners),
                silences=sum(r.silences for r in self.runners),
                writer=self.writer.stats(),
            )
            log.info("stopped: %s", summary.line())
        if failure is not None:
            raise failure
        return summary

    def _install_signals(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[int]:
        handled: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Only the main thread may own signal handlers (tests run the service
            # in other threads too).
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
        return handled

    async def _stop_tasks(self, tasks: list[asyncio.Task[None]]) -> None:
        _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S) if tasks else ((), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _close_store(self) -> None:
        """Close the writer, then let another agent have the database."""
        try:
            self.writer.close()
        finally:
            self.lock.release()

    def _shutdown(self) -> None:
        # Only minutes already over are closed: the running minute is incomplete
        # and storing it would freeze a partial candle (INSERT OR IGNORE keeps
        # the first) that the next run could never correct.
        with contextlib.suppress(OperationalError):
            self.router.close_candles()
        self.router.close_trading()
        self.router.close_arbitrage(everything=True)
        self.recorder.close()
        if self.news is not None:
            # Before the sync's last flush, so the news rows are committed and counted.
            self.news.shutdown()
        if self.sync is not None:
            # After the last rows are committed, so the final status counts them; before
            # the writer closes, so the last acknowledged cursors are still stored. On a
            # full disk nothing commits: close() below has the last word.
            with contextlib.suppress(OperationalError, TemporaryError):
                self.writer.flush()
            self.sync.stop()
        self._close_store()
        if self.paper is not None:
            log.info("paper trading: %s", self.paper.summary())

    async def _ticker(self, stop: asyncio.Event) -> None:
        interval = min(1.0, self.config.store.snapshot_interval_s / 5)
        feeds = [runner.feed for runner in self.runners]
        while not stop.is_set():
            await asyncio.sleep(interval)
            if self.writer.failed is not None:
                log.error("store writer failed, stopping: %s", self.writer.failed)
                stop.set()
                return
            self._synced_books()
            self.router.close_candles()
            self.router.take_snapshots(feeds)
            self.router.tick_trading()
            self.router.close_arbitrage()

    async def _status_loop(self, stop: asyncio.Event) -> None:
        self.status()
        while not stop.is_set():
            await asyncio.sleep(self.status_interval_s)
            log.info("%s", self.status().line())


def run_agent(
    config: EdgeConfig,
    *,
    duration_s: float | None = None,
    capture_path: Path | None = None,
    status_interval_s: float = 60.0,
    **kwargs: Any,
) -> RunSummary:
    """Build an :class:`AgentService` and run it on a fresh event loop."""
    service = AgentService(
        config, capture_path=capture_path, status_interval_s=status_interval_s, **kwargs
    )
    return asyncio.run(service.run(duration_s=duration_s))
