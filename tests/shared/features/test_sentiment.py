"""The sentiment features: no look-ahead, deterministic, bit-identical float32."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.features.sentiment import (
    HOUR_NS,
    SENTIMENT_FEATURES,
    SENTIMENT_SPEC_VERSION,
    SENTIMENT_WINDOW_HOURS,
    HourlySentiment,
    article_weighted,
    sentiment_features,
    spec_hash,
)

RECORDED_SPEC_HASH = "d0bf8324874d0a503ed0ff6bc7e2a509209d3af71cfa2ec783722a40c1f54556"
"""The spec's hash as released; models carry it in their manifests."""

T0 = 1_700_000_000 // 3600 * 3600 * 1_000_000_000
"""An hour boundary (ns)."""


def row(
    symbol: str,
    hour: int,
    *,
    articles: int = 2,
    weighted: float = 0.4,
    computed_after_s: int = 60,
    regime_score: float = 0.3,
) -> HourlySentiment:
    """A row for the ``hour``-th hour after T0, computed shortly after it closed."""
    start = T0 + hour * HOUR_NS
    return HourlySentiment(
        symbol=symbol, hour_start_ns=start, articles=articles, mean=weighted / 2,
        weighted=weighted, dispersion=0.1, negative_share=0.25, llm_share=1.0,
        regime="bullish", regime_score=regime_score,
        computed_ns=start + HOUR_NS + computed_after_s * 1_000_000_000,
    )


def named(vector: np.ndarray) -> dict[str, float]:
    return dict(zip(SENTIMENT_FEATURES, vector.tolist(), strict=True))


def test_no_news_gives_zeros_and_a_full_window_since_the_last_news() -> None:
    """Tried: no rows at all. Kept: every feature 0 but hours_since = the window."""
    features = named(sentiment_features([], "BTC", T0))

    assert features["news_sym_hours_since"] == SENTIMENT_WINDOW_HOURS
    assert features["news_mkt_hours_since"] == SENTIMENT_WINDOW_HOURS
    others = {k: v for k, v in features.items() if not k.endswith("hours_since")}
    assert set(others.values()) == {0.0}


def test_a_row_computed_after_as_of_is_invisible() -> None:
    """Tried: the hour closed at T0+1h but was rolled up a minute later; features at
    T0+1h+30s. Kept: the row does not exist yet for them, it does at +61s."""
    rows = [row("BTC", 0, computed_after_s=60)]
    before = named(sentiment_features(rows, "BTC", T0 + HOUR_NS + 30 * 10**9))
    after = named(sentiment_features(rows, "BTC", T0 + HOUR_NS + 61 * 10**9))

    assert before["news_sym_last_articles"] == 0.0
    assert after["news_sym_last_articles"] == 2.0


def test_an_hour_not_yet_closed_is_invisible_even_if_computed() -> None:
    """Tried: a (malformed) row computed before its hour closed; features inside that
    hour. Kept: invisible until the hour closes."""
    early = replace(row("BTC", 0), computed_ns=T0 + 10 * 10**9)

    inside = named(sentiment_features([early], "BTC", T0 + HOUR_NS - 1))
    closed = named(sentiment_features([early], "BTC", T0 + HOUR_NS))

    assert inside["news_sym_last_articles"] == 0.0
    assert closed["news_sym_last_articles"] == 2.0
    assert closed["news_sym_hours_since"] == 0.0


def test_symbol_and_market_rows_fill_their_own_blocks() -> None:
    """Tried: BTC, ETH and market rows. Kept: ETH is ignored for BTC; the market
    block reads '*' rows; the window mean is article-weighted."""
    rows = [
        row("BTC", 0, articles=1, weighted=0.9),
        row("BTC", 1, articles=3, weighted=-0.1, regime_score=0.05),
        row("ETH", 1, articles=7, weighted=-0.8),
        row("*", 0, articles=4, weighted=0.2),
    ]
    as_of = T0 + 3 * HOUR_NS

    features = named(sentiment_features(rows, "BTC", as_of))

    assert features["news_sym_last_articles"] == 3.0
    assert features["news_sym_articles_24h"] == 4.0
    assert features["news_sym_weighted_24h"] == pytest.approx((0.9 - 0.3) / 4)
    assert features["news_sym_regime_score"] == pytest.approx(0.05)
    assert features["news_sym_hours_since"] == 1.0
    assert features["news_mkt_last_articles"] == 4.0
    assert features["news_mkt_hours_since"] == 2.0


