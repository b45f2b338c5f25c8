"""Kraken's book checksum on hand-made books, and the order book's invariants under
random valid updates (hypothesis)."""

from __future__ import annotations

from zlib import crc32

from hypothesis import given, settings
from hypothesis import strategies as st

from shared import checksums
from shared.book import OrderBook, float_to_ticks

# -- Kraken checksum -----------------------------------------------------------------------


def test_kraken_checksum_is_asks_ascending_then_bids_descending_without_dots_or_zeros() -> None:
    book = OrderBook("kraken", "XBT/CHF", price_decimals=1, size_decimals=8)
    book.load_snapshot(bids=[(500, 150_000_000), (499, 1)], asks=[(502, 25_000_000)])

    # "50.2" "0.25000000" -> "502" "25000000"; "50.0" "1.50000000"; "49.9" "0.00000001"
    expected = crc32(b"502" b"25000000" b"500" b"150000000" b"499" b"1")
    assert checksums.kraken(book) == expected


def test_kraken_checksum_covers_only_the_top_ten_of_each_side() -> None:
    book = OrderBook("kraken", "ETH/USD", price_decimals=2, size_decimals=8)
    book.load_snapshot(
        bids=[(10_000 - i, 100) for i in range(15)], asks=[(10_001 + i, 100) for i in range(15)]
    )
    before = checksums.kraken(book)

    book.set_bid(9_980, 7)  # 20th bid: outside the top 10
    book.set_ask(10_020, 7)

    assert checksums.kraken(book) == before
    book.set_ask(10_001, 7)
    assert checksums.kraken(book) != before


def test_the_genuine_v2_eth_usd_snapshot_checksum_holds_on_a_hand_built_book() -> None:
    """The ETH/USD depth-10 snapshot of 2025-05-06 (savvadia/lla_arbibot), at the
    pair's precision: price 2 decimals, qty 8. Kraken published 2606672715."""
    bids = [(1797.24, 0.43393711), (1797.18, 139.10616255), (1797.13, 139.10995927),
            (1797.12, 0.80386470), (1797.07, 139.11517673), (1796.98, 5.22282896),
            (1796.97, 12.17138476), (1796.95, 139.69390939), (1796.88, 4.21870000),
            (1796.85, 1.22932317)]
    asks = [(1797.25, 1.40355852), (1797.28, 10.82400000), (1797.29, 139.09899871),
            (1797.30, 139.09783403), (1797.37, 139.09216827), (1797.41, 5.24638952),
            (1797.42, 0.01780330), (1797.46, 33.05700000), (1797.48, 3.11556555),
            (1797.49, 139.49306646)]
    book = OrderBook("kraken", "ETH/USD", price_decimals=2, size_decimals=8)

    book.load_snapshot(
        [(float_to_ticks(p, 2), float_to_ticks(q, 8)) for p, q in bids],
        [(float_to_ticks(p, 2), float_to_ticks(q, 8)) for p, q in asks],
    )

    assert checksums.kraken(book) == 2606672715


# -- order book invariants ------------------------------------------------------------------

MID = 10_000
updates = st.lists(
    st.tuples(st.sampled_from(["bid", "ask"]), st.integers(MID - 60, MID + 60),
              st.integers(0, 5)),
    max_size=150,
)


def _apply_valid(book: OrderBook, model: dict[str, dict[int, int]], side: str, price: int,
                 size: int, depth: int | None = None) -> None:
    """Apply an update only if it keeps the model uncrossed; mirror it in the model."""
    bids, asks = model["bid"], model["ask"]
    if size and side == "bid" and asks and price >= min(asks):
        return
    if size and side == "ask" and bids and price <= max(bids):
        return
    book.set(side, price, size)  # type: ignore[arg-type]
    levels = model[side]
    if size:
        levels[price] = size
    else:
        levels.pop(price, None)
    if depth is not None and len(levels) > depth:
        keep = sorted(levels, reverse=side == "bid")[:depth]
        model[side] = {p: levels[p] for p in keep}


@settings(max_examples=200, deadline=None)
@given(updates)
def test_the_book_never_crosses_and_tracks_the_best_levels_under_valid_updates(
    ops: list[tuple[str, int, int]],
) -> None:
    book = OrderBook("test", "T/U", price_decimals=0, size_decimals=0)
    model: dict[str, dict[int, int]] = {"bid": {}, "ask": {}}

    for side, price, size in ops:
        _apply_valid(book, model, side, price, size)

        assert not book.is_crossed()
        assert book.best_bid_price() == max(model["bid"], default=None)
        assert book.best_ask_price() == min(model["ask"], default=None)
    assert book.bids == model["bid"] and book.asks == model["ask"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 500), st.integers(1, 9)), max_size=40), updates)
def test_a_book_rebuilt_from_its_snapshot_levels_equals_the_incremental_one(
    seed: list[tuple[int, int]], ops: list[tuple[str, int, int]],
) -> None:
    book = OrderBook("test", "T/U", price_decimals=0, size_decimals=0)
    book.load_snapshot(bids=[(MID - 61 - p, s) for p, s in seed],
                       asks=[(MID + 61 + p, s) for p, s in seed])
    model = {"bid": dict(book.bids), "ask": dict(book.asks)}
    for side, price, size in ops:
        _apply_valid(book, model, side, price, size)

    bids, asks = book.snapshot_levels()
    rebuilt = OrderBook("test", "T/U", price_decimals=0, size_decimals=0)
    rebuilt.load_snapshot(bids, asks)

    assert rebuilt.bids == book.bids and rebuilt.asks == book.asks
    assert rebuilt.top_bids(1000) == book.top_bids(1000) == bids
    assert rebuilt.top_asks(1000) == book.top_asks(1000) == asks
    assert rebuilt.snapshot_levels() == (bids, asks)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8), updates)
def test_truncation_to_depth_keeps_exactly_the_best_levels(
    depth: int, ops: list[tuple[str, int, int]],
) -> None:
    book = OrderBook("test", "T/U", price_decimals=0, size_decimals=0, depth=depth)
    model: dict[str, dict[int, int]] = {"bid": {}, "ask": {}}

    for side, price, size in ops:
        _apply_valid(book, model, side, price, size, depth)

        assert len(book.bids) <= depth and len(book.asks) <= depth
    assert book.bids == model["bid"] and book.asks == model["ask"]
    assert [p for p, _ in book.top_bids(depth)] == sorted(model["bid"], reverse=True)
