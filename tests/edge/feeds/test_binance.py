"""Binance and Binance.US feeds: recorded sessions replayed through the real parser,
then hand-built bad input that must be counted and resynced, never applied silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.feeds import feed_class
from edge.feeds.base import ExchangeFeed
from edge.feeds.binance import BinanceFeed, BinanceUSFeed, split_native
from edge.replay import replay_exchange
from shared.book import OrderBook, to_ticks
from shared.clock import ManualClock
from shared.marketdata import FeedEvent, FeedEventKind, Trade

K = FeedEventKind


@dataclass
class RecordingSink:
    """Keeps everything a feed hands out, and each synced top of book by sequence."""

    events: list[FeedEvent] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    snapshot_requests: list[str] = field(default_factory=list)
    tops: dict[tuple[str, int], tuple[Any, Any]] = field(default_factory=dict)
    books: int = 0

    def on_trade(self, trade: Trade) -> None:
        self.trades.append(trade)

    def on_event(self, event: FeedEvent) -> None:
        self.events.append(event)

    def on_book(self, book: OrderBook) -> None:
        self.books += 1
        self.tops[(book.symbol, book.sequence)] = (book.best_bid(), book.best_ask())

    def request_snapshot(self, feed: ExchangeFeed, symbol: str) -> None:
        self.snapshot_requests.append(symbol)

    def send(self, feed: ExchangeFeed, message: str) -> None:
        pass

    def kinds(self) -> Counter[FeedEventKind]:
        return Counter(e.kind for e in self.events)


# -- recorded sessions -------------------------------------------------------------------

SESSIONS = [("binance", "BINANCE"), ("binanceus", "BINANCE_US")]


def _payloads(path: Path) -> list[dict[str, Any]]:
    """Every received combined-stream message of a cryptofeed .ws file, parsed here."""
    out = []
    for line in path.read_text().splitlines():
        head, sep, body = line.partition(": ")
        if sep and " " not in head:  # received lines are "<ts>: <json>"
            out.append(orjson.loads(body))
    return out


def _snapshot_ids(path: Path) -> dict[str, int]:
    ids = {}
    for line in path.read_text().splitlines():
        if line:
            url, _, rest = line.partition(" -> ")
            native = url.split("symbol=")[1].split("&")[0]
            ids[native] = orjson.loads(rest.partition(": ")[2])["lastUpdateId"]
    return ids


@pytest.mark.real_data
@pytest.mark.parametrize(("exchange", "prefix"), SESSIONS)
def test_every_recorded_depth_symbol_links_to_its_snapshot_without_gaps(
    real_data: Path, exchange: str, prefix: str
) -> None:
    """Replays a whole recorded session (diffs, REST snapshots, bookTicker, kline,
    aggTrade). Kept: one snapshot per symbol, no gap/resync/crossing, and level
    updates equal to the levels of the diffs newer than each snapshot, counted here
    straight from the file."""
    ws = real_data / "cryptofeed" / f"{prefix}.ws.1.0"
    http = real_data / "cryptofeed" / f"{prefix}.http.0.0"
    sink = RecordingSink()

    result = replay_exchange(exchange, [ws, http], sink=sink)

    payloads = _payloads(ws)
    snapshot_ids = _snapshot_ids(http)
    expected_levels: Counter[str] = Counter()
    for msg in payloads:
        data = msg["data"]
        if data.get("e") == "depthUpdate" and data["u"] > snapshot_ids[data["s"]]:
            expected_levels[data["s"]] += len(data["b"]) + len(data["a"])
    feed = result.feed
    assert isinstance(feed, BinanceFeed)
    assert set(feed.books) == {feed.unified(n) for n in snapshot_ids} and len(snapshot_ids) == 4
    for native, levels in expected_levels.items():
        stats = feed.stats[feed.unified(native)]
        assert stats.snapshots == 1
        assert (stats.gaps, stats.resyncs, stats.crossed, stats.stale_dropped) == (0, 0, 0, 0)
        assert (stats.malformed, stats.unknown) == (0, 0)
        assert stats.level_updates == levels
        assert feed.is_synced(feed.unified(native))
    assert set(sink.kinds()) == {K.SNAPSHOT}
    agg_trades = sum(1 for m in payloads if m["data"].get("e") == "aggTrade")
    assert len(sink.trades) == agg_trades == sum(s.trades for s in feed.stats.values())
    assert feed.ignored["bookTicker"] == sum(1 for m in payloads if "@bookTicker" in m["stream"])


@pytest.mark.real_data
@pytest.mark.parametrize(("exchange", "prefix"), SESSIONS)
def test_book_top_equals_book_ticker_wherever_update_ids_line_up(
    real_data: Path, exchange: str, prefix: str
) -> None:
    """Compares every recorded bookTicker with the replayed book at the same update
    id (the sink keeps each synced top of book by sequence). Kept: every one of
    them matches, for each symbol the last one that lines up too, and the final
    book itself where its last update id is the last bookTicker's."""
    ws = real_data / "cryptofeed" / f"{prefix}.ws.1.0"
    http = real_data / "cryptofeed" / f"{prefix}.http.0.0"
    sink = RecordingSink()

    result = replay_exchange(exchange, [ws, http], sink=sink)

    feed = result.feed
    assert isinstance(feed, BinanceFeed)
    compared = 0
    last_ticker: dict[str, tuple[int, Any]] = {}
    for msg in _payloads(ws):
        data = msg["data"]
        if not msg["stream"].endswith("@bookTicker"):
            continue
        symbol = feed.unified(data["s"])
        ticker_top = (
            (to_ticks(data["b"], 8), to_ticks(data["B"], 8)),
            (to_ticks(data["a"], 8), to_ticks(data["A"], 8)),
        )
        last_ticker[symbol] = (data["u"], ticker_top)
        if (symbol, data["u"]) in sink.tops:
            assert sink.tops[(symbol, data["u"])] == ticker_top, (symbol, data["u"])
            compared += 1
    assert compared >= 20
    finals_checked = 0
    for symbol, (update_id, ticker_top) in last_ticker.items():
        book = feed.books[symbol]
        if book.sequence == update_id:
            assert (book.best_bid(), book.best_ask()) == ticker_top
            finals_checked += 1
    if exchange == "binanceus":
        assert finals_checked == 1  # CRV/USDT ends on the bookTicker's update id