def test_rows_older_than_the_window_do_not_count() -> None:
    """Tried: a row whose hour ended exactly the window before as_of. Kept: out, so
    an agent passing only its recent rows gets the hub's vector."""
    rows = [row("BTC", 0)]
    as_of = T0 + HOUR_NS + SENTIMENT_WINDOW_HOURS * HOUR_NS

    features = named(sentiment_features(rows, "BTC", as_of))

    assert features["news_sym_last_articles"] == 0.0
    assert features["news_sym_hours_since"] == SENTIMENT_WINDOW_HOURS


def test_same_rows_in_any_order_give_bit_identical_float32() -> None:
    """Tried: 200 random rows, shuffled, plus unrelated older rows. Kept: the bytes
    of the vector are identical and the dtype is float32."""
    rng = random.Random(7)
    rows = [
        row(rng.choice(["BTC", "*"]), h, articles=rng.randint(1, 9),
            weighted=rng.uniform(-1, 1), regime_score=rng.uniform(-1, 1))
        for h in range(200)
    ]
    as_of = T0 + 150 * HOUR_NS + 17
    shuffled = rows[:]
    rng.shuffle(shuffled)

    a = sentiment_features(rows, "BTC", as_of)
    b = sentiment_features(shuffled, "BTC", as_of)
    recent = sentiment_features([r for r in rows if r.hour_start_ns > T0 + 100 * HOUR_NS],
                                "BTC", as_of)

    assert a.dtype == np.float32
    assert a.shape == (len(SENTIMENT_FEATURES),)
    assert a.tobytes() == b.tobytes() == recent.tobytes()


def test_a_duplicated_hour_keeps_the_first_computed_row() -> None:
    """Tried: two copies of one hour, computed at different times. Kept: the first,
    as the append-only table would."""
    first = row("BTC", 0, articles=2)
    later = replace(first, articles=9, computed_ns=first.computed_ns + 10)

    features = named(sentiment_features([later, first], "BTC", T0 + 5 * HOUR_NS))

    assert features["news_sym_last_articles"] == 2.0


def test_the_spec_hash_is_stable() -> None:
    """Tried: hashing twice and against the recorded value. Kept: a changed name,
    order, window or version must change this constant deliberately."""
    assert spec_hash() == spec_hash()
    assert len(spec_hash()) == 64
    assert SENTIMENT_SPEC_VERSION == 1
    assert len(SENTIMENT_FEATURES) == len(set(SENTIMENT_FEATURES)) == 18
    assert spec_hash() == RECORDED_SPEC_HASH


def test_article_weighted_ignores_empty_hours() -> None:
    """Tried: pairs with zero articles. Kept: they weigh nothing; all empty → 0."""
    assert article_weighted([(0, 5.0), (2, 0.5), (2, -0.1)]) == (4, pytest.approx(0.2))
    assert article_weighted([(0, 1.0)]) == (0, 0.0)


def test_from_row_round_trips() -> None:
    """Tried: a row to its column tuple and back. Kept: equal."""
    original = row("ETH", 3)

    assert HourlySentiment.from_row(original.as_row()) == original


@st.composite
def rows_strategy(draw: st.DrawFn) -> list[HourlySentiment]:
    hours = draw(st.lists(st.integers(0, 60), max_size=30))
    return [
        row(
            draw(st.sampled_from(["BTC", "ETH", "*"])), hour,
            articles=draw(st.integers(1, 20)),
            weighted=draw(st.floats(-1, 1)),
            computed_after_s=draw(st.integers(0, 3 * 3600)),
            regime_score=draw(st.floats(-1, 1)),
        )
        for hour in hours
    ]


@given(rows=rows_strategy(), late=rows_strategy(), as_of_s=st.integers(0, 62 * 3600))
@settings(max_examples=150, deadline=None)
def test_rows_invisible_at_as_of_never_change_the_vector(
    rows: list[HourlySentiment], late: list[HourlySentiment], as_of_s: int
) -> None:
    """Tried: random rows, plus random extra rows each made invisible at as_of (its
    hour still open, or computed after as_of). Kept: the vector's bytes are the same
    with and without them: nothing from the future can leak in."""
    as_of = T0 + as_of_s * 10**9
    invisible = [
        r if r.hour_end_ns > as_of else replace(r, computed_ns=as_of + 1) for r in late
    ]

    with_future = sentiment_features(rows + invisible, "BTC", as_of)
    without = sentiment_features(rows, "BTC", as_of)

    assert with_future.tobytes() == without.tobytes()
