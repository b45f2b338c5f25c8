"""The simulator's loopback server: Binance and Kraken on one port, by path.

=====================================  ==========================================
``ws://HOST:PORT/binance/stream?...``  Binance combined streams (``@depth@100ms``,
                                       ``@trade``); also ``SUBSCRIBE`` requests
``http://HOST:PORT/binance/api/v3/..``  REST ``depth``, ``exchangeInfo``, ``klines``,
                                       ``time``, ``ping``
``ws://HOST:PORT/kraken/v2``           Kraken WebSocket v2 (``book``, ``trade``,
                                       ``instrument``, ``ping``, heartbeats)
``http://HOST:PORT/kraken/0/public/..``  Kraken REST ``Assets``, ``AssetPairs``,
                                       ``OHLC``, ``Time``
=====================================  ==========================================

So a feed is pointed at it with ``ws_url: ws://HOST:PORT/binance`` and
``rest_url: http://HOST:PORT/binance`` (or ``ws_url: ws://HOST:PORT/kraken/v2``)
and connects exactly as to the venue; ccxt (``tickerml edge markets``, ``edge
backfill``) is pointed at ``http://HOST:PORT/binance`` or ``http://HOST:PORT/kraken``
through ``history.rest_base_urls``. REST is answered from ``process_request``
on the same port: websockets parses the HTTP request before the upgrade, so a
plain GET gets a JSON response instead of a handshake.

Simulated time follows the wall clock (times ``speed``) from the start time; the
market moves in simulated time only, so what is published depends on the seed,
not on when clients connect or how fast they read. ``Faults`` make the server
misbehave on purpose for the collector's tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from edge.simulator.binance import BinanceMarket, parse_streams
from edge.simulator.candles import CandleHistory
from edge.simulator.kraken import HEARTBEAT, KrakenMarket, KrakenSession
from edge.simulator.kraken_rest import KrakenRest
from edge.simulator.model import NS, MarketModel, ModelParams
from shared.clock import Clock, LiveClock
from shared.config.simulator import SimulatorConfig
from shared.errors import OperationalError


@dataclass(frozen=True, slots=True)
class Faults:
    """Misbehaviour on request, counted per connection (1-based message numbers)."""

    drop_diff: int | None = None
    """Binance: the n-th depth diff is not sent, so the client sees a gap."""
    silent_after: int | None = None
    """After this many messages the socket goes quiet for ``silent_s`` (messages lost)."""
    silent_s: float = 0.0
    disconnect_after: int | None = None
    """Close the socket after this many messages."""
    corrupt_checksum: int | None = None
    """Kraken: the n-th book update carries a wrong checksum."""


@dataclass(frozen=True, slots=True)
class SimulatorUrls:
    """Where to point the feeds (``edge.yaml`` ``ws_url`` / ``rest_url``)."""

    binance_ws: str
    binance_rest: str
    kraken_ws: str
    kraken_rest: str


_CLOSE = object()


@dataclass(eq=False)
class _Client:
    """One connection's outgoing queue and fault counters."""

    ws: ServerConnection
    faults: Faults
    max_queue: int
    streams: set[str] = field(default_factory=set)
    session: KrakenSession | None = None
    queue: deque[Any] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0
    diffs: int = 0
    silent_until: float = 0.0

    def push(self, text: str, now: float) -> None:
        """Queue ``text`` unless a fault says otherwise."""
        f = self.faults
        if now < self.silent_until:
            return
        self.sent += 1
        if f.disconnect_after is not None and self.sent > f.disconnect_after:
            self.close()
            return
        if f.silent_after is not None and self.sent == f.silent_after + 1:
            self.silent_until = now + f.silent_s
            return
        if len(self.queue) >= self.max_queue:
            self.close()  # a client this far behind would only see stale data
            return
        self.queue.append(text)
        self.wake.set()

    def close(self) -> None:
        self.queue.append(_CLOSE)
        self.wake.set()

    async def write(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                item = self.queue.popleft()
                if item is _CLOSE:
                    await self.ws.close()
                    return
                await self.ws.send(item)


class SimulatorServer:
    """``async with SimulatorServer(config) as sim:`` serves until the block ends.

    ``sim.urls`` says where it listens (``port=0`` picks a free port).
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        faults: Faults | None = None,
        clock: Clock | None = None,
        params: ModelParams | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self.faults = faults or Faults()
        self.clock = clock or LiveClock()
        self._params = params
        self._server: Server | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._binance: list[_Client] = []
        self._kraken: list[_Client] = []
        self.urls = SimulatorUrls("", "", "", "")
        self.market: MarketModel | None = None

    # -- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> SimulatorServer:
        cfg = self.config
        wall = self.clock.time_ns()
        start = cfg.start_time_ms * 1_000_000 if cfg.start_time_ms is not None else wall
        self._wall0, self._sim0 = wall, start
        self.market = MarketModel(cfg.symbols, cfg.seed, start, self._params)
        self.binance = BinanceMarket(self.market)
        self.kraken = KrakenMarket(self.market)
        self.candles = CandleHistory(self.market)
        self.kraken_rest = KrakenRest(self.market, self.candles)
        try:
            self._server = await serve(
                self._handler,
                cfg.host,
                cfg.port,
                process_request=self._process_request,
                compression=None,
                max_size=2**20,
            )
        except OSError as exc:
            # Most often EADDRINUSE: another simulator (or anything) on the port. asyncio's
            # own strerror repeats the address, so the errno's plain text is used.
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise OperationalError(
                f"simulator: cannot listen on {cfg.host}:{cfg.port} ({why}): "
                "stop what listens there, or pick another --port (0: any free port)"
            ) from None
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        self.urls = SimulatorUrls(
            f"ws://{host}:{port}/binance",
            f"http://{host}:{port}/binance",
            f"ws://{host}:{port}/kraken/v2",
            f"http://{host}:{port}/kraken",
        )
        self._pump_task = asyncio.create_task(self._pump(), name="simulator-pump")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until cancelled (the CLI command)."""
        assert self._server is not None
        await self._server.serve_forever()

    # -- the market clock ---------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.time_ns() / NS

    def sim_now_ns(self) -> int:
        """Simulated time now: the start time plus wall time elapsed, times ``speed``."""
        return self._sim0 + int((self.clock.time_ns() - self._wall0) * self.config.speed)

    def step(self) -> None:
        """Advance the market to the current simulated time and send what happened."""
        assert self.market is not None
        now = self.clock.time_ns() / NS
        target = self.sim_now_ns()
        bm, km = self.binance, self.kraken
        for ev in self.market.advance(target):
            self.candles.on_event(ev)
            self._to_binance(bm.flush_before(ev.ts_ns), now)
            self._to_binance(bm.on_event(ev), now)
            # Always run: the shared Kraken views must follow every event.
            for item in km.on_event(ev):
                for client in self._kraken:
                    assert client.session is not None
                    text = client.session.deliver(item)
                    if text is not None:
                        client.push(text, now)
        self._to_binance(bm.flush_until(target), now)
        self.candles.close_until(target)

    def _to_binance(self, items: list[tuple[str, str]], now: float) -> None:
        drop = self.faults.drop_diff
        for stream, text in items:
            is_diff = stream.endswith("@100ms")
            for client in self._binance:
                if stream in client.streams:
                    if is_diff:
                        client.diffs += 1
                        if client.diffs == drop:
                            continue
                    client.push(text, now)

    async def _pump(self) -> None:
        tick = self.config.tick_ms / 1000
        next_heartbeat = self.clock.time_ns() / NS + self.config.heartbeat_s
        while True:
            self.step()
            now = self.clock.time_ns() / NS
            if now >= next_heartbeat:
                next_heartbeat = now + self.config.heartbeat_s
                for client in self._kraken:
                    if client.session is not None and client.session.keys:
                        client.push(HEARTBEAT, now)
            await asyncio.sleep(tick)

    # -- HTTP ---------------------------------------------------------------------------

    def _json(self, connection: ServerConnection, status: int, body: str) -> Response:
        response = connection.respond(status, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        path = url.path.rstrip("/")
        if path in ("/binance/stream", "/binance/ws", "/kraken/v2"):
            return None  # a WebSocket: go on with the handshake
        if path.startswith("/kraken/0/public/"):
            self.step()  # candles and server time as of now
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self.kraken_rest.get(path.removeprefix("/kraken/0/public/"), params)
            if body is None:
                return self._json(connection, 404, '{"error":["EGeneral:Unknown method"]}')
            return self._json(connection, 200, body)
        if not path.startswith("/binance/api/v3/"):
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such path: {url.path}\n")
        endpoint = path.removeprefix("/binance/api/v3/")
        if endpoint == "klines":
            return self._klines(connection, url.query)
        if endpoint == "ping":
            return self._json(connection, 200, "{}")
        if endpoint == "time":
            return self._json(connection, 200, self.binance.server_time())
        if endpoint == "exchangeInfo":
            return self._json(connection, 200, self.binance.exchange_info())
        if endpoint == "depth":
            query = parse_qs(url.query)
            symbol = self.binance.symbol_of(query.get("symbol", [""])[0])
            if symbol is None:
                return self._json(connection, 400, '{"code":-1121,"msg":"Invalid symbol."}')
            try:
                limit = int(query.get("limit", ["100"])[0])
            except ValueError:
                body = '{"code":-1100,"msg":"Illegal characters in parameter \'limit\'."}'
                return self._json(connection, 400, body)
            self.step()  # the book as of now, with everything before it already published
            return self._json(connection, 200, self.binance.depth(symbol, limit))
        return self._json(connection, 404, '{"code":-1000,"msg":"Unknown endpoint."}')

    def _klines(self, connection: ServerConnection, query_string: str) -> Response:
        """``/api/v3/klines``: closed 1-minute candles, as Binance pages them."""
        query = {k: v[-1] for k, v in parse_qs(query_string).items()}
        symbol = self.binance.symbol_of(query.get("symbol", ""))
        if symbol is None:
            return self._json(connection, 400, '{"code":-1121,"msg":"Invalid symbol."}')
        if query.get("interval") != "1m":
            return self._json(connection, 400, '{"code":-1120,"msg":"Invalid interval."}')
        try:
            limit = min(max(int(query.get("limit", "500")), 1), 1000)
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            body = '{"code":-1100,"msg":"Illegal characters found in a parameter."}'
            return self._json(connection, 400, body)
        self.step()  # every minute that has ended is closed
        candles = self.candles.between(symbol, start, end, limit)
        return self._json(connection, 200, self.binance.klines(candles))

    # -- WebSockets ---------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        client = _Client(ws, self.faults, self.config.max_queue)
        if url.path.startswith("/binance"):
            known = self.binance.known_streams()
            client.streams = {s for s in parse_streams(url.query) if s in known}
            clients, reader = self._binance, self._read_binance
        else:
            client.session = KrakenSession(
                self.kraken, corrupt_checksum_at=self.faults.corrupt_checksum
            )
            clients, reader = self._kraken, self._read_kraken
            now = self.clock.time_ns() / NS
            for text in client.session.open_messages():
                client.push(text, now)
        clients.append(client)
        writer = asyncio.create_task(client.write())
        read = asyncio.create_task(reader(client))
        try:
            await asyncio.wait({writer, read}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            clients.remove(client)
            for task in (writer, read):
                task.cancel()
            for task in (writer, read):
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task

    async def _read_binance(self, client: _Client) -> None:
        known = self.binance.known_streams()
        async for raw in client.ws:
            try:
                msg = orjson.loads(raw)
                method, params, req_id = msg.get("method"), msg.get("params", []), msg.get("id")
            except (orjson.JSONDecodeError, AttributeError):
                client.push('{"error":{"code":3,"msg":"Invalid JSON"}}', self._now())
                continue
            if method == "SUBSCRIBE":
                client.streams |= {s for s in params if s in known}
                result: Any = None
            elif method == "UNSUBSCRIBE":
                client.streams -= set(params)
                result = None
            elif method == "LIST_SUBSCRIPTIONS":
                result = sorted(client.streams)
            else:
                error = {"error": {"code": 2, "msg": "Invalid request"}, "id": req_id}
                client.push(orjson.dumps(error).decode(), self._now())
                continue
            client.push(orjson.dumps({"result": result, "id": req_id}).decode(), self._now())

    async def _read_kraken(self, client: _Client) -> None:
        assert client.session is not None
        async for raw in client.ws:
            self.step()  # replies and snapshots reflect everything published so far
            now = self.clock.time_ns() / NS
            for text in client.session.handle(raw):
                client.push(text, now)


async def run_simulator(
    config: SimulatorConfig, *, faults: Faults | None = None, on_ready: Any = None
) -> None:
    """Serve until cancelled; ``on_ready(urls)`` is called once listening."""
    async with SimulatorServer(config, faults=faults) as sim:
        if on_ready is not None:
            on_ready(sim.urls)
        await sim.serve_forever()
