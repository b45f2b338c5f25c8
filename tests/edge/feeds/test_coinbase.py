"""Coinbase feed: the recorded legacy level2 session replayed through the real parser,
then Advanced Trade sessions and bad input built by hand: sequence gaps, duplicates,
negative sizes and crossed books must be counted and resynced, never applied."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.feeds import feed_class
from edge.feeds.base import ExchangeFeed
from edge.feeds.coinbase import CoinbaseFeed, from_product, to_product
from edge.replay import replay_exchange
from shared.book import OrderBook
from shared.clock import ManualClock
from shared.marketdata import FeedEvent, FeedEventKind, Trade

K = FeedEventKind


@dataclass
class RecordingSink:
    """Keeps everything a feed hands out, including what it asks to send."""

    events: list[FeedEvent] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    books: list[tuple[str, Any, Any]] = field(default_factory=list)

    def on_trade(self, trade: Trade) -> None:
        self.trades.append(trade)

    def on_event(self, event: FeedEvent) -> None:
        self.events.append(event)

    def on_book(self, book: OrderBook) -> None:
        self.books.append((book.symbol, book.best_bid(), book.best_ask()))

    def request_snapshot(self, feed: ExchangeFeed, symbol: str) -> None:
        raise AssertionError("Coinbase books come from the WebSocket, never from REST")

    def send(self, feed: ExchangeFeed, message: str) -> None:
        self.sent.append(orjson.loads(message))

    def kinds(self) -> Counter[FeedEventKind]:
        return Counter(e.kind for e in self.events)


# -- the recorded legacy session -------------------------------------------------------


@pytest.mark.real_data
def test_the_recorded_level2_session_never_crosses_and_applies_every_change(
    real_data: Path,
) -> None:
    """Replays COINBASE.ws.28.0 (10 products: level2, ticker, matches). Kept: 10
    snapshots, every l2update's changes applied (counted here from the file), never
    crossed, no resync, 97 matches as trades with the taker side, and the ticker
    cross-check 100 of 107 as SOURCES.md found (the misses are timing)."""
    path = real_data / "cryptofeed" / "COINBASE.ws.28.0"
    received = []
    for line in path.read_text().splitlines():
        head, sep, body = line.partition(": ")
        if sep and " " not in head:
            received.append(orjson.loads(body))
    by_type = Counter(m["type"] for m in received)
    changes = sum(len(m["changes"]) for m in received if m["type"] == "l2update")
    sink = RecordingSink()

    result = replay_exchange("coinbase", [path], sink=sink)

    totals = Counter[str]()
    for stats in result.stats.values():
        totals.update(stats.as_dict())
    assert by_type["l2update"] == 9719 and by_type["match"] == 97
    assert len(result.stats) == 10 and totals["snapshots"] == 10
    assert totals["level_updates"] == changes
    assert totals["crossed"] == totals["resyncs"] == totals["malformed"] == 0
    assert totals["unknown"] == totals["stale_dropped"] == 0
    assert totals["trades"] == len(sink.trades) == 97 and result.sink.sent == 0
    assert len(sink.books) == 10 + 9719
    first = next(m for m in received if m["type"] == "match")
    trade = sink.trades[0]
    assert (trade.trade_id, trade.side, trade.price) == (
        str(first["trade_id"]), "buy" if first["side"] == "sell" else "sell",
        Decimal(first["price"]),
    )
    feed = result.feed
    assert isinstance(feed, CoinbaseFeed) and not feed.advanced
    matched = sum(c.matched for c in feed.ticker_checks.values())
    missed = sum(c.missed for c in feed.ticker_checks.values())
    assert (matched, missed) == (100, 7) and matched + missed == by_type["ticker"]


# -- Advanced Trade, by hand -------------------------------------------------------------


class Session:
    """Builds Advanced Trade messages with a running sequence_num, like one connection."""

    def __init__(self) -> None:
        self.seq = -1

    def msg(self, channel: str, events: list[dict[str, Any]], seq: int | None = None) -> bytes:
        self.seq = self.seq + 1 if seq is None else seq
        return orjson.dumps({"channel": channel, "client_id": "", "sequence_num": self.seq,
                             "timestamp": "2025-05-06T09:17:26.208075123Z", "events": events})

    def l2(self, kind: str, levels: list[tuple[str, str, str]], product: str = "BTC-USD",
           seq: int | None = None) -> bytes:
        updates = [{"side": s, "price_level": p, "new_quantity": q,
                    "event_time": "2025-05-06T09:17:26.1Z"} for s, p, q in levels]
        return self.msg("l2_data", [{"type": kind, "product_id": product, "updates": updates}],
                        seq)


SNAPSHOT = [("bid", "100.10", "1.5"), ("bid", "100.05", "2"), ("offer", "100.20", "0.25"),
            ("offer", "100.3", "4")]


def advanced(sink: RecordingSink, symbols: list[str] | None = None) -> CoinbaseFeed:
    return CoinbaseFeed(["BTC/USD"] if symbols is None else symbols, sink, ManualClock())


def test_an_advanced_trade_snapshot_and_updates_build_an_exact_book() -> None:
    sink, s = RecordingSink(), Session()
    feed = advanced(sink)

    feed.on_message(s.l2("snapshot", SNAPSHOT), 1)
    feed.on_message(s.l2("update", [("bid", "100.10", "0"), ("offer", "100.15", "0.000000000001")]),
                    2)

    book = feed.books["BTC/USD"]
    assert book.best_bid() == (100_05 * 10**10, 2 * 10**12)
    assert book.best_ask() == (100_15 * 10**10, 1)
    assert feed.stats["BTC/USD"].level_updates == 2 and feed.is_synced("BTC/USD")
    assert len(sink.books) == 2 and sink.sent == []


def test_a_sequence_gap_resyncs_every_book_and_updates_wait_for_the_new_snapshot() -> None:
    """Skips sequence_num 2. Kept: a GAP for the connection and for each book, one
    RESYNC each, one unsubscribe + subscribe of level2 for both products, the update
    after the gap discarded, and each book trusted again after its snapshot."""
    sink, s = RecordingSink(), Session()
    feed = advanced(sink, ["BTC/USD", "ETH/USD"])
    feed.on_message(s.l2("snapshot", SNAPSHOT), 1)
    feed.on_message(s.l2("snapshot", SNAPSHOT, "ETH-USD"), 2)

    feed.on_message(s.l2("update", [("bid", "100.11", "1")], seq=3), 3)

    assert feed.connection_events[K.GAP] == 1
    assert [feed.stats[x].gaps for x in ("BTC/USD", "ETH/USD")] == [1, 1]
    assert [feed.stats[x].resyncs for x in ("BTC/USD", "ETH/USD")] == [1, 1]
    assert sink.sent == [
        {"type": "unsubscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
    ]
    assert feed.stats["BTC/USD"].stale_dropped == 1 and not feed.is_synced("BTC/USD")
    feed.on_message(s.l2("snapshot", SNAPSHOT), 4)
    assert feed.is_synced("BTC/USD") and not feed.is_synced("ETH/USD")


def test_a_resync_asked_from_outside_resubscribes_only_that_product() -> None:
    """Two synced books, then ``resync`` of BTC/USD as the collector calls it for the
    hub. Kept: one RESYNC with the reason, a level2 unsubscribe + subscribe of BTC-USD
    alone, ETH/USD untouched, and BTC/USD synced again by the snapshot that follows."""
    sink, s = RecordingSink(), Session()
    feed = advanced(sink, ["BTC/USD", "ETH/USD"])
    feed.on_message(s.l2("snapshot", SNAPSHOT), 1)
    feed.on_message(s.l2("snapshot", SNAPSHOT, "ETH-USD"), 2)

    feed.resync("BTC/USD", "requested by the hub")

    resyncs = [e for e in sink.events if e.kind is K.RESYNC]
    assert [(e.symbol, e.detail) for e in resyncs] == [("BTC/USD", "requested by the hub")]
    assert sink.sent == [
        {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"},
    ]
    assert not feed.is_synced("BTC/USD") and feed.is_synced("ETH/USD")
    feed.on_message(s.l2("snapshot", SNAPSHOT), 3)
    assert feed.is_synced("BTC/USD")


def test_duplicate_and_out_of_order_sequence_numbers_are_dropped_not_applied() -> None:
    """Replays sequence_num 1 and then sends 0 again, each carrying a change. Kept:
    both dropped and counted, the book as it was, no resync."""
    sink, s = RecordingSink(), Session()
    feed = advanced(sink)
    feed.on_message(s.l2("snapshot", SNAPSHOT), 1)
    feed.on_message(s.l2("update", [("bid", "100.11", "1")]), 2)

    feed.on_message(s.l2("update", [("bid", "100.12", "1")], seq=1), 3)
    feed.on_message(s.l2("update", [("bid", "100.13", "1")], seq=0), 4)

    assert feed.sequence_dropped == 2 and sink.sent == []
    assert feed.books["BTC/USD"].best_bid_price() == 100_11 * 10**10
    assert feed.stats["BTC/USD"].resyncs == 0 and feed.is_synced("BTC/USD")


def test_negative_sizes_excess_decimals_and_crossing_updates_resync_the_book() -> None:
    """Tries: a negative quantity, a price with 13 decimals (beyond the book's exact
    scale), an unknown side, and a bid through the best offer. Kept: three
    MALFORMED and one CROSSED, a resubscribe after each, and no book published
    for any of them."""
    sink, s = RecordingSink(), Session()
    feed = advanced(sink)
    bad = [
        [("bid", "100.00", "-1")],
        [("offer", "100.2500000000001", "1")],
        [("ask", "100.25", "1")],
        [("bid", "100.25", "1")],
    ]
    published = []
    for levels in bad:
        feed.on_message(s.l2("snapshot", SNAPSHOT), 0)
        published.append(len(sink.books))
        feed.on_message(s.l2("update", levels), 0)
        assert len(sink.books) == published[-1] and not feed.is_synced("BTC/USD")

    stats = feed.stats["BTC/USD"]
    assert (stats.malformed, stats.crossed, stats.resyncs) == (3, 1, 4)
    assert len(sink.sent) == 8 and sink.sent[1]["type"] == "subscribe"


def test_market_trades_flip_the_maker_side_and_skip_the_snapshot() -> None:
    sink, s = RecordingSink(), Session()
    feed = advanced(sink)
    row = {"trade_id": "123", "product_id": "BTC-USD", "price": "100.15", "size": "0.5",
           "side": "SELL", "time": "2025-05-06T09:17:26.5Z"}

    feed.on_message(s.msg("market_trades", [{"type": "snapshot", "trades": [row]}]), 1)
    feed.on_message(s.msg("market_trades", [{"type": "update", "trades": [row]}]), 2)

    assert sink.trades == [Trade("coinbase", "BTC/USD", "123", Decimal("100.15"),
                                 Decimal("0.5"), "buy", 1_746_523_046_500_000_000, 2)]


def test_bad_input_is_counted_and_never_raises() -> None:
    """Tries: bytes that are not JSON, a JSON array, an object of no known shape,
    an unknown channel, a message without sequence_num, an error message, a book for
    a product not subscribed, and a legacy l2update before any snapshot. Kept:
    each counted where it belongs, nothing applied, nothing raised."""
    sink, s = RecordingSink(), Session()
    feed = advanced(sink)

    feed.on_message(b"\xff{", 1)
    feed.on_message("[1, 2]", 2)
    feed.on_message('{"hello": 1}', 3)
    feed.on_message(s.msg("candles", []), 4)
    feed.on_message('{"channel": "l2_data", "events": []}', 5)
    feed.on_message('{"type": "error", "message": "Failed to subscribe"}', 6)
    feed.on_message(s.l2("snapshot", SNAPSHOT, "SOL-USD"), 7)
    feed.on_message('{"type": "l2update", "product_id": "BTC-USD", "changes": [["buy", "1", "1"]],'
                    ' "time": "2021-04-17T16:43:37.075687Z"}', 8)

    counts = feed.connection_events
    assert (counts[K.MALFORMED], counts[K.UNKNOWN], counts[K.REJECTED]) == (2, 4, 1)
    assert feed.stats["BTC/USD"].stale_dropped == 1 and feed.books == {}
    assert sink.sent == [] and sink.books == []


# -- subscription and naming -------------------------------------------------------------


def test_advanced_trade_subscribes_level2_trades_and_heartbeats_one_channel_each() -> None:
    feed = CoinbaseFeed(["BTC/USD", "ETH/EUR"], RecordingSink(), ManualClock())

    msgs = [orjson.loads(m) for m in feed.subscribe_messages()]

    ids = ["BTC-USD", "ETH-EUR"]
    assert msgs == [
        {"type": "subscribe", "product_ids": ids, "channel": "level2"},
        {"type": "subscribe", "product_ids": ids, "channel": "market_trades"},
        {"type": "subscribe", "channel": "heartbeats"},
    ]
    assert feed.advanced and feed_class("coinbase") is CoinbaseFeed


def test_the_legacy_url_subscribes_the_legacy_way() -> None:
    feed = CoinbaseFeed(["BTC/USD"], RecordingSink(), ManualClock(),
                        ws_url="wss://ws-feed.exchange.coinbase.com")

    msgs = [orjson.loads(m) for m in feed.subscribe_messages()]

    assert not feed.advanced
    assert msgs == [{"type": "subscribe", "product_ids": ["BTC-USD"],
                     "channels": ["level2", "ticker", "matches"]}]
    assert to_product("SKL/USD") == "SKL-USD" and from_product("SKL-GBP") == "SKL/GBP"


_WORDS = ["book", "update", "snapshot", "trade", "l2_data", "l2update", "match", "ticker", "bid",
          "offer", "buy", "sell", "b", "s", "XBT/USD", "BTC/USD", "BTC-USD", "1.5", "-1", "0",
          "book-10", "subscriptionStatus", "subscribed", "2025-05-06T09:17:26Z"]
_KEYS = ["channel", "type", "data", "symbol", "bids", "asks", "checksum", "price", "qty", "event",
         "channelID", "channelName", "pair", "status", "a", "b", "c", "as", "bs", "sequence_num",
         "events", "product_id", "updates", "side", "price_level", "new_quantity", "changes",
         "time", "trade_id", "size", "trades", "method", "result", "success", "timestamp",
         "pairs", "price_precision", "qty_precision", "best_bid", "best_ask"]
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 2**40), st.sampled_from(_WORDS),
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_JSON, max_size=8))
def test_no_message_of_any_shape_makes_the_feed_raise(messages: list[Any]) -> None:
    """Random JSON built from the protocol's own keys and words, sent on a feed with
    a synced book. Kept: nothing raises (each message is counted, applied or dropped)."""
    feed = CoinbaseFeed([], RecordingSink(), ManualClock())
    feed.on_message('{"type": "snapshot", "product_id": "BTC-USD", "bids": [["1", "1"]],'
                    ' "asks": [["2", "1"]]}', 0)

    for message in messages:
        feed.on_message(orjson.dumps(message), 1)
        feed.on_sent(orjson.dumps(message).decode(), 1)
