"""Kraken feed: recorded v1 sessions replayed through the real parser, a genuine v2 book
pair, then hand-built bad input that must be counted and resynced, never applied."""

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
from edge.feeds._kraken_wire import from_v1_pair, infer_precision, kraken_depth, to_v1_pair
from edge.feeds.base import ExchangeFeed
from edge.feeds.kraken import KrakenFeed
from edge.replay import replay_exchange
from shared import checksums
from shared.book import OrderBook
from shared.clock import ManualClock
from shared.errors import ConfigError
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
        raise AssertionError("Kraken books come from the WebSocket, never from REST")

    def send(self, feed: ExchangeFeed, message: str) -> None:
        self.sent.append(orjson.loads(message))

    def kinds(self) -> Counter[FeedEventKind]:
        return Counter(e.kind for e in self.events)


def _received(path: Path) -> list[Any]:
    """Every received message of a cryptofeed .ws file, parsed here, not by the feed."""
    out = []
    for line in path.read_text().splitlines():
        head, sep, body = line.partition(": ")
        if sep and " " not in head:
            out.append(orjson.loads(body))
    return out


# -- recorded v1 sessions ----------------------------------------------------------------


@pytest.mark.real_data
def test_every_checksum_of_the_recorded_v1_book_session_verifies(real_data: Path) -> None:
    """Replays KRAKEN.ws.50.0 (book-1000, 10 pairs). Kept: 4,269 checksums verified and
    none failed, one snapshot per pair, never crossed, no resubscribe, and the level
    updates equal the levels of the update messages, counted here from the file."""
    path = real_data / "cryptofeed" / "KRAKEN.ws.50.0"
    sink = RecordingSink()

    result = replay_exchange("kraken", [path], sink=sink)

    messages = [m for m in _received(path) if isinstance(m, list)]
    updates = [m for m in messages if "as" not in m[1] and "bs" not in m[1]]
    levels = sum(len(p.get("a", ())) + len(p.get("b", ())) for m in updates for p in m[1:-2])
    totals = Counter[str]()
    for stats in result.stats.values():
        totals.update(stats.as_dict())
    assert len(result.stats) == 10 and "BTC/CHF" in result.stats and "ADA/BTC" in result.stats
    assert totals["checksums_ok"] == len(updates) == 4269
    assert totals["checksums_failed"] == totals["crossed"] == totals["resyncs"] == 0
    assert totals["malformed"] == totals["unknown"] == totals["stale_dropped"] == 0
    assert totals["snapshots"] == 10
    assert totals["level_updates"] == levels
    assert isinstance(result.feed, KrakenFeed)
    assert result.sink.sent == 0 and not result.feed.v2
    assert all(result.feed.is_synced(s) for s in result.stats)
    assert len(sink.books) == 4269 + 10
    assert set(sink.kinds()) == {K.SUBSCRIBED, K.SNAPSHOT}


@pytest.mark.real_data
def test_the_recorded_v1_trades_are_all_emitted_with_taker_side_and_stable_ids(
    real_data: Path,
) -> None:
    """Replays KRAKEN.ws.48.0 (trade channel). Kept: one Trade per print in the file
    (counted here), exact prices, 'b' -> buy, and ids that are unique and the same on
    a second replay (v1 trades carry no id of their own)."""
    path = real_data / "cryptofeed" / "KRAKEN.ws.48.0"
    prints = [row for m in _received(path) if isinstance(m, list) for row in m[1]]
    sink, again = RecordingSink(), RecordingSink()

    result = replay_exchange("kraken", [path], sink=sink)
    replay_exchange("kraken", [path], sink=again)

    assert len(sink.trades) == len(prints) == sum(s.trades for s in result.stats.values())
    first = sink.trades[0]
    assert (first.symbol, first.price, first.size, first.side) == (
        "XMR/USD",
        Decimal("354.11000000"),
        Decimal("0.89594024"),
        "sell",
    )
    assert first.ts_exchange_ns == 1_618_678_142_557_535_000
    assert [t.side for t in sink.trades].count("buy") == sum(1 for r in prints if r[3] == "b")
    ids = [t.trade_id for t in sink.trades]
    assert len(set(ids)) == len(ids) and ids == [t.trade_id for t in again.trades]