# -- transport surface -------------------------------------------------------------------


def make_feed(
    cls: type[BinanceFeed] = BinanceFeed, **kwargs: Any
) -> tuple[BinanceFeed, RecordingSink]:
    sink = RecordingSink()
    return cls(["BTC/USDT", "ETH/BTC"], sink, ManualClock(1), **kwargs), sink


def test_urls_name_every_stream_and_the_snapshot_limit_follows_depth() -> None:
    """Builds Binance and Binance.US feeds at depth 1000 and 30; kept: combined
    stream URL, no subscribe messages, REST limits 1000 and 50 (the next allowed)."""
    feed, _ = make_feed()
    us, _ = make_feed(BinanceUSFeed, depth=30)

    assert feed.connect_url() == (
        "wss://stream.binance.com:9443/stream?streams="
        "btcusdt@depth@100ms/ethbtc@depth@100ms/btcusdt@trade/ethbtc@trade"
    )
    assert feed.subscribe_messages() == []
    assert feed.snapshot_url("BTC/USDT") == (
        "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000"
    )
    assert us.connect_url().startswith("wss://stream.binance.us:9443/stream?streams=btcusdt@")
    assert (
        us.snapshot_url("ETH/BTC") == "https://api.binance.us/api/v3/depth?symbol=ETHBTC&limit=50"
    )
    assert feed_class("binanceus") is BinanceUSFeed and feed_class("binance") is BinanceFeed


def test_symbols_map_both_ways_and_recorded_snapshot_urls_name_their_symbol() -> None:
    """Tries native names with ambiguous quote suffixes and a non-depth URL; kept:
    the longest quote wins (BUSD over USD) and only depth URLs map to a symbol."""
    feed, _ = make_feed()

    assert split_native("OMGBUSD") == "OMG/BUSD"
    assert split_native("RUNEEUR") == "RUNE/EUR"
    assert split_native("LRCBTC") == "LRC/BTC"
    assert split_native("NOQUOTE1") == "NOQUOTE1"
    assert feed.native("BTC/USDT") == "BTCUSDT"
    assert (
        feed.snapshot_symbol("https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000")
        == "NKN/USDT"
    )
    assert feed.snapshot_symbol("https://api.binance.com/api/v3/exchangeInfo") is None


