"""The L2 book's reads and exact-price parsing, on small hand-built books."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.book import OrderBook, float_to_ticks, ticks_to_decimal, ticks_to_str, to_ticks
from shared.errors import BookError, MessageError


def make_book(depth: int | None = None) -> OrderBook:
    book = OrderBook("test", "BTC/USD", price_decimals=2, size_decimals=4, depth=depth)
    book.load_snapshot(
        bids=[(10000, 10000), (9990, 20000), (9980, 30000)],  # 100.00 x1, 99.90 x2, 99.80 x3
        asks=[(10010, 5000), (10020, 10000), (10030, 15000)],  # 100.10 x0.5, ...
    )
    return book


def test_to_ticks_is_exact_and_pads_short_fractions() -> None:
    assert to_ticks("0.35210000", 8) == 35_210_000
    assert to_ticks("296.5", 8) == 29_650_000_000
    assert to_ticks("7", 2) == 700
    assert to_ticks("1.2300", 2) == 123  # trailing zeros beyond the scale are harmless


@pytest.mark.parametrize("text", ["1.234", "-1", "1e-8", "abc", "", "1.2.3", "NaN"])
def test_to_ticks_refuses_anything_not_exactly_representable(text: str) -> None:
    with pytest.raises(MessageError):
        to_ticks(text, 2)


def test_float_to_ticks_recovers_the_digits_a_json_number_was_sent_with() -> None:
    assert float_to_ticks(2500.1, 2) == 250010
    assert float_to_ticks(0.00012345, 8) == 12345
    assert float_to_ticks(1e-05, 8) == 1000
    assert float_to_ticks(42, 2) == 4200
    with pytest.raises(MessageError):
        float_to_ticks(True, 2)


def test_ticks_round_trip_through_strings_and_decimals() -> None:
    assert ticks_to_str(35_210_000, 8) == "0.35210000"
    assert ticks_to_str(700, 0) == "700"
    assert ticks_to_decimal(123, 2) == Decimal("1.23")


def test_best_levels_top_n_and_spread() -> None:
    book = make_book()
    assert book.best_bid() == (10000, 10000)
    assert book.best_ask() == (10010, 5000)
    assert book.top_bids(2) == [(10000, 10000), (9990, 20000)]
    assert book.top_asks(5) == [(10010, 5000), (10020, 10000), (10030, 15000)]
    assert book.spread_ticks() == 10
    assert book.mid() == Decimal("100.05")
    assert not book.is_crossed()


def test_zero_size_deletes_and_deleting_a_missing_level_is_harmless() -> None:
    book = make_book()
    book.set_bid(10000, 0)
    book.set_ask(12345, 0)
    assert book.best_bid() == (9990, 20000)
    assert len(book) == 5


def test_negative_size_is_refused_and_leaves_the_level_untouched() -> None:
    book = make_book()
    with pytest.raises(BookError):
        book.set_ask(10010, -1)
    assert book.best_ask() == (10010, 5000)


def test_an_update_through_the_other_side_shows_as_crossed() -> None:
    book = make_book()
    book.set_bid(10020, 1)
    assert book.is_crossed()


def test_truncation_keeps_the_best_levels_of_each_side() -> None:
    book = make_book(depth=2)
    assert book.top_bids(5) == [(10000, 10000), (9990, 20000)]
    book.set_ask(10005, 100)  # a better ask pushes the worst one out
    assert book.top_asks(5) == [(10005, 100), (10010, 5000)]
    assert 10030 not in book.asks


def test_depth_within_distance_imbalance_and_microprice() -> None:
    book = make_book()
    # 10 bps of a 100.05 mid is about 0.10: 100.00 and 99.96.. on the bid, 100.10 on the ask.
    assert book.depth_within(10) == (10000, 5000)
    assert book.depth_within(100) == (60000, 30000)
    assert book.imbalance(levels=1) == pytest.approx((1 - 0.5) / 1.5)
    # (100.00 * 0.5 + 100.10 * 1) / 1.5
    assert book.microprice() == (Decimal("100.00") * Decimal("0.5") + Decimal("100.10")) / Decimal(
        "1.5"
    )


def test_levels_as_strings_keep_the_exchange_precision() -> None:
    bids, asks = make_book().levels_as_strings(1)
    assert bids == [["100.00", "1.0000"]]
    assert asks == [["100.10", "0.5000"]]


_levels = st.lists(
    st.tuples(st.integers(9_900, 10_100), st.integers(0, 5)), max_size=12
)


@given(updates=st.lists(st.tuples(_levels, _levels), max_size=20))
def test_applying_a_whole_update_equals_setting_its_levels_one_by_one(
    updates: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]],
) -> None:
    """``apply`` is the batched form of ``set_bid``/``set_ask``: same levels, same order."""
    batched, single = make_book(), make_book()
    for bids, asks in updates:
        batched.apply(bids, asks)
        for price, size in bids:
            single.set_bid(price, size)
        for price, size in asks:
            single.set_ask(price, size)
        assert batched.bids == single.bids and batched.asks == single.asks
        assert batched.top_bids(50) == single.top_bids(50)
        assert batched.top_asks(50) == single.top_asks(50)


def test_apply_truncates_once_after_the_update_and_refuses_negative_sizes() -> None:
    book = make_book(depth=3)
    # Inserting 100.05 then deleting 100.00 leaves three bids, so 99.80 stays: the
    # exchange truncates the book it holds after each message, not after each level.
    book.apply([(10005, 1), (10000, 0)], [])
    assert sorted(book.bids) == [9980, 9990, 10005]
    book.apply([(10006, 1), (10007, 1)], [(10001, 1)])
    assert sorted(book.bids) == [10005, 10006, 10007]
    assert sorted(book.asks) == [10001, 10010, 10020]
    with pytest.raises(BookError, match="negative ask size"):
        book.apply([], [(10040, -1)])


@given(
    bids=st.dictionaries(st.integers(1, 500), st.integers(1, 9), max_size=40),
    asks=st.dictionaries(st.integers(501, 1000), st.integers(1, 9), max_size=40),
    floor=st.none() | st.integers(1, 500),
    ceiling=st.none() | st.integers(501, 1000),
    depth=st.integers(1, 50),
)
def test_keep_within_and_truncate_keep_exactly_the_best_levels_inside_the_bounds(
    bids: dict[int, int], asks: dict[int, int], floor: int | None, ceiling: int | None,
    depth: int,
) -> None:
    """Kept: every bid at or above the floor and every ask at or below the ceiling,
    then the best ``depth`` of those; the price lists still match the levels; the cut
    flags say which side lost levels to ``depth``."""
    book = OrderBook("x", "A/B")
    book.load_snapshot(list(bids.items()), list(asks.items()))

    book.keep_within(floor, ceiling)
    inside_bids = sorted((p for p in bids if floor is None or p >= floor), reverse=True)
    inside_asks = sorted(p for p in asks if ceiling is None or p <= ceiling)
    cut = book.truncate(depth)

    assert [p for p, _ in book.top_bids(depth + 1)] == inside_bids[:depth]
    assert [p for p, _ in book.top_asks(depth + 1)] == inside_asks[:depth]
    assert list(book.bid_prices()) == sorted(book.bids)
    assert list(book.ask_prices()) == sorted(book.asks)
    assert cut == (len(inside_bids) > depth, len(inside_asks) > depth)
