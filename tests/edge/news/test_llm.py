"""The LLM scorer against a real HTTP server on loopback that speaks Ollama's API.

Timings are kept loose for a busy 2-core machine: answers that must be in time
get a 2-3 s budget, answers that must be late take 2 s against a 0.5 s budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import ollama
import pytest

from edge.news.llm import (
    LlmMalformed,
    LlmModelMissing,
    LlmScorer,
    LlmServerError,
    LlmTooSlow,
    LlmUnreachable,
)
from edge.news.prompt import (
    SYSTEM_PROMPT,
    AnswerRefused,
    parse_answer,
    prompt_hash,
    response_schema,
)
from edge.news.types import MARKET, ArticleText
from shared.config.news import OllamaConfig
from tests.edge.news.ollama_server import OllamaServer, closed_port_url, running

BTC_SURGES = ArticleText(1, "Bitcoin surges past $100k as ETF inflows grow", "", ("BTC", "ETH"))


@pytest.fixture()
def server() -> Iterator[OllamaServer]:
    with running() as srv:
        yield srv


def make_scorer(host: str, **overrides: Any) -> LlmScorer:
    settings: dict[str, Any] = {
        "host": host, "model": "test-model", "timeout_s": 3.0, "budget_s": 2.0,
        "retries": 2, "concurrency": 1,
    }
    settings.update(overrides)
    return LlmScorer(OllamaConfig(**settings), backoff_s=0.01)


def test_a_normal_answer_becomes_one_market_score_and_one_per_tagged_symbol(
    server: OllamaServer,
) -> None:
    """Tried: a bullish headline tagged BTC and ETH. Kept: a MARKET row and a row per
    symbol, the server's verdict (+0.8 positive), model and prompt hash on each row,
    and a request that is non-streaming, temperature 0, with the schema as format."""
    scores = make_scorer(server.url).score(BTC_SURGES)

    assert [s.symbol for s in scores] == [MARKET, "BTC", "ETH"]
    assert {(s.scorer, s.model, s.prompt_hash) for s in scores} == {
        ("llm", "test-model", prompt_hash())
    }
    assert all(s.score == 0.8 and s.label == "positive" for s in scores)
    assert scores[0].relevance == 1.0
    assert scores[1].relevance == 0.9 and scores[2].relevance == 0.2
    [body] = server.scoring_requests()
    assert body["stream"] is False
    assert body["options"] == {"temperature": 0}
    assert body["format"] == response_schema(["BTC", "ETH"])
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert "Headline: Bitcoin surges" in body["messages"][1]["content"]
    assert body["think"] is False
    assert body["keep_alive"] == "30m"  # the model stays loaded between 15-minute harvests


def test_the_prompt_hash_changes_with_the_prompt_and_not_with_the_article() -> None:
    """Tried: hashing twice and for different articles' schemas. Kept: one stable sha256."""
    assert len(prompt_hash()) == 64
    assert prompt_hash() == prompt_hash()
    assert response_schema(["BTC"])["properties"]["symbols"]["required"] == ["BTC"]


def test_a_symbol_nobody_asked_about_is_ignored(server: OllamaServer) -> None:
    """Tried: the answer adds a coin ZZZ. Kept: only MARKET and the tagged coins."""
    server.behaviour = "extra_symbol"
    scores = make_scorer(server.url).score(BTC_SURGES)
    assert [s.symbol for s in scores] == [MARKET, "BTC", "ETH"]


def test_an_answer_missing_a_tagged_symbol_is_refused_after_the_retries(
    server: OllamaServer,
) -> None:
    """Tried: every answer leaves the coins out, retries=2. Kept: LlmMalformed naming
    the coin after exactly three requests."""
    server.behaviour = "missing_symbol"
    scorer = make_scorer(server.url, retries=2)
    outcome = scorer.score_one(BTC_SURGES)
    assert isinstance(outcome.error, LlmMalformed)
    assert "BTC" in str(outcome.error)
    assert outcome.attempts == 3
    assert len(server.scoring_requests()) == 3