# -- hand-built traffic ------------------------------------------------------------------


def diff(first: int, last: int, bids: list[list[str]], asks: list[list[str]]) -> str:
    data = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": last, "b": bids, "a": asks}
    return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": data}).decode()


def snapshot(last_id: int) -> str:
    return orjson.dumps(
        {
            "lastUpdateId": last_id,
            "bids": [["100.00", "1.0"], ["99.00", "2.0"]],
            "asks": [["101.00", "1.5"], ["102.00", "3.0"]],
        }
    ).decode()


def synced_feed() -> tuple[BinanceFeed, RecordingSink]:
    """BTC/USDT synced at update id 102 (snapshot 100, one bridging diff 99..102)."""
    feed, sink = make_feed()
    feed.on_message(diff(99, 102, [["100.00", "1.2"]], []), 10)
    feed.on_snapshot("BTC/USDT", snapshot(100), 11)
    assert feed.is_synced("BTC/USDT")
    return feed, sink


def test_diff_straddling_the_snapshot_syncs_and_later_diffs_apply_in_order() -> None:
    """Sends a diff, the snapshot it straddles, then a contiguous diff; kept: one
    snapshot request, the synced book with both diffs applied, 3 level updates."""
    feed, sink = synced_feed()

    feed.on_message(diff(103, 103, [], [["101.00", "0"], ["100.50", "0.7"]]), 12)

    book = feed.books["BTC/USDT"]
    assert sink.snapshot_requests == ["BTC/USDT"]
    assert book.best_bid() == (to_ticks("100", 8), to_ticks("1.2", 8))
    assert book.best_ask() == (to_ticks("100.5", 8), to_ticks("0.7", 8))
    assert book.sequence == 103 and sink.books == 2
    assert feed.stats["BTC/USDT"].level_updates == 3


def test_malformed_json_and_unknown_events_are_counted_not_raised() -> None:
    """Feeds broken JSON, a JSON array, an unknown event type, an error reply, a
    subscribe response, bookTicker and kline. Kept: MALFORMED x2, UNKNOWN x1
    (counted on the symbol), REJECTED x1, and the known streams only as ignored."""
    feed, sink = make_feed()

    feed.on_message(b'{"stream": "btcusdt@depth', 1)
    feed.on_message("[1, 2]", 2)
    feed.on_message('{"stream":"btcusdt@x","data":{"e":"weird","s":"BTCUSDT"}}', 3)
    feed.on_message('{"code": -1121, "msg": "Invalid symbol."}', 4)
    feed.on_message('{"result": null, "id": 1}', 5)
    ticker = {"u": 1, "s": "BTCUSDT", "b": "1", "B": "1", "a": "2", "A": "1"}
    feed.on_message(orjson.dumps({"stream": "btcusdt@bookTicker", "data": ticker}), 6)
    feed.on_message('{"stream":"btcusdt@kline_1m","data":{"e":"kline","s":"BTCUSDT","k":{}}}', 7)

    assert sink.kinds() == Counter({K.MALFORMED: 2, K.UNKNOWN: 1, K.REJECTED: 1})
    assert feed.stats["BTC/USDT"].unknown == 1 and feed.stats["BTC/USDT"].malformed == 0
    assert feed.ignored == {"bookTicker": 1, "kline": 1, "response": 1}


def test_duplicate_diffs_are_dropped_without_touching_the_book() -> None:
    """Replays the last applied diff twice more. Kept: the book and its sequence
    unchanged, still synced, two drops counted, no gap or resync."""
    feed, sink = synced_feed()
    before = feed.books["BTC/USDT"].snapshot_levels()

    feed.on_message(diff(99, 102, [["100.00", "9.9"]], []), 12)
    feed.on_message(diff(101, 102, [["100.00", "9.9"]], []), 13)

    assert feed.books["BTC/USDT"].snapshot_levels() == before
    assert feed.is_synced("BTC/USDT") and feed.dropped["BTC/USDT"] == 2
    assert K.GAP not in sink.kinds() and K.RESYNC not in sink.kinds()