@pytest.mark.real_data
def test_a_tampered_v1_level_fails_its_checksum_and_only_that_pair_resyncs(
    real_data: Path, tmp_path: Path
) -> None:
    """Changes one volume digit of an XMR/USD update that touches the top 10 (its
    checksum differs from the previous one, and it has a single level). Kept:
    exactly one checksum failure, one resync of XMR/USD (two messages sent:
    unsubscribe + subscribe), every later XMR/USD update discarded, and every other
    pair unaffected. The exact resubscribe messages are checked on v1 below."""
    lines = (real_data / "cryptofeed" / "KRAKEN.ws.50.0").read_text().splitlines()
    previous, index, msg = None, -1, None
    for i, line in enumerate(lines):
        if '"book-1000","XMR/USD"]' in line and '"c":' in line:
            msg = orjson.loads(line.partition(": ")[2])
            part = msg[1]
            single = len(msg) == 4 and len(part.get("a", ())) + len(part.get("b", ())) == 1
            if single and previous not in (None, part["c"]):
                level = (part.get("a") or part["b"])[0]
                if level[1].strip("0.") and i > 0:
                    index = i
                    break
            previous = part["c"]
    assert index > 0 and msg is not None
    head = lines[index].partition(": ")[0]
    level[1] = ("2" if level[1][0] != "2" else "3") + level[1][1:]
    lines[index] = f"{head}: {orjson.dumps(msg).decode()}"
    later = sum(1 for line in lines[index + 1 :] if '"book-1000","XMR/USD"]' in line)
    path = tmp_path / "KRAKEN.ws.50.0"
    path.write_text("\n".join(lines) + "\n")
    sink = RecordingSink()

    result = replay_exchange("kraken", [path], sink=sink)

    xmr = result.stats["XMR/USD"]
    assert (xmr.checksums_failed, xmr.resyncs, xmr.stale_dropped) == (1, 1, later)
    assert not result.feed.is_synced("XMR/USD") and len(result.feed.books["XMR/USD"]) == 0
    assert result.sink.sent == 2  # the replay's sink counts what the feed asked to send
    resync = [e for e in sink.events if e.kind is K.RESYNC]
    assert [e.symbol for e in resync] == ["XMR/USD"] and "checksum" in resync[0].detail
    others = [s for name, s in result.stats.items() if name != "XMR/USD"]
    assert sum(s.checksums_failed for s in others) == 0
    assert sum(s.checksums_ok for s in others) + xmr.checksums_ok == 4269 - 1 - later


# -- v2: the genuine ETH/USD pair (savvadia/lla_arbibot, 2025-05-06) ----------------------

ETH_BIDS = [
    (1797.24, 0.43393711),
    (1797.18, 139.10616255),
    (1797.13, 139.10995927),
    (1797.12, 0.80386470),
    (1797.07, 139.11517673),
    (1796.98, 5.22282896),
    (1796.97, 12.17138476),
    (1796.95, 139.69390939),
    (1796.88, 4.21870000),
    (1796.85, 1.22932317),
]
ETH_ASKS = [
    (1797.25, 1.40355852),
    (1797.28, 10.82400000),
    (1797.29, 139.09899871),
    (1797.30, 139.09783403),
    (1797.37, 139.09216827),
    (1797.41, 5.24638952),
    (1797.42, 0.01780330),
    (1797.46, 33.05700000),
    (1797.48, 3.11556555),
    (1797.49, 139.49306646),
]


def _levels(pairs: list[tuple[float, float]]) -> list[dict[str, float]]:
    return [{"price": p, "qty": q} for p, q in pairs]