def test_malformed_json_is_retried_and_the_next_answer_kept(server: OllamaServer) -> None:
    """Tried: a cut-off JSON answer, then a good one. Kept: the good one, two attempts."""
    server.script = ["malformed"]
    outcome = make_scorer(server.url).score_one(BTC_SURGES)
    assert outcome.error is None
    assert outcome.attempts == 2
    assert outcome.scores[0].score == 0.8


def test_an_out_of_range_score_is_refused(server: OllamaServer) -> None:
    """Tried: score 7 on every answer, no retries. Kept: LlmMalformed, nothing scored."""
    server.behaviour = "out_of_range"
    with pytest.raises(LlmMalformed, match="score"):
        make_scorer(server.url, retries=0).score(BTC_SURGES)


def test_numbers_a_hair_out_of_range_are_clamped_and_an_unknown_label_is_derived() -> None:
    """Tried: score 1.05, confidence -0.02 and label "bullish". Kept: 1.0, 0.0, positive;
    NaN and a 0..100 confidence are refused."""
    verdicts = parse_answer(
        '{"market": {"label": "bullish", "score": 1.05, "confidence": -0.02}, "symbols": {}}', []
    )
    market = verdicts[MARKET]
    assert (market.score, market.confidence, market.final_label()) == (1.0, 0.0, "positive")
    with pytest.raises(AnswerRefused):
        parse_answer('{"market": {"score": NaN, "confidence": 0.5}, "symbols": {}}', [])
    with pytest.raises(AnswerRefused, match="confidence"):
        parse_answer('{"market": {"score": 0.1, "confidence": 85}, "symbols": {}}', [])


def test_json_wrapped_in_a_code_fence_is_still_read() -> None:
    """Tried: a model without grammar support fencing its answer. Kept: the object inside;
    lower-case coin keys match the tagged symbols."""
    text = '```json\n{"market": {"score": -0.5, "confidence": 0.7, "label": "negative"},' \
        ' "symbols": {"btc": {"score": -0.6, "confidence": 0.7, "relevance": 1}}}\n```'
    verdicts = parse_answer(text, ["BTC"])
    assert verdicts["BTC"].score == -0.6


def test_a_model_that_is_not_pulled_says_how_to_pull_it(server: OllamaServer) -> None:
    """Tried: a model the server does not have. Kept: LlmModelMissing with the
    `ollama pull` command, from the warm-up, with no retry."""
    scorer = make_scorer(server.url, model="qwen3:1.7b")
    with pytest.raises(LlmModelMissing, match=r"model qwen3:1\.7b not pulled: run `ollama pull"):
        scorer.warm_up()
    with pytest.raises(LlmModelMissing):
        scorer.score(BTC_SURGES)
    assert len(server.scoring_requests()) == 1


def test_server_errors_are_retried_then_reported(server: OllamaServer) -> None:
    """Tried: HTTP 500 on every request with retries=1, then a 500 followed by a good
    answer. Kept: LlmServerError after two requests; then the good answer."""
    server.behaviour = "error500"
    with pytest.raises(LlmServerError, match="HTTP 500"):
        make_scorer(server.url, retries=1).score(BTC_SURGES)
    assert len(server.scoring_requests()) == 2

    server.behaviour, server.script = "normal", ["error500"]
    outcome = make_scorer(server.url, retries=1).score_one(BTC_SURGES)
    assert outcome.error is None and outcome.attempts == 2


def test_a_closed_port_is_unreachable_at_once() -> None:
    """Tried: a port nothing listens on. Kept: LlmUnreachable within a second, no retry."""
    scorer = make_scorer(closed_port_url())
    started = time.monotonic()
    with pytest.raises(LlmUnreachable, match="not reachable"):
        scorer.score(BTC_SURGES)
    assert time.monotonic() - started < 1.0
    assert scorer.requests == 1


def test_an_answer_slower_than_the_timeout_is_too_slow_and_not_retried_past_budget(
    server: OllamaServer,
) -> None:
    """Tried: the server sleeps 2 s; timeout 1 s, budget 0.5 s, retries 2. Kept:
    LlmTooSlow after one request (a retry would be over budget anyway)."""
    server.behaviour, server.slow_s = "slow", 2.0
    outcome = make_scorer(server.url, timeout_s=1.0, budget_s=0.5).score_one(BTC_SURGES)
    assert isinstance(outcome.error, LlmTooSlow)
    assert outcome.attempts == 1
    assert outcome.seconds < 1.9


