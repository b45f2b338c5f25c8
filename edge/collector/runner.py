"""One WebSocket connection of one exchange feed, kept alive for as long as the agent runs.

The runner does all the I/O a feed asks for and nothing else: it opens the
socket, sends the subscriptions, hands every message to the feed with its
receive time, fetches REST snapshots the feed requests, sends app-level pings,
and reconnects with capped, full-jitter backoff when the socket drops or goes
silent. Parsing, books and sync procedures stay inside the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from edge.collector.http import HTTPFetchError, fetch_bytes, fetch_json
from edge.collector.recorder import RawRecorder
from edge.feeds.base import ExchangeFeed
from shared.backoff import Backoff
from shared.book import OrderBook
from shared.clock import Clock
from shared.config.feeds import BackoffConfig, ExchangeConfig
from shared.errors import OperationalError
from shared.marketdata import FeedEvent, FeedEventKind, Trade

log = logging.getLogger("edge.collector")

SNAPSHOT_CONCURRENCY = 4
"""REST snapshots in flight per connection: a reconnect of 100 symbols must not
fire 100 requests at once into an exchange's rate limit."""

STOPPING = "agent stopping"
"""Detail of the DISCONNECTED event of a deliberate shutdown (logged at INFO)."""


class MarketSink(Protocol):
    """Where every connection's trades, events and books go (the agent's event router)."""

    def on_trade(self, trade: Trade) -> None: ...

    def on_event(self, event: FeedEvent) -> None: ...

    def on_book(self, book: OrderBook) -> None: ...


class ConnectionSink:
    """The sink one feed instance talks to: data to the agent's shared sink,
    I/O requests to its own runner."""

    def __init__(self, runner: ConnectionRunner, store: MarketSink) -> None:
        self.runner = runner
        self.store = store

    def on_trade(self, trade: Trade) -> None:
        self.store.on_trade(trade)

    def on_event(self, event: FeedEvent) -> None:
        self.store.on_event(event)

    def on_book(self, book: OrderBook) -> None:
        self.store.on_book(book)

    def request_snapshot(self, feed: ExchangeFeed, symbol: str) -> None:
        self.runner.request_snapshot(symbol)

    def send(self, feed: ExchangeFeed, message: str) -> None:
        self.runner.send(message)