def book_message(kind: str, symbol: str, bids: Any, asks: Any, checksum: int) -> str:
    data: dict[str, Any] = {"symbol": symbol, "bids": bids, "asks": asks, "checksum": checksum}
    if kind == "update":
        data["timestamp"] = "2025-05-06T09:17:26.208075Z"
    return orjson.dumps({"channel": "book", "type": kind, "data": [data]}).decode()


ETH_SNAPSHOT = book_message("snapshot", "ETH/USD", _levels(ETH_BIDS), _levels(ETH_ASKS), 2606672715)
ETH_UPDATE = book_message(
    "update", "ETH/USD", [], _levels([(1797.29, 0.0), (1797.52, 1.56601318)]), 3329440863
)
INSTRUMENT = orjson.dumps(
    {
        "channel": "instrument",
        "type": "snapshot",
        "data": {
            "assets": [],
            "pairs": [
                {
                    "symbol": "ETH/USD",
                    "base": "ETH",
                    "quote": "USD",
                    "price_precision": 2,
                    "qty_precision": 8,
                }
            ],
        },
    }
).decode()


def v2_feed(sink: RecordingSink, symbols: list[str] | None = None, **options: Any) -> KrakenFeed:
    return KrakenFeed(symbols or ["ETH/USD"], sink, ManualClock(), depth=10, **options)


@pytest.mark.parametrize("source", ["instrument", "option", "inferred"])
def test_the_genuine_v2_snapshot_and_update_checksums_verify(source: str) -> None:
    """Feeds the real ETH/USD depth-10 snapshot (checksum 2606672715) and update
    (3329440863) with the precisions from the instrument channel, from the
    constructor option, or inferred from the snapshot's own checksum. Kept: both
    verify every way, the deleted level is gone, the new one is in, 10 asks remain."""
    sink = RecordingSink()
    feed = v2_feed(sink, precisions={"ETH/USD": (2, 8)} if source == "option" else None)
    if source == "instrument":
        feed.on_message(INSTRUMENT, 1)

    feed.on_message(ETH_SNAPSHOT, 2)
    feed.on_message(ETH_UPDATE, 3)

    stats = feed.stats["ETH/USD"]
    assert (stats.snapshots, stats.checksums_ok, stats.checksums_failed) == (1, 2, 0)
    assert feed.precisions["ETH/USD"] == (2, 8) and feed.is_synced("ETH/USD")
    book = feed.books["ETH/USD"]
    assert 179729 not in book.asks and book.asks[179752] == 156601318 and len(book.asks) == 10
    assert book.ts_exchange_ns == 1_746_523_046_208_075_000
    assert sink.sent == [] and len(sink.books) == 2


def test_precision_inference_refuses_a_checksum_nothing_reproduces() -> None:
    assert infer_precision(_levels(ETH_BIDS), _levels(ETH_ASKS), 2606672715) == (2, 8)
    assert infer_precision(_levels(ETH_BIDS), _levels(ETH_ASKS), 12345) is None
    assert infer_precision([], [], 0) is None


def test_a_tampered_v2_update_resyncs_and_the_book_is_untrusted_until_a_new_snapshot() -> None:
    """Changes one quantity of the genuine update. Kept: CHECKSUM_FAILED and RESYNC,
    unsubscribe + subscribe for ETH/USD sent, no book published for the bad update,
    the next (good) update discarded, and the next snapshot trusted again."""
    sink = RecordingSink()
    feed = v2_feed(sink, precisions={"ETH/USD": (2, 8)})
    feed.on_message(ETH_SNAPSHOT, 1)
    tampered = ETH_UPDATE.replace("1.56601318", "1.56601319")

    feed.on_message(tampered, 2)
    published = len(sink.books)
    feed.on_message(ETH_UPDATE, 3)

    assert sink.kinds()[K.CHECKSUM_FAILED] == 1 and sink.kinds()[K.RESYNC] == 1
    assert sink.sent == [
        {
            "method": "unsubscribe",
            "params": {"channel": "book", "symbol": ["ETH/USD"], "depth": 10},
        },
        {
            "method": "subscribe",
            "params": {"channel": "book", "symbol": ["ETH/USD"], "depth": 10, "snapshot": True},
        },
    ]
    assert not feed.is_synced("ETH/USD") and published == len(sink.books) == 1
    assert feed.stats["ETH/USD"].stale_dropped == 1
    feed.on_message(ETH_SNAPSHOT, 4)
    assert feed.is_synced("ETH/USD") and feed.stats["ETH/USD"].checksums_ok == 2


