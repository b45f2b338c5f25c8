"""A loopback HTTP server that speaks the part of Binance's spot REST API ccxt uses.

Real ccxt exchange instances are pointed at it (``HistoryConfig.rest_base_urls``
moves every endpoint's host to 127.0.0.1), so the requests, the JSON and the
error handling are ccxt's own. It serves real Binance.US BTC/USDT 1-minute
candles from ../shared/data/real/iaqf_analysis and can punch holes in them or
fail like an overloaded exchange.
"""

from __future__ import annotations

import bisect
import csv
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

IAQF_BTCUSDT = "iaqf_analysis/BTCUSDT_1m_20230301_20230321.csv"
MINUTE_MS = 60_000

# Shaped like Binance.US's GET /api/v3/exchangeInfo (fields ccxt reads, and some it
# ignores, as the real endpoint sends them); filter values as Binance.US listed them.
EXCHANGE_INFO_SYMBOLS: list[dict[str, Any]] = [
    {
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8,
        "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "permissions": ["SPOT"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000",
             "maxPrice": "100000.00000000", "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00000100", "maxQty": "9000.00000000",
             "stepSize": "0.00000100"},
            {"filterType": "NOTIONAL", "minNotional": "10.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
    },
    {
        "symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "baseAssetPrecision": 8,
        "quoteAsset": "BTC", "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "permissions": ["SPOT"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00000100", "maxPrice": "100.00000000",
             "tickSize": "0.00000100"},
            {"filterType": "LOT_SIZE", "minQty": "0.00010000", "maxQty": "100000.00000000",
             "stepSize": "0.00010000"},
            {"filterType": "MIN_NOTIONAL", "minNotional": "0.00010000", "applyToMarket": True,
             "avgPriceMins": 5},
        ],
    },
]


def load_iaqf_klines(path: Path) -> list[list[Any]]:
    """The iaqf CSV as Binance kline rows (strings for decimals, as Binance sends)."""
    rows: list[list[Any]] = []
    with path.open(newline="") as fh:
        for rec in csv.DictReader(fh):
            open_ms = int(datetime.fromisoformat(rec["open_time"]).timestamp() * 1000)
            rows.append([
                open_ms, rec["open"], rec["high"], rec["low"], rec["close"], rec["volume"],
                open_ms + MINUTE_MS - 1, "0", 0, "0", "0", "0",
            ])
    return rows


@dataclass
class BinanceState:
    """What the server serves and what it was asked."""

    klines: dict[str, list[list[Any]]] = field(default_factory=dict)
    kline_requests: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    fail_klines_after: int | None = None
    fail_klines_times: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def punch_hole(self, symbol: str, start_ms: int, minutes: int) -> None:
        """Drop ``minutes`` candles from ``start_ms`` on: an exchange outage."""
        end = start_ms + minutes * MINUTE_MS
        self.klines[symbol] = [k for k in self.klines[symbol] if not start_ms <= k[0] < end]


class _Handler(BaseHTTPRequestHandler):
    server: BinanceServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not access logs."""

    def _send(self, status: int, body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        state = self.server.state
        with state.lock:
            state.paths.append(url.path)
        if url.path == "/api/v3/ping":
            self._send(200, {})
        elif url.path == "/api/v3/time":
            self._send(200, {"serverTime": int(time.time() * 1000)})
        elif url.path == "/api/v3/exchangeInfo":
            self._send(200, {
                "timezone": "UTC", "serverTime": int(time.time() * 1000),
                "rateLimits": [], "exchangeFilters": [], "symbols": EXCHANGE_INFO_SYMBOLS,
            })
        elif url.path == "/api/v3/klines":
            self._klines(query)
        else:
            self._send(404, {"code": -1, "msg": f"no route {url.path}"})

    def _klines(self, query: dict[str, str]) -> None:
        state = self.server.state
        with state.lock:
            state.kline_requests.append(query)
            # Fail every request after the first fail_klines_after, or only the
            # next fail_klines_times of them: an outage, then a recovery.
            failing = (
                state.fail_klines_after is not None
                and len(state.kline_requests) > state.fail_klines_after
                and (
                    state.fail_klines_times is None
                    or len(state.kline_requests)
                    <= state.fail_klines_after + state.fail_klines_times
                )
            )
        if failing:
            self._send(503, b"Service Unavailable")
            return
        if query.get("interval") != "1m":
            self._send(400, {"code": -1120, "msg": "Invalid interval."})
            return
        rows = state.klines.get(query.get("symbol", ""))
        if rows is None:
            self._send(400, {"code": -1121, "msg": "Invalid symbol."})
            return
        limit = min(int(query.get("limit", 500)), 1000)
        # Binance: klines opening at or after startTime and at or before endTime.
        start = int(query.get("startTime", 0))
        end = int(query.get("endTime", 2**62))
        i = bisect.bisect_left(rows, start, key=lambda k: k[0])
        page = [k for k in rows[i : i + limit] if k[0] <= end]
        self._send(200, page)


class BinanceServer(ThreadingHTTPServer):
    """The loopback server; ``state`` is what it serves and what it was asked."""

    daemon_threads = True

    def __init__(self, state: BinanceState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


@pytest.fixture(scope="session")
def iaqf_klines(real_data: Path) -> list[list[Any]]:
    """The 30,240 real Binance.US BTC/USDT minutes as kline rows."""
    return load_iaqf_klines(real_data / IAQF_BTCUSDT)


@pytest.fixture
def binance_server(iaqf_klines: list[list[Any]]) -> Iterator[BinanceServer]:
    """A running loopback Binance REST server serving BTCUSDT from the real data."""
    yield from _serve(BinanceState(klines={"BTCUSDT": list(iaqf_klines)}))


@pytest.fixture
def markets_server() -> Iterator[BinanceServer]:
    """The same server with markets only (no real data needed)."""
    yield from _serve(BinanceState())


def _serve(state: BinanceState) -> Iterator[BinanceServer]:
    server = BinanceServer(state)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
