"""Simulated traffic written straight to a capture file, with no sockets.

The file is what the collector would have recorded had it connected to the
simulator server: the same messages, in the same order, in TickerML's capture
format, so ``tickerml edge replay`` runs it through the real parsers. Record
times are simulated time, so the file depends only on its arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson

from edge.capture import CaptureWriter
from edge.simulator.binance import BinanceMarket, native
from edge.simulator.kraken import HEARTBEAT, KrakenMarket, KrakenSession
from edge.simulator.model import NS, MarketModel, ModelParams

DEFAULT_START_NS = 1_704_067_200 * NS
"""2024-01-01T00:00:00Z: offline captures start at a fixed time so they are reproducible."""
EXCHANGES = ("binance", "binanceus", "kraken")
SNAPSHOT_LIMIT = 1000


def write_capture(
    path: Path,
    exchange: str,
    *,
    messages: int,
    seed: int = 7,
    symbols: Sequence[str] = ("BTC/USDT", "ETH/USDT"),
    start_ns: int = DEFAULT_START_NS,
    depth: int = 10,
    base_url: str = "http://127.0.0.1:8765",
    params: ModelParams | None = None,
) -> int:
    """Write ``messages`` received WebSocket messages of ``exchange``; returns the count.

    ``depth`` is the Kraken book depth subscribed to; ``base_url`` only names the
    recorded URLs (the simulator server's layout, see :mod:`edge.simulator.server`).
    """
    if exchange not in EXCHANGES:
        raise ValueError(f"exchange must be one of {', '.join(EXCHANGES)}, not {exchange!r}")
    market = MarketModel(symbols, seed, start_ns, params)
    with CaptureWriter(path, exchange) as writer:
        if exchange == "kraken":
            return _kraken(writer, market, messages, depth, base_url)
        return _binance(writer, market, messages, base_url)


def _binance(writer: CaptureWriter, market: MarketModel, limit: int, base_url: str) -> int:
    bm = BinanceMarket(market)
    streams = [bm.depth_stream(s) for s in market.symbols] + [
        bm.trade_stream(s) for s in market.symbols
    ]
    ws = base_url.replace("http", "ws", 1)
    writer.write("open", market.now_ns, f"{ws}/binance/stream?streams={'/'.join(streams)}", "")
    rest = f"{base_url}/binance/api/v3/depth"
    need_snapshot: set[str] = set()
    snapshotted: set[str] = set()
    count = 0
    write = writer.write
    while count < limit:
        ev = market.pop()
        ts = ev.ts_ns
        for stream, text in bm.flush_before(ts):
            # A diff is received at the end of its batch, which is before this event.
            write("recv", (ts - 1) // 100_000_000 * 100_000_000, "", text)
            count += 1
            symbol = bm.symbol_of(stream.partition("@")[0]) or ""
            if symbol not in snapshotted:
                need_snapshot.add(symbol)
        for _, text in bm.on_event(ev):
            write("recv", ts, "", text)
            count += 1
        if ev.symbol in need_snapshot and (ev.bids or ev.asks):
            # Taken mid-batch, so lastUpdateId falls inside the next diff's U..u.
            need_snapshot.discard(ev.symbol)
            snapshotted.add(ev.symbol)
            url = f"{rest}?symbol={native(ev.symbol)}&limit={SNAPSHOT_LIMIT}"
            write("http", ts, url, bm.depth(ev.symbol, SNAPSHOT_LIMIT))
    return count


def _kraken(
    writer: CaptureWriter, market: MarketModel, limit: int, depth: int, base_url: str
) -> int:
    km = KrakenMarket(market)
    session = KrakenSession(km)
    url = base_url.replace("http", "ws", 1) + "/kraken/v2"
    now = market.now_ns
    writer.write("open", now, url, "")
    count = 0
    for text in session.open_messages():
        writer.write("recv", now, url, text)
        count += 1
    requests = [
        {"method": "subscribe", "params": {"channel": "instrument"}, "req_id": 1},
        {
            "method": "subscribe",
            "params": {"channel": "book", "symbol": list(market.symbols), "depth": depth},
            "req_id": 2,
        },
        {
            "method": "subscribe",
            "params": {"channel": "trade", "symbol": list(market.symbols)},
            "req_id": 3,
        },
    ]
    for request in requests:
        sent = orjson.dumps(request).decode()
        writer.write("sent", now, url, sent)
        for text in session.handle(sent):
            writer.write("recv", now, url, text)
            count += 1
    next_heartbeat = now + NS
    write = writer.write
    while count < limit:
        ev = market.pop()
        ts = ev.ts_ns
        while ts >= next_heartbeat:
            write("recv", next_heartbeat, "", HEARTBEAT)
            next_heartbeat += NS
            count += 1
        for item in km.on_event(ev):
            delivered = session.deliver(item)
            if delivered is not None:
                write("recv", ts, "", delivered)
                count += 1
    return count