def test_a_timeout_within_budget_is_retried(server: OllamaServer) -> None:
    """Tried: the first answer times out (0.5 s timeout), budget 4 s. Kept: the second
    answer, two attempts, not flagged slow."""
    server.script, server.slow_s = ["slow"], 2.0
    outcome = make_scorer(server.url, timeout_s=0.5, budget_s=4.0).score_one(BTC_SURGES)
    assert outcome.error is None
    assert outcome.attempts == 2
    assert not outcome.slow


def test_a_late_answer_within_the_timeout_is_kept_but_flagged_slow(
    server: OllamaServer,
) -> None:
    """Tried: a 1 s answer against a 0.5 s budget and a 5 s timeout. Kept: the scores,
    with slow=True so the policy can fall back."""
    server.behaviour, server.slow_s = "slow", 1.0
    outcome = make_scorer(server.url, timeout_s=5.0, budget_s=0.5).score_one(BTC_SURGES)
    assert outcome.error is None and outcome.slow
    assert len(outcome.scores) == 3


def test_no_more_requests_are_in_flight_than_the_concurrency_limit(
    server: OllamaServer,
) -> None:
    """Tried: six articles, each answer held 0.3 s, concurrency 2, plus an extra thread
    calling score() at the same time. Kept: never more than 2 at the server, and at
    least 2 (the limit is used)."""
    server.hold_s = 0.3
    scorer = make_scorer(server.url, concurrency=2, timeout_s=5.0, budget_s=4.0)
    articles = [ArticleText(i, f"Solana rallies {i}", "", ("SOL",)) for i in range(6)]
    extra = threading.Thread(target=scorer.score, args=(articles[0],))
    extra.start()
    outcomes = scorer.score_many(articles)
    extra.join()
    assert all(o is not None and o.error is None for o in outcomes)
    assert server.max_in_flight == 2


def test_score_many_stops_after_the_first_failure(server: OllamaServer) -> None:
    """Tried: three articles, the first answer a 500, no retries. Kept: one request; the
    other two come back None for the caller to score otherwise."""
    server.script = ["error500"]
    outcomes = make_scorer(server.url, retries=0).score_many(
        [BTC_SURGES, ArticleText(2, "Ethereum hack", "", ("ETH",)), BTC_SURGES]
    )
    assert outcomes[0] is not None and isinstance(outcomes[0].error, LlmServerError)
    assert outcomes[1:] == [None, None]
    assert len(server.scoring_requests()) == 1


def test_a_server_that_rejects_the_think_flag_is_asked_again_without_it(
    server: OllamaServer,
) -> None:
    """Tried: a model that "does not support thinking" (HTTP 400 on think). Kept: the
    score, not counted as a retry, and later requests go without the flag."""
    server.thinking = False
    scorer = make_scorer(server.url, retries=0)
    assert scorer.score(BTC_SURGES)[0].label == "positive"
    scorer.score(BTC_SURGES)
    bodies = server.scoring_requests()
    assert [("think" in b) for b in bodies] == [True, False, False]


def test_the_fake_server_streams_ndjson_like_ollama(server: OllamaServer) -> None:
    """Tried: the official client streaming /api/chat and /api/generate, and /api/tags.
    Kept: chunks that join into the JSON answer, a final done chunk, the model list."""
    client = ollama.Client(host=server.url, timeout=5)
    chunks = list(client.chat(
        model="test-model", messages=[{"role": "user", "content": "Headline: ETH crashes"}],
        format="json", stream=True,
    ))
    assert chunks[-1].done and not chunks[0].done
    assert '"label": "negative"' in "".join(c.message.content or "" for c in chunks)
    text = "".join(c.response or "" for c in client.generate(
        model="test-model", prompt="Headline: XRP rallies", stream=True))
    assert text == "I would call this positive."
    assert [m.model for m in client.list().models] == ["test-model"]
