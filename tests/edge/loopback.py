"""A loopback server that speaks Binance spot's public market-data protocol.

One port serves both halves, as the collector expects from an exchange:

* WebSocket combined streams ``/stream?streams=btcusdt@depth@100ms/btcusdt@trade``
  (and ``{"method": "SUBSCRIBE"}`` requests), each message
  ``{"stream": ..., "data": {"e": "depthUpdate", "U": .., "u": .., "b": .., "a": ..}}``
  or ``{"e": "trade", "t": .., "p": .., "q": .., "T": .., "m": ..}``;
* REST ``GET /api/v3/depth?symbol=BTCUSDT&limit=N`` with ``lastUpdateId``
  consistent with the diffs, so a client following "How to manage a local order
  book correctly" syncs exactly.

``time_scale`` makes the exchange's timestamps run faster than the wall clock.
Knobs for failure tests: :attr:`BinanceLoopback.silent` keeps sockets open but
sends nothing, :meth:`BinanceLoopback.drop_connections` aborts every socket
without a close frame, ``refuse_handshakes`` answers the next N upgrades with
503, ``fail_snapshots`` answers the next N depth requests with 500.

Run as a program (``python -m tests.edge.loopback``) it prints its two base URLs
on one line and serves until killed: the kill -9 test uses it that way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

PRICE_TICK_DECIMALS = 2
SIZE_DECIMALS = 8


def _price_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}000000"


def _size_text(units: int) -> str:
    return f"{units // 10**SIZE_DECIMALS}.{units % 10**SIZE_DECIMALS:08d}"


@dataclass
class _Market:
    """One symbol's book (cents -> size units), update id and trade id."""

    native: str
    mid_cents: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    update_id: int = 1_000
    trade_id: int = 5_000


@dataclass
class _Client:
    ws: ServerConnection
    streams: set[str]


