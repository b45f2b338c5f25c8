"""The built-in sentiment scorer: each cue on hand-written headlines, then the real
CryptoLin headlines against the dataset's own VADER verdicts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench.news_bench import LABELS, Headline, builtin_labels, development, held_out, load
from edge.news.builtin import (
    LABEL_THRESHOLDS,
    VERSION,
    BuiltinScore,
    BuiltinScorer,
    score,
)

POSITIVE = [
    "Bitcoin pumps as whales pile in",
    "Ether hits new all-time high",
    "Bitcoin reclaims ATH above $69,000",
    "SEC approves first spot bitcoin ETF",
    "SEC approval of bitcoin ETF expected this week",
    "Coinbase announces partnership with Visa",
    "Kraken launches staking in the US",
    "El Salvador adopts bitcoin as legal tender",
    "Solana surges after network upgrade",
    "Dogecoin soars on Musk tweet",
    "Analysts turn bullish on ether",
    "Bitcoin up 20% this week",
    "Nigeria lifts ban on crypto trading",
]

NEGATIVE = [
    "Bitcoin dumps below $30,000",
    "Traders get rekt as leverage unwinds",
    "DeFi protocol hacked for $100 million",
    "Bridge exploit: attacker drained $320M",
    "SEC rejects spot bitcoin ETF application",
    "SEC delays decision on ether ETF again",
    "Binance to delist privacy coins",
    "SEC sues Coinbase over unregistered securities",
    "CFTC charges exchange founder with fraud",
    "Crypto lender files for bankruptcy",
    "China bans crypto mining",
    "Exchange suffers hours-long outage",
    "Bitcoin plunges as ETF outflows mount",
    "Ether tumbles after Fed decision",
    "Analysts turn bearish on ether",
    "Solana -15% after outage",
]

NEUTRAL = [
    "The Block publishes its weekly newsletter",
    "Ethereum developers schedule a call for Thursday",
    "What is a blockchain?",
    "Bitcoin conference takes place in Miami",
    "",
]


@pytest.mark.parametrize("text", POSITIVE)
def test_positive_cues_read_as_positive(text: str) -> None:
    result = score(text)

    assert result.label == "positive", result
    assert result.matched


@pytest.mark.parametrize("text", NEGATIVE)
def test_negative_cues_read_as_negative(text: str) -> None:
    result = score(text)

    assert result.label == "negative", result
    assert result.matched


@pytest.mark.parametrize("text", NEUTRAL)
def test_headlines_without_a_direction_stay_neutral(text: str) -> None:
    assert score(text).label == "neutral"


def test_the_cues_that_fired_are_named() -> None:
    result = score("SEC approves bitcoin ETF as price surges 12%")

    assert result.matched == ("approves [etf]", "surges", "up 12%")


def test_an_etf_context_makes_approval_and_rejection_weigh_more() -> None:
    assert score("SEC approves bitcoin ETF").score > score("SEC approves new rule").score
    assert score("SEC rejects bitcoin ETF").score < score("SEC rejects the request").score


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("Bitcoin is bullish", "Bitcoin is not bullish"),
        ("Analysts see a rally", "Analysts see no rally"),
        ("The merge is a success", "The merge isn't a success"),
        ("Bitcoin rallies", "Bitcoin fails to rally"),
        ("Exchange hacked", "Exchange wasn't hacked"),
        ("Withdrawals resume after a hack", "Withdrawals resume without a hack"),
    ],
)
def test_negation_flips_the_cue_it_governs(plain: str, negated: str) -> None:
    before, after = score(plain), score(negated)

    assert before.score * after.score < 0, (before, after)


def test_negation_is_milder_than_the_opposite_word() -> None:
    assert score("Bitcoin is bearish").score < score("Bitcoin is not bullish").score < 0


def test_a_negator_reaches_only_a_few_words() -> None:
    far = score("No comment from the company on the rally in its token")

    assert far.score > 0
    assert "rally" in far.matched


def test_an_intensifier_strengthens_and_a_diminisher_weakens() -> None:
    plain = score("Exchange hack drains funds").score
    massive = score("Massive exchange hack drains funds").score
    rise = score("Bitcoin rises").score

    assert massive < plain < 0
    assert 0 < score("Bitcoin slightly rises").score < rise
    assert 0 < score("Bitcoin rises slightly").score < rise
    assert score("Bitcoin rises sharply").score > rise


def test_after_but_the_second_clause_wins() -> None:
    assert score("Bitcoin dips, but buyers step in and it rallies").label == "positive"
    assert score("Bitcoin rallies, but then crashes").label == "negative"


def test_a_concession_counts_for_less() -> None:
    assert score("Bitcoin rallies despite the crash in equities").label == "positive"


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("BTC +20% in a week", 1),
        ("ETH -15% overnight", -1),
        ("Solana up 20%", 1),
        ("Cardano down 8 percent", -1),
        ("Dogecoin posts a 30% rally", 1),
        ("Bitcoin drops 9% in an hour", -1),
    ],
)
def test_percent_moves_carry_their_sign(text: str, sign: int) -> None:
    result = score(text)

    assert result.score * sign > 0, result
    assert any(name.endswith("%") for name in result.matched)


def test_a_bigger_percent_move_weighs_more() -> None:
    assert score("Bitcoin up 2%").score < score("Bitcoin up 20%").score
    assert score("Memecoin up 1,000% in a day").matched == ("up 1000%",)


def test_a_percent_without_a_direction_is_not_a_cue() -> None:
    assert score("Bitcoin dominance is 45%").matched == ()


def test_questions_and_explainers_are_damped() -> None:
    assert abs(score("Will Bitcoin crash?").score) < abs(score("Bitcoin will crash").score)
    assert abs(score("A look at DeFi hacks").score) < abs(score("DeFi hacks").score)
    assert score("A look at the biggest ETF launches of 2021").label == "neutral"


def test_a_hinted_ticker_is_not_read_as_a_cue() -> None:
    text = "PUMP lists on a new exchange"

    assert "pump" in score(text).matched
    assert "pump" not in score(text, symbols_hint=["PUMP/USDT"]).matched


def test_mis_decoded_apostrophes_still_negate() -> None:
    assert "won" not in score("Regulators won\u0092t approve it").matched


def test_outputs_stay_in_range_and_agree_with_the_thresholds() -> None:
    low, high = LABEL_THRESHOLDS
    for text in [*POSITIVE, *NEGATIVE, *NEUTRAL, "crash " * 50, "moon " * 50]:
        result = score(text)

        assert -1.0 <= result.score <= 1.0
        assert 0.0 <= result.confidence <= 1.0
        expected = (
            "positive" if result.score > high else "negative" if result.score < low
            else "neutral"
        )
        assert result.label == expected


def test_more_evidence_gives_more_confidence() -> None:
    weak = score("Exchange lists a new token")
    strong = score("Bitcoin soars to a record high as ETF inflows surge")

    assert strong.confidence > weak.confidence
    assert score("The weekly newsletter").confidence < 0.5


def test_scoring_is_deterministic_and_score_many_keeps_order() -> None:
    scorer = BuiltinScorer()
    texts = [*POSITIVE, *NEGATIVE, *NEUTRAL]

    first = scorer.score_many(texts)

    assert first == scorer.score_many(texts) == [scorer.score(text) for text in texts]
    assert all(isinstance(result, BuiltinScore) for result in first)


def test_the_scorer_names_itself_and_its_version() -> None:
    scorer = BuiltinScorer()

    assert scorer.name == "builtin"
    assert scorer.version == VERSION
    with pytest.raises(dataclasses.FrozenInstanceError):
        score("x").score = 1.0  # type: ignore[misc]


# --- Real headlines ---------------------------------------------------------------


def _macro_f1(truth: list[int], predicted: list[int]) -> float:
    f1 = []
    for cls in (-1, 0, 1):
        tp = sum(t == cls == p for t, p in zip(truth, predicted, strict=True))
        fp = sum(p == cls != t for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == cls != p for t, p in zip(truth, predicted, strict=True))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1) / 3


def _accuracy(truth: list[int], predicted: list[int]) -> float:
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)


def _against_vader(rows: Sequence[Headline]) -> tuple[tuple[float, float], tuple[float, float]]:
    truth = [row.label for row in rows]
    ours = builtin_labels(rows)
    vader = [row.vader for row in rows]
    return (
        (_accuracy(truth, ours), _macro_f1(truth, ours)),
        (_accuracy(truth, vader), _macro_f1(truth, vader)),
    )


@pytest.mark.real_data
def test_it_beats_vader_on_the_development_headlines(real_data: Path) -> None:
    rows = development(load(real_data))
    assert len(rows) == 1342

    (acc, f1), (vader_acc, vader_f1) = _against_vader(rows)

    assert acc > vader_acc
    assert f1 > vader_f1


@pytest.mark.real_data
def test_it_beats_vader_on_the_held_out_headlines(real_data: Path) -> None:
    rows = held_out(load(real_data))
    assert len(rows) == 1341

    (acc, f1), (vader_acc, vader_f1) = _against_vader(rows)

    assert acc > vader_acc
    assert f1 > vader_f1


@pytest.mark.real_data
def test_vader_class_is_the_compound_score_at_the_standard_thresholds(real_data: Path) -> None:
    rows = load(real_data)

    def cls(compound: float) -> int:
        return 1 if compound >= 0.05 else -1 if compound <= -0.05 else 0

    agree = sum(cls(row.vader_compound) == row.vader for row in rows)

    assert agree / len(rows) > 0.99


def test_labels_map_to_the_datasets_classes() -> None:
    assert LABELS == {"negative": -1, "neutral": 0, "positive": 1}