def test_out_of_order_diffs_are_a_gap_that_resyncs_from_a_fresh_snapshot() -> None:
    """Sends 105..106 before 103..104. Kept: one GAP and one RESYNC, the book
    cleared and unsynced, a second snapshot request; after snapshot 104 both held
    diffs resolve (103..104 dropped, 105..106 bridges) and the book syncs again."""
    feed, sink = synced_feed()

    feed.on_message(diff(105, 106, [["99.50", "4"]], []), 12)
    feed.on_message(diff(103, 104, [["99.60", "5"]], []), 13)

    assert sink.kinds()[K.GAP] == 1 and sink.kinds()[K.RESYNC] == 1
    assert not feed.is_synced("BTC/USDT") and len(feed.books["BTC/USDT"]) == 0
    assert sink.snapshot_requests == ["BTC/USDT", "BTC/USDT"]

    feed.on_snapshot("BTC/USDT", snapshot(104), 14)

    book = feed.books["BTC/USDT"]
    assert feed.is_synced("BTC/USDT") and book.sequence == 106
    assert book.bids[to_ticks("99.5", 8)] == to_ticks("4", 8)
    assert to_ticks("99.6", 8) not in book.bids


def test_a_resync_asked_from_outside_fetches_a_rest_snapshot_and_bridges_again() -> None:
    """A synced book, then ``resync`` as the collector calls it for the hub (the
    default for REST-snapshot feeds). Kept: one RESYNC with the reason, the book
    cleared and unsynced, a second REST snapshot request; a diff then the snapshot it
    straddles make the book synced again."""
    feed, sink = synced_feed()

    feed.resync("BTC/USDT", "requested by the hub")

    resyncs = [e for e in sink.events if e.kind is K.RESYNC]
    assert [(e.symbol, e.detail) for e in resyncs] == [("BTC/USDT", "requested by the hub")]
    assert not feed.is_synced("BTC/USDT") and len(feed.books["BTC/USDT"]) == 0
    assert sink.snapshot_requests == ["BTC/USDT", "BTC/USDT"]
    feed.on_message(diff(103, 105, [["99.70", "3"]], []), 12)
    feed.on_snapshot("BTC/USDT", snapshot(104), 13)
    assert feed.is_synced("BTC/USDT") and feed.books["BTC/USDT"].sequence == 105


def test_gap_mid_stream_is_counted_and_the_book_is_never_served_stale() -> None:
    """Skips ids 103..109 mid-stream. Kept: GAP detail names the expected id, no
    book callback for the gapped diff, the symbol is unsynced until resynced."""
    feed, sink = synced_feed()
    books_before = sink.books

    feed.on_message(diff(110, 111, [["100.00", "7"]], []), 12)

    gap = next(e for e in sink.events if e.kind is K.GAP)
    assert "expected U=103" in gap.detail and gap.symbol == "BTC/USDT"
    assert sink.books == books_before and not feed.is_synced("BTC/USDT")
    assert feed.stats["BTC/USDT"].gaps == 1 and feed.stats["BTC/USDT"].resyncs == 1


def test_negative_size_is_malformed_and_resyncs_a_synced_book() -> None:
    """Sends a contiguous diff whose second level has size -1. Kept: MALFORMED and
    RESYNC counted on the symbol, the half-applied book cleared, a new request."""
    feed, sink = synced_feed()

    feed.on_message(diff(103, 103, [["100.00", "2"], ["99.00", "-1"]], []), 12)

    stats = feed.stats["BTC/USDT"]
    assert (stats.malformed, stats.resyncs) == (1, 1)
    assert not feed.is_synced("BTC/USDT") and len(feed.books["BTC/USDT"]) == 0
    assert sink.snapshot_requests == ["BTC/USDT", "BTC/USDT"]


