"""Book-alone benchmark: TickerML's ``OrderBook`` against the ``order-book`` C
extension (the book cryptofeed uses), on the same level updates.

The updates are extracted from recorded captures by small readers written here,
independent of the feed modules, so the comparison times the books and nothing
else. After every message both books are asked for their best bid and ask, as a
trading loop would.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from edge.capture import CaptureRecord, is_tickerml_capture, read_cryptofeed, read_tickerml
from shared.book import OrderBook, to_ticks

DECIMALS = 12
SCALE = 10.0**DECIMALS

Update = tuple[bool, int, int]  # (is_bid, price ticks, size ticks)


@dataclass
class Sequence:
    """Snapshots and the diff messages that follow them, for one capture."""

    name: str
    depth: int | None
    snapshots: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = field(
        default_factory=dict
    )
    messages: list[tuple[str, list[Update]]] = field(default_factory=list)

    @property
    def level_updates(self) -> int:
        return sum(len(levels) for _, levels in self.messages)

    @property
    def max_levels(self) -> int:
        return max((len(b) + len(a) for b, a in self.snapshots.values()), default=0)


def _t(text: str) -> int:
    return to_ticks(text, DECIMALS)


def _levels(pairs: Iterable[list[str]]) -> list[tuple[int, int]]:
    return [(_t(p[0]), _t(p[1])) for p in pairs]


def _records(path: Path) -> Iterable[CaptureRecord]:
    if is_tickerml_capture(path):
        return read_tickerml(path)[1]
    return read_cryptofeed(path)


def kraken_v1(path: Path, depth: int = 1000) -> Sequence:
    """Kraken WS v1 ``book-N`` arrays."""
    seq = Sequence(path.name, depth)
    for rec in _records(path):
        if rec.kind != "recv" or not rec.data.startswith("["):
            continue
        msg = orjson.loads(rec.data)
        if not (isinstance(msg, list) and str(msg[-2]).startswith("book")):
            continue
        pair = msg[-1]
        parts = msg[1:-2]
        if "as" in parts[0] or "bs" in parts[0]:
            seq.snapshots[pair] = (_levels(parts[0].get("bs", [])), _levels(parts[0].get("as", [])))
            continue
        levels: list[Update] = []
        for part in parts:
            levels += [(False, _t(lv[0]), _t(lv[1])) for lv in part.get("a", [])]
            levels += [(True, _t(lv[0]), _t(lv[1])) for lv in part.get("b", [])]
        if pair in seq.snapshots:
            seq.messages.append((pair, levels))
    return seq


def binance(ws_path: Path, http_path: Path | None) -> Sequence:
    """Binance combined-stream ``depthUpdate`` diffs after each REST snapshot."""
    seq = Sequence(ws_path.name, None)
    last_id: dict[str, int] = {}
    records = list(_records(ws_path)) + (list(_records(http_path)) if http_path else [])
    records.sort(key=lambda r: r.ts_ns)
    for rec in records:
        if rec.kind == "http" and "depth" in rec.url:
            symbol = rec.url.split("symbol=")[1].split("&")[0].upper()
            body = orjson.loads(rec.data)
            seq.snapshots[symbol] = (_levels(body["bids"]), _levels(body["asks"]))
            last_id[symbol] = body["lastUpdateId"]
        elif rec.kind == "recv":
            msg = orjson.loads(rec.data)
            data = msg.get("data", msg)
            if data.get("e") != "depthUpdate":
                continue
            symbol = data["s"]
            if symbol not in last_id or data["u"] <= last_id[symbol]:
                continue
            levels = [(True, _t(p), _t(s)) for p, s in data["b"]]
            levels += [(False, _t(p), _t(s)) for p, s in data["a"]]
            seq.messages.append((symbol, levels))
    return seq


def coinbase_legacy(path: Path) -> Sequence:
    """Coinbase Pro ws-feed ``snapshot`` + ``l2update``."""
    seq = Sequence(path.name, None)
    for rec in _records(path):
        if rec.kind != "recv":
            continue
        msg = orjson.loads(rec.data)
        kind = msg.get("type")
        if kind == "snapshot":
            seq.snapshots[msg["product_id"]] = (_levels(msg["bids"]), _levels(msg["asks"]))
        elif kind == "l2update" and msg["product_id"] in seq.snapshots:
            levels = [(side == "buy", _t(p), _t(s)) for side, p, s in msg["changes"]]
            seq.messages.append((msg["product_id"], levels))
    return seq


def kucoin(ws_path: Path, http_path: Path) -> Sequence:
    """KuCoin ``/market/level2`` changes after each REST snapshot."""
    seq = Sequence(ws_path.name, None)
    snap_seq: dict[str, int] = {}
    records = sorted([*_records(ws_path), *_records(http_path)], key=lambda r: r.ts_ns)
    for rec in records:
        if rec.kind == "http":
            symbol = rec.url.split("symbol=")[1].split("&")[0]
            data = orjson.loads(rec.data)["data"]
            seq.snapshots[symbol] = (_levels(data["bids"]), _levels(data["asks"]))
            snap_seq[symbol] = int(data["sequence"])
        elif rec.kind == "recv":
            msg = orjson.loads(rec.data)
            if not str(msg.get("topic", "")).startswith("/market/level2:"):
                continue
            data = msg["data"]
            symbol = data["symbol"]
            if symbol not in snap_seq:
                continue
            levels: list[Update] = []
            for side, is_bid in (("bids", True), ("asks", False)):
                for price, size, change_seq in data["changes"][side]:
                    if price != "0" and int(change_seq) > snap_seq[symbol]:
                        levels.append((is_bid, _t(price), _t(size)))
            seq.messages.append((symbol, levels))
    return seq


def run_ours(seq: Sequence) -> float:
    """Seconds to apply every message to TickerML books, reading the top after each."""
    books = {}
    for symbol, (bids, asks) in seq.snapshots.items():
        book = OrderBook(
            "bench", symbol, price_decimals=DECIMALS, size_decimals=DECIMALS, depth=seq.depth
        )
        book.load_snapshot(bids, asks)
        books[symbol] = book
    start = time.perf_counter()
    for symbol, levels in seq.messages:
        book = books[symbol]
        set_bid, set_ask = book.set_bid, book.set_ask
        for is_bid, price, size in levels:
            if is_bid:
                set_bid(price, size)
            else:
                set_ask(price, size)
        book.best_bid()
        book.best_ask()
    return time.perf_counter() - start


def run_c_extension(seq: Sequence) -> float:
    """Seconds for the same work on ``order_book.OrderBook`` (float keys, its fast path)."""
    from order_book import OrderBook as CBook

    books = {}
    for symbol, (bids, asks) in seq.snapshots.items():
        book = CBook(max_depth=seq.depth) if seq.depth else CBook()
        for p, s in bids:
            book.bids[p / SCALE] = s / SCALE
        for p, s in asks:
            book.asks[p / SCALE] = s / SCALE
        books[symbol] = book
    messages = [
        (symbol, [(b, p / SCALE, s / SCALE) for b, p, s in levels])
        for symbol, levels in seq.messages
    ]
    start = time.perf_counter()
    for symbol, levels in messages:
        book = books[symbol]
        bids, asks = book.bids, book.asks
        for is_bid, price, size in levels:
            side = bids if is_bid else asks
            if size:
                side[price] = size
            else:
                # try/except, not contextlib.suppress: no context manager in the timed loop.
                try:  # noqa: SIM105
                    del side[price]
                except KeyError:
                    pass
        if len(bids):
            bids.index(0)
        if len(asks):
            asks.index(0)
    return time.perf_counter() - start


@dataclass
class BookResult:
    name: str
    messages: int
    level_updates: int
    max_levels: int
    ours_ups: float
    c_ups: float

    @property
    def ratio(self) -> float:
        return self.ours_ups / self.c_ups


def measure(seq: Sequence, repeats: int = 7) -> BookResult:
    """Median level updates/s of both books over ``repeats`` runs (alternating)."""
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(run_ours(seq))
        theirs.append(run_c_extension(seq))
    n = seq.level_updates
    return BookResult(
        seq.name,
        len(seq.messages),
        n,
        seq.max_levels,
        n / statistics.median(ours),
        n / statistics.median(theirs),
    )


def kraken_v2(path: Path, depth: int = 10) -> Sequence:
    """Kraken WS v2 ``book`` snapshots and updates (JSON numbers)."""
    from shared.book import float_to_ticks

    def lv(levels: list[dict[str, float]]) -> list[tuple[int, int]]:
        return [
            (float_to_ticks(x["price"], DECIMALS), float_to_ticks(x["qty"], DECIMALS))
            for x in levels
        ]

    seq = Sequence(path.name, depth)
    for rec in _records(path):
        if rec.kind != "recv" or '"book"' not in rec.data:
            continue
        msg = orjson.loads(rec.data)
        if msg.get("channel") != "book":
            continue
        for data in msg["data"]:
            symbol = data["symbol"]
            if msg["type"] == "snapshot":
                seq.snapshots[symbol] = (lv(data["bids"]), lv(data["asks"]))
            elif symbol in seq.snapshots:
                levels = [(True, p, s) for p, s in lv(data["bids"])]
                levels += [(False, p, s) for p, s in lv(data["asks"])]
                seq.messages.append((symbol, levels))
    return seq