class ConnectionRunner:
    """Keeps one feed's socket open: connect, subscribe, receive, reconnect.

    Counters (``messages``, ``connects``, ``reconnects``, ``silences``,
    ``snapshot_fetches``, ``snapshot_errors``) are read by the status line and tests.
    """

    def __init__(
        self,
        exchange: ExchangeConfig,
        symbols: list[str],
        store: MarketSink,
        clock: Clock,
        backoff: BackoffConfig,
        *,
        recorder: RawRecorder | None = None,
        feed_class: type[ExchangeFeed],
        label: str = "",
        http_timeout_s: float = 10.0,
    ) -> None:
        self.config = exchange
        self.clock = clock
        self.backoff_config = backoff
        self.backoff = Backoff(backoff)
        self.recorder = recorder if recorder is not None and recorder.enabled else None
        self.http_timeout_s = http_timeout_s
        self.feed: ExchangeFeed = feed_class(
            symbols,
            ConnectionSink(self, store),
            clock,
            depth=exchange.depth,
            ws_url=exchange.ws_url,
            rest_url=exchange.rest_url,
            trades=exchange.trades,
        )
        self.exchange = self.feed.name
        self.label = label or self.exchange
        self.messages = 0
        self.connects = 0
        self.reconnects = 0
        self.disconnects = 0
        self.silences = 0
        self.snapshot_fetches = 0
        self.snapshot_errors = 0
        self.connected = False
        self._ws: ClientConnection | None = None
        self._url = ""
        self._outbox: asyncio.Queue[str] | None = None
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._snapshot_slots = asyncio.Semaphore(SNAPSHOT_CONCURRENCY)
        self._last_recv = 0.0

    # -- feed requests (synchronous, from inside feed.on_message) ----------------------

    def request_snapshot(self, symbol: str) -> None:
        """Start fetching ``symbol``'s REST snapshot unless one is already on its way."""
        if symbol in self._snapshot_tasks or not self.connected:
            return
        task = asyncio.get_running_loop().create_task(
            self._fetch_snapshot(symbol), name=f"snapshot {self.label} {symbol}"
        )
        self._snapshot_tasks[symbol] = task

    def send(self, message: str) -> None:
        """Queue ``message`` for the open socket (dropped if there is none: a
        reconnect subscribes afresh)."""
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    # -- the connection loop -------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect and reconnect until ``stop`` is set."""
        while not stop.is_set():
            await self._session(stop)
            if stop.is_set():
                break
            delay = self.backoff.next_delay()
            self.reconnects += 1
            self._event(FeedEventKind.RECONNECT, f"attempt {self.backoff.attempt} in {delay:.2f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event) -> None:
        """One connection's lifetime; returns when it ends, for any reason but a bug
        in the store (an :class:`OperationalError` stops the agent)."""
        feed = self.feed
        detail = "closed"
        try:
            await feed.prepare(self._fetch_json)
            self._url = url = feed.connect_url()
            async with connect(
                url,
                ping_interval=feed.ping_interval_s,
                ping_timeout=self.config.silent_after_s,
                max_size=self.config.max_message_bytes,
                open_timeout=self.http_timeout_s,
                close_timeout=2.0,
            ) as ws:
                await self._connected(ws, stop)
        except asyncio.CancelledError:
            raise
        except OperationalError:
            raise
        except ConnectionClosed as exc:
            detail = f"closed: {exc}"
        except (OSError, TimeoutError, WebSocketException, HTTPFetchError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            # A feed is not supposed to raise on bad input; if one does, the
            # connection is rebuilt rather than the whole agent taken down.
            log.exception("%s: unexpected error on the connection", self.label)
            detail = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            await self._teardown()
        if stop.is_set():
            detail = STOPPING
        if self.connected:
            self.connected = False
            self.disconnects += 1
            self._event(FeedEventKind.DISCONNECTED, detail)
        else:
            self._event(FeedEventKind.ERROR, f"connect {self._url or self.label}: {detail}")

    async def _connected(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        feed = self.feed
        self._ws = ws
        self.connected = True
        self.connects += 1
        loop = asyncio.get_running_loop()
        self._last_recv = loop.time()
        now = self.clock.time_ns()
        self._event(FeedEventKind.CONNECTED, self._url)
        if self.recorder is not None:
            self.recorder.record(self.exchange, "open", self._url, now, "")
        self._outbox = asyncio.Queue()
        for message in feed.subscribe_messages():
            self._outbox.put_nowait(message)
        helpers = [
            loop.create_task(self._sender(ws), name=f"send {self.label}"),
            loop.create_task(self._watchdog(ws), name=f"watchdog {self.label}"),
            loop.create_task(self._close_on(stop, ws), name=f"stop {self.label}"),
        ]
        if feed.ping_message() is not None and feed.ping_interval_s:
            helpers.append(loop.create_task(self._pinger(), name=f"ping {self.label}"))
        try:
            await self._receive(ws)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _receive(self, ws: ClientConnection) -> None:
        feed = self.feed
        clock = self.clock
        recorder = self.recorder
        exchange, url = self.exchange, self._url
        loop = asyncio.get_running_loop()
        first = True
        async for raw in ws:
            recv_ns = clock.time_ns()
            self._last_recv = loop.time()
            self.messages += 1
            if recorder is not None:
                recorder.record(exchange, "recv", url, recv_ns, raw)
            feed.on_message(raw, recv_ns)
            if first:
                # The exchange is answering again: later drops start from the
                # shortest delay instead of where this outage left off.
                first = False
                self.backoff.reset()

    async def _sender(self, ws: ClientConnection) -> None:
        assert self._outbox is not None
        while True:
            message = await self._outbox.get()
            await ws.send(message)
            if self.recorder is not None:
                now = self.clock.time_ns()
                self.recorder.record(self.exchange, "sent", self._url, now, message)

    async def _pinger(self) -> None:
        interval = self.feed.ping_interval_s or 20.0
        while True:
            await asyncio.sleep(interval)
            message = self.feed.ping_message()
            if message is not None:
                self.send(message)

    async def _watchdog(self, ws: ClientConnection) -> None:
        """Close a socket that has gone quiet: a half-open TCP connection can look
        alive for minutes while the book silently goes stale."""
        silent_after = self.config.silent_after_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, silent_after / 4))
            idle = loop.time() - self._last_recv
            if idle >= silent_after:
                self.silences += 1
                self._event(FeedEventKind.SILENT, f"no message for {idle:.1f}s")
                await ws.close(code=1001, reason="silent")
                return

    async def _close_on(self, stop: asyncio.Event, ws: ClientConnection) -> None:
        await stop.wait()
        await ws.close(code=1001, reason="agent stopping")

    async def _teardown(self) -> None:
        self._ws = None
        self._outbox = None
        tasks = list(self._snapshot_tasks.values())
        self._snapshot_tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.feed.on_disconnect(self.clock.time_ns())

    # -- REST ------------------------------------------------------------------------

    async def _fetch_json(self, url: str, method: str = "GET") -> Any:
        return await fetch_json(url, method, timeout_s=self.http_timeout_s)

    async def _fetch_snapshot(self, symbol: str) -> None:
        backoff = Backoff(self.backoff_config)
        try:
            while True:
                url = self.feed.snapshot_url(symbol)
                if url is None:
                    return
                try:
                    async with self._snapshot_slots:
                        body = await fetch_bytes(url, timeout_s=self.http_timeout_s)
                except HTTPFetchError as exc:
                    self.snapshot_errors += 1
                    delay = max(backoff.next_delay(), exc.retry_after_s or 0.0)
                    self._event(
                        FeedEventKind.ERROR, f"snapshot {exc}; retry in {delay:.2f}s", symbol
                    )
                    await asyncio.sleep(delay)
                    continue
                recv_ns = self.clock.time_ns()
                self.snapshot_fetches += 1
                if self.recorder is not None:
                    self.recorder.record(self.exchange, "http", url, recv_ns, body)
                # Leave the table first: the feed may ask again from inside on_snapshot
                # (a stale snapshot), and that request must not be swallowed.
                self._snapshot_tasks.pop(symbol, None)
                self.feed.on_snapshot(symbol, body, recv_ns)
                return
        finally:
            if self._snapshot_tasks.get(symbol) is asyncio.current_task():
                del self._snapshot_tasks[symbol]

    def _event(self, kind: FeedEventKind, detail: str, symbol: str = "") -> None:
        self.feed.sink.on_event(
            FeedEvent(self.exchange, symbol, kind, detail, self.clock.time_ns())
        )