def test_bad_numbers_and_missing_fields_are_malformed() -> None:
    """Sends a price with 9 decimals, an exponent, a missing U and a string u to a
    synced feed. Kept: MALFORMED every time, resync on the first, no exception."""
    feed, _ = synced_feed()
    head = '{"stream":"s","data":{"e":"depthUpdate","s":"BTCUSDT",'

    feed.on_message(diff(103, 103, [["100.000000001", "1"]], []), 12)
    feed.on_message(diff(103, 103, [["1e2", "1"]], []), 13)
    feed.on_message(head + '"u":1,"b":[],"a":[]}}', 14)
    feed.on_message(head + '"U":1,"u":"2","b":[],"a":[]}}', 15)

    assert feed.stats["BTC/USDT"].malformed == 4
    assert feed.stats["BTC/USDT"].resyncs == 1
    assert not feed.is_synced("BTC/USDT")


def test_snapshot_older_than_the_buffered_diffs_is_refetched() -> None:
    """Buffers diffs 200..205, then delivers snapshot 150 (older than 199). Kept:
    STALE_SNAPSHOT, no sync, a second request; the buffered diffs survive and
    snapshot 202 then syncs through them to sequence 205."""
    feed, sink = make_feed()
    feed.on_message(diff(200, 203, [["100.00", "5"]], []), 1)
    feed.on_message(diff(204, 205, [], [["101.00", "6"]]), 2)

    feed.on_snapshot("BTC/USDT", snapshot(150), 3)

    assert sink.kinds()[K.STALE_SNAPSHOT] == 1 and feed.stats["BTC/USDT"].stale_dropped == 1
    assert not feed.is_synced("BTC/USDT")
    assert sink.snapshot_requests == ["BTC/USDT", "BTC/USDT"]

    feed.on_snapshot("BTC/USDT", snapshot(202), 4)

    book = feed.books["BTC/USDT"]
    assert feed.is_synced("BTC/USDT") and book.sequence == 205
    assert book.best_bid() == (to_ticks("100", 8), to_ticks("5", 8))
    assert book.best_ask() == (to_ticks("101", 8), to_ticks("6", 8))


def test_crossed_book_after_an_update_resyncs() -> None:
    """Sends a bid above the best ask. Kept: CROSSED and RESYNC counted, unsynced,
    no book callback carrying the crossed state."""
    feed, sink = synced_feed()
    books_before = sink.books

    feed.on_message(diff(103, 103, [["105.00", "1"]], []), 12)

    assert feed.stats["BTC/USDT"].crossed == 1 and feed.stats["BTC/USDT"].resyncs == 1
    assert not feed.is_synced("BTC/USDT") and sink.books == books_before


def test_rejected_or_broken_snapshot_leaves_the_symbol_unsynced() -> None:
    """Delivers an error body and then a body with a bad price. Kept: REJECTED,
    then MALFORMED; nothing synced; the next diff asks for a snapshot again."""
    feed, sink = make_feed()
    feed.on_message(diff(1, 2, [], []), 1)

    feed.on_snapshot("BTC/USDT", '{"code": -1003, "msg": "Too many requests"}', 2)
    feed.on_snapshot("BTC/USDT", '{"lastUpdateId": 5, "bids": [["x", "1"]], "asks": []}', 3)
    feed.on_message(diff(3, 4, [], []), 4)

    assert sink.kinds()[K.REJECTED] == 1 and sink.kinds()[K.MALFORMED] == 1
    assert not feed.is_synced("BTC/USDT")
    assert sink.snapshot_requests == ["BTC/USDT", "BTC/USDT"]


def test_trades_carry_the_taker_side_from_the_maker_flag() -> None:
    """Sends a @trade print with m=true and an aggTrade with m=false, plus one with
    a negative quantity. Kept: taker sell then buy with exact prices and ids; the
    bad one counted as malformed."""
    feed, sink = make_feed()
    common = {"E": 5, "T": 1_600_000_000_000}
    trade = {**common, "e": "trade", "s": "BTCUSDT", "t": 7, "p": "100.10", "q": "0.5", "m": True}
    agg = {**common, "e": "aggTrade", "s": "ETHBTC", "a": 9, "p": "0.06", "q": "2", "m": False}

    feed.on_message(orjson.dumps({"stream": "btcusdt@trade", "data": trade}), 10)
    feed.on_message(orjson.dumps({"stream": "ethbtc@aggTrade", "data": agg}), 11)
    feed.on_message(orjson.dumps({"stream": "x", "data": {**agg, "q": "-2"}}), 12)

    first, second = sink.trades
    assert (first.symbol, first.side, first.trade_id) == ("BTC/USDT", "sell", "7")
    assert str(first.price) == "100.10" and str(first.size) == "0.5"
    assert first.ts_exchange_ns == 1_600_000_000_000_000_000 and first.ts_recv_ns == 10
    assert (second.symbol, second.side, second.trade_id) == ("ETH/BTC", "buy", "9")
    assert feed.stats["ETH/BTC"].malformed == 1 and feed.stats["ETH/BTC"].trades == 1