class BinanceLoopback:
    """The server; ``await start()``, then point a feed at :attr:`ws_url` / :attr:`rest_url`."""

    def __init__(
        self,
        symbols: list[str],
        *,
        interval_s: float = 0.05,
        levels: int = 50,
        updates_per_diff: int = 3,
        trades_per_tick: int = 1,
        seed: int = 1,
        time_scale: float = 1.0,
    ) -> None:
        self.interval_s = interval_s
        self.time_scale = time_scale
        self._t0_ms = time.time_ns() // 1_000_000
        self.levels = levels
        self.updates_per_diff = updates_per_diff
        self.trades_per_tick = trades_per_tick
        self._rng = random.Random(seed)
        self.markets: dict[str, _Market] = {}
        for i, symbol in enumerate(symbols):
            native = symbol.replace("/", "")
            market = _Market(native, 3_000_000 + 10_000 * i)
            for k in range(1, levels + 1):
                market.bids[market.mid_cents - k] = self._size()
                market.asks[market.mid_cents + k] = self._size()
            self.markets[native] = market
        self.silent = False
        self.refuse_handshakes = 0
        self.fail_snapshots = 0
        self.connections = 0
        self.snapshot_requests = 0
        self.messages_sent = 0
        self._clients: list[_Client] = []
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _size(self) -> int:
        return self._rng.randint(1, 5_000) * 10**5

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> BinanceLoopback:
        self._server = await serve(
            self._handler, host, port, process_request=self._process_request,
            compression=None, max_size=1 << 20,
        )
        sock = next(iter(self._server.sockets))
        self.host, self.port = sock.getsockname()[:2]
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        return self

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> BinanceLoopback:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def drop_connections(self) -> int:
        """Abort every socket without a close frame, as a crashed peer would."""
        clients, self._clients = self._clients, []
        for client in clients:
            client.ws.transport.abort()
        return len(clients)

    @property
    def open_connections(self) -> int:
        return len(self._clients)

    # -- HTTP side ---------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path == "/api/v3/depth":
            return self._depth(parts.query)
        if parts.path.startswith("/stream") or parts.path.startswith("/ws"):
            if self.refuse_handshakes > 0:
                self.refuse_handshakes -= 1
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
            return None
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    def _json(self, status: int, body: object) -> Response:
        data = orjson.dumps(body)
        headers = Headers(
            [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
             ("Connection", "close")]
        )
        return Response(status, HTTPStatus(status).phrase, headers, data)

    def _depth(self, query: str) -> Response:
        self.snapshot_requests += 1
        params = parse_qs(query)
        native = (params.get("symbol") or [""])[0].upper()
        market = self.markets.get(native)
        if market is None:
            return self._json(400, {"code": -1121, "msg": "Invalid symbol."})
        if self.fail_snapshots > 0:
            self.fail_snapshots -= 1
            return self._json(500, {"code": -1000, "msg": "internal error"})
        limit = int((params.get("limit") or ["100"])[0])
        bids = sorted(market.bids.items(), reverse=True)[:limit]
        asks = sorted(market.asks.items())[:limit]
        return self._json(
            200,
            {
                "lastUpdateId": market.update_id,
                "bids": [[_price_text(p), _size_text(s)] for p, s in bids],
                "asks": [[_price_text(p), _size_text(s)] for p, s in asks],
            },
        )

    # -- WebSocket side ----------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        query = parse_qs(urlsplit(path).query)
        streams = set("/".join(query.get("streams", [])).split("/")) - {""}
        client = _Client(ws, streams)
        self.connections += 1
        self._clients.append(client)
        try:
            async for raw in ws:
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if msg.get("method") == "SUBSCRIBE":
                    client.streams.update(msg.get("params", []))
                    await ws.send(orjson.dumps({"result": None, "id": msg.get("id")}).decode())
        except ConnectionClosed:
            pass
        finally:
            if client in self._clients:
                self._clients.remove(client)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            messages = self._tick()
            if self.silent:
                continue
            for client in list(self._clients):
                for stream, payload in messages:
                    if stream in client.streams:
                        try:
                            await client.ws.send(payload)
                        except ConnectionClosed:
                            break
                        self.messages_sent += 1

    def _tick(self) -> list[tuple[str, str]]:
        """Advance every market one step; the messages it produced, per stream."""
        rng = self._rng
        # Exchange time may run faster than the wall clock, so a test sees
        # minutes (and candles) go by in seconds.
        real_ms = time.time_ns() // 1_000_000
        now_ms = self._t0_ms + int((real_ms - self._t0_ms) * self.time_scale)
        out: list[tuple[str, str]] = []
        for native, market in self.markets.items():
            lower = native.lower()
            first = market.update_id + 1
            changes: dict[str, dict[int, int]] = {"b": {}, "a": {}}
            for _ in range(self.updates_per_diff):
                market.update_id += 1
                side = rng.choice("ba")
                k = rng.randint(1, self.levels)
                price = market.mid_cents - k if side == "b" else market.mid_cents + k
                size = 0 if rng.random() < 0.2 else self._size()
                book = market.bids if side == "b" else market.asks
                if size:
                    book[price] = size
                else:
                    book.pop(price, None)
                changes[side][price] = size
            data = {
                "e": "depthUpdate", "E": now_ms, "s": native, "U": first, "u": market.update_id,
                "b": [[_price_text(p), _size_text(s)] for p, s in changes["b"].items()],
                "a": [[_price_text(p), _size_text(s)] for p, s in changes["a"].items()],
            }
            for suffix in ("@depth@100ms", "@depth"):
                stream = lower + suffix
                out.append((stream, orjson.dumps({"stream": stream, "data": data}).decode()))
            for _ in range(self.trades_per_tick):
                market.trade_id += 1
                maker = rng.random() < 0.5
                price = market.mid_cents + (-1 if maker else 1) * rng.randint(0, 3)
                trade = {
                    "e": "trade", "E": now_ms, "s": native, "t": market.trade_id,
                    "p": _price_text(price), "q": _size_text(self._size()),
                    "T": now_ms, "m": maker, "M": True,
                }
                stream = lower + "@trade"
                out.append((stream, orjson.dumps({"stream": stream, "data": trade}).decode()))
        return out


async def _serve_forever(args: argparse.Namespace) -> None:
    server = BinanceLoopback(
        args.symbols.split(","), interval_s=args.interval, levels=args.levels,
        updates_per_diff=args.updates, trades_per_tick=args.trades,
    )
    await server.start(port=args.port)
    print(f"{server.ws_url} {server.rest_url}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--symbols", default="BTC/USDT,ETH/USDT")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between ticks")
    parser.add_argument("--levels", type=int, default=50)
    parser.add_argument("--updates", type=int, default=5, help="level changes per diff")
    parser.add_argument("--trades", type=int, default=3, help="trades per symbol per tick")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