def test_a_resync_asked_from_outside_resubscribes_the_symbol_and_the_snapshot_brings_it_back(
) -> None:
    """A synced ETH/USD book, then ``resync`` as the collector calls it for the hub.
    Kept: one RESYNC with the reason, unsubscribe + subscribe of that book at its
    depth, no REST request (the sink would fail), the next update dropped, and the
    snapshot the resubscribe brings makes the book synced and checked again."""
    sink = RecordingSink()
    feed = v2_feed(sink, precisions={"ETH/USD": (2, 8)})
    feed.on_message(ETH_SNAPSHOT, 1)

    feed.resync("ETH/USD", "requested by the hub")
    feed.on_message(ETH_UPDATE, 2)

    resyncs = [e for e in sink.events if e.kind is K.RESYNC]
    assert [(e.symbol, e.detail) for e in resyncs] == [("ETH/USD", "requested by the hub")]
    assert [(m["method"], m["params"]["symbol"], m["params"]["depth"]) for m in sink.sent] == [
        ("unsubscribe", ["ETH/USD"], 10), ("subscribe", ["ETH/USD"], 10),
    ]
    assert not feed.is_synced("ETH/USD") and len(feed.books["ETH/USD"]) == 0
    assert feed.stats["ETH/USD"].stale_dropped == 1
    feed.on_message(ETH_SNAPSHOT, 3)
    feed.on_message(ETH_UPDATE, 4)
    assert feed.is_synced("ETH/USD") and feed.stats["ETH/USD"].checksums_ok == 3


def test_a_crossed_v2_book_with_a_valid_checksum_is_still_resynced() -> None:
    """A snapshot whose best bid is above its best ask, with the checksum such a book
    really has. Kept: CROSSED, a resync, and no book published."""
    crossed = OrderBook("kraken", "ETH/USD", price_decimals=2, size_decimals=8)
    crossed.load_snapshot([(180000, 100000000)], [(179725, 140355852)])
    msg = book_message(
        "snapshot",
        "ETH/USD",
        _levels([(1800.0, 1.0)]),
        _levels([(1797.25, 1.40355852)]),
        checksums.kraken(crossed),
    )
    sink = RecordingSink()
    feed = v2_feed(sink, precisions={"ETH/USD": (2, 8)})

    feed.on_message(msg, 1)

    assert feed.stats["ETH/USD"].crossed == 1 and feed.stats["ETH/USD"].resyncs == 1
    assert not feed.is_synced("ETH/USD") and sink.books == []