def test_disconnect_unsyncs_every_book() -> None:
    """Drops the socket after syncing. Kept: unsynced, book cleared, and the next
    diff requests a fresh snapshot."""
    feed, sink = synced_feed()

    feed.on_disconnect(20)
    feed.on_message(diff(500, 501, [], []), 21)

    assert not feed.is_synced("BTC/USDT") and len(feed.books["BTC/USDT"]) == 0
    assert sink.snapshot_requests == ["BTC/USDT", "BTC/USDT"]


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 3), st.integers(90, 110), st.integers(0, 3)),
        min_size=1,
        max_size=40,
    ),
    order=st.randoms(use_true_random=False),
)
def test_a_synced_book_always_equals_the_in_order_reference(
    steps: list[tuple[int, int, int]], order: Any
) -> None:
    """Generates contiguous diffs (random bid/ask levels, some deletions), then
    duplicates some and swaps a few neighbours. Kept: whenever the feed calls itself synced, its
    book equals a reference built by applying the same diffs in id order up to
    its sequence, and it is never crossed; nothing ever raises."""
    diffs = []
    for i, (side, price, size) in enumerate(steps):
        px = f"{price if side % 2 else price + 30}.00"
        level = [[px, f"{size}.0"]]
        diffs.append((1000 + i, level if side % 2 else [], [] if side % 2 else level))
    delivered = list(diffs)
    for _ in range(3):  # a few duplicates and adjacent swaps, so syncs still happen
        delivered.insert(order.randrange(len(delivered) + 1), order.choice(diffs))
        k = order.randrange(len(delivered))
        delivered[k - 1], delivered[k] = delivered[k], delivered[k - 1]
    feed, _ = make_feed()
    reference: dict[int, tuple[list[list[str]], list[list[str]]]] = {i: (b, a) for i, b, a in diffs}

    feed.on_snapshot("BTC/USDT", '{"lastUpdateId": 999, "bids": [], "asks": []}', 1)
    for i, bids, asks in delivered:
        feed.on_message(diff(i, i, bids, asks), 2)
        book = feed.books["BTC/USDT"]
        if feed.is_synced("BTC/USDT"):
            assert not book.is_crossed()
            expected = OrderBook("x", "BTC/USDT", price_decimals=8, size_decimals=8)
            for j in range(1000, book.sequence + 1):
                for p, s in reference[j][0]:
                    expected.set_bid(to_ticks(p, 8), to_ticks(s, 8))
                for p, s in reference[j][1]:
                    expected.set_ask(to_ticks(p, 8), to_ticks(s, 8))
            if book.sequence >= 1000 and feed.stats["BTC/USDT"].resyncs == 0:
                assert book.bids == expected.bids and book.asks == expected.asks


_KEYS = st.sampled_from(["stream", "data", "e", "s", "U", "u", "b", "a", "E", "T", "m", "p", "q"])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False),
    st.sampled_from(["BTCUSDT", "depthUpdate", "trade", "aggTrade", "kline", "1.5", "-1", "1e3"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=8)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=_JSON)
def test_arbitrary_json_is_counted_never_raised(value: Any) -> None:
    """Throws arbitrary JSON built from Binance's own field names at on_message and
    on_snapshot. Kept: neither raises, and the book never reads as synced."""
    feed, _ = make_feed()
    raw = orjson.dumps(value)

    feed.on_message(raw, 1)
    feed.on_snapshot("BTC/USDT", raw, 2)

    assert not feed.is_synced("BTC/USDT")