def test_bad_input_is_counted_and_never_raises() -> None:
    """Tries: bytes that are not JSON, JSON of no known shape, an unknown v2 channel,
    a v2 update with a negative size, one with too many decimals for the pair, a
    book for a pair not subscribed, and a v1 message on a channel id never announced.
    Kept: each counted where it belongs; the bad updates resynced ETH/USD."""
    sink = RecordingSink()
    feed = v2_feed(sink, precisions={"ETH/USD": (2, 8)})
    feed.on_message(ETH_SNAPSHOT, 1)

    feed.on_message(b"\xff{not json", 2)
    feed.on_message('{"hello": 1}', 3)
    feed.on_message('{"channel": "spread", "data": []}', 4)
    feed.on_message(book_message("update", "ETH/USD", _levels([(1797.0, -1.0)]), [], 1), 5)
    feed.on_message(ETH_SNAPSHOT, 6)
    feed.on_message(book_message("update", "ETH/USD", _levels([(1797.001, 1.0)]), [], 1), 7)
    feed.on_message(book_message("snapshot", "SOL/USD", [], [], 0), 8)
    feed.on_message('{"channel": "book", "type": "update", "data": 7}', 9)

    counts = feed.connection_events
    assert counts[K.MALFORMED] == 2  # the bytes, and data that is not a list
    assert counts[K.UNKNOWN] == 3  # {"hello"}, channel "spread", SOL/USD
    stats = feed.stats["ETH/USD"]
    assert stats.malformed == 2 and stats.resyncs == 2 and stats.snapshots == 2
    assert not feed.is_synced("ETH/USD") and len(sink.sent) == 4


def test_v1_messages_on_a_channel_id_never_announced_are_counted_and_dropped() -> None:
    """Tries: a v1 book update and a snapshot for XBT/USD on channel 42, which no
    subscriptionStatus announced (as after an unsubscribe), and a v1 array too
    short to hold a channel name. Kept: two UNKNOWN for BTC/USD, one MALFORMED for
    the connection, no book built."""
    sink = RecordingSink()
    feed = KrakenFeed([], sink, ManualClock(), ws_url="wss://ws.kraken.com")

    feed.on_message('[42, {"a": [["1.0", "1.0", "1.0"]], "c": "1"}, "book-10", "XBT/USD"]', 1)
    feed.on_message('[42, {"as": [["1.0", "1.0", "1.0"]], "bs": []}, "book-10", "XBT/USD"]', 2)
    feed.on_message("[42, 7]", 3)

    assert feed.stats["BTC/USD"].unknown == 2 and feed.books == {}
    assert feed.connection_events[K.MALFORMED] == 1 and sink.sent == []


def test_v2_trade_updates_become_trades_and_the_snapshot_of_old_prints_does_not() -> None:
    sink = RecordingSink()
    feed = v2_feed(sink)
    row = {
        "symbol": "ETH/USD",
        "side": "sell",
        "price": 1797.24,
        "qty": 0.5,
        "ord_type": "market",
        "trade_id": 4665906,
        "timestamp": "2025-05-06T09:17:26.5Z",
    }

    feed.on_message(orjson.dumps({"channel": "trade", "type": "snapshot", "data": [row]}), 1)
    feed.on_message(orjson.dumps({"channel": "trade", "type": "update", "data": [row]}), 2)

    assert sink.trades == [
        Trade(
            "kraken",
            "ETH/USD",
            "4665906",
            Decimal("1797.24"),
            Decimal("0.5"),
            "sell",
            1_746_523_046_500_000_000,
            2,
        )
    ]


# -- subscription, naming, limits -----------------------------------------------------


def test_v2_subscribes_to_instrument_book_and_trade_at_a_depth_kraken_accepts() -> None:
    feed = KrakenFeed(["BTC/USD", "DOGE/USD"], RecordingSink(), ManualClock(), depth=20)

    msgs = [orjson.loads(m) for m in feed.subscribe_messages()]

    assert feed.v2 and feed.depth == 25 and feed.ping_message() == '{"method":"ping"}'
    assert [m["params"]["channel"] for m in msgs] == ["instrument", "book", "trade"]
    assert msgs[1]["params"] == {
        "channel": "book",
        "symbol": ["BTC/USD", "DOGE/USD"],
        "depth": 25,
        "snapshot": True,
    }


def test_v1_url_subscribes_with_v1_pair_names() -> None:
    feed = KrakenFeed(
        ["BTC/USD", "DOGE/BTC"],
        RecordingSink(),
        ManualClock(),
        ws_url="wss://ws.kraken.com",
        trades=False,
    )

    msgs = [orjson.loads(m) for m in feed.subscribe_messages()]

    assert msgs == [
        {
            "event": "subscribe",
            "pair": ["XBT/USD", "XDG/XBT"],
            "subscription": {"name": "book", "depth": 1000},
        }
    ]
    assert not feed.v2 and feed.ping_message() == '{"event":"ping"}'


def test_names_depths_limits_and_registration() -> None:
    assert to_v1_pair("BTC/USD") == "XBT/USD" and from_v1_pair("XDG/XBT") == "DOGE/BTC"
    assert from_v1_pair("ETH/CHF") == "ETH/CHF"
    assert [kraken_depth(d) for d in (1, 10, 11, 500, 5000)] == [10, 10, 25, 500, 1000]
    assert feed_class("kraken") is KrakenFeed
    too_many = [f"C{i}/USD" for i in range(KrakenFeed.max_symbols_per_connection + 1)]
    with pytest.raises(ConfigError, match="at most 50"):
        KrakenFeed(too_many, RecordingSink(), ManualClock())


def test_a_v1_resync_unsubscribes_and_resubscribes_the_v1_pair_at_its_depth() -> None:
    """A v1 snapshot then an update whose checksum is wrong. Kept: the resubscribe
    names the v1 pair (XBT/USD) and the depth from the channel name (book-10)."""
    sink = RecordingSink()
    feed = KrakenFeed([], sink, ManualClock(), ws_url="wss://ws.kraken.com")
    feed.on_message(
        orjson.dumps(
            {
                "channelID": 7,
                "channelName": "book-10",
                "event": "subscriptionStatus",
                "pair": "XBT/USD",
                "status": "subscribed",
            }
        ),
        1,
    )
    feed.on_message(
        '[7, {"as": [["101.0", "1.00000000", "1"]], "bs": [["100.0", "2.00000000",'
        ' "1"]]}, "book-10", "XBT/USD"]',
        2,
    )

    feed.on_message('[7, {"a": [["101.0", "3.00000000", "1"]], "c": "1"}, "book-10", "XBT/USD"]', 3)

    sub = {"name": "book", "depth": 10}
    assert sink.sent == [
        {"event": "unsubscribe", "pair": ["XBT/USD"], "subscription": sub},
        {"event": "subscribe", "pair": ["XBT/USD"], "subscription": sub},
    ]
    assert feed.stats["BTC/USD"].checksums_failed == 1 and not feed.is_synced("BTC/USD")


def test_truncation_waits_for_the_whole_message_as_kraken_specifies() -> None:
    """The genuine update with its two ask levels swapped: the insert beyond the 10th
    ask comes before the delete that makes room for it. Kept: the checksum still
    verifies, because the book is cut to depth only after the whole message."""
    sink = RecordingSink()
    feed = v2_feed(sink, precisions={"ETH/USD": (2, 8)})
    feed.on_message(ETH_SNAPSHOT, 1)
    swapped = book_message("update", "ETH/USD", [],
                           _levels([(1797.52, 1.56601318), (1797.29, 0.0)]), 3329440863)

    feed.on_message(swapped, 2)

    assert feed.stats["ETH/USD"].checksums_ok == 2 and len(feed.books["ETH/USD"].asks) == 10


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
    feed = KrakenFeed([], RecordingSink(), ManualClock())
    feed.on_message(orjson.dumps({"channelID": 1, "channelName": "book-10", "event":
                                  "subscriptionStatus", "pair": "XBT/USD",
                                  "status": "subscribed"}), 0)
    feed.on_message('[1, {"as": [["2.0", "1.0", "1"]], "bs": [["1.0", "1.0", "1"]]}, "book-10",'
                    ' "XBT/USD"]', 0)

    for message in messages:
        feed.on_message(orjson.dumps(message), 1)
        feed.on_sent(orjson.dumps(message).decode(), 1)
