"""The scoring policy (LLM, built-in, fallback, recheck) and the stored scores.

Real parts throughout: the loopback Ollama server, the real built-in scorer, a
real SQLite file written by the real StoreWriter, a real crash (os._exit in a
child process). Time for the recheck is a ManualClock.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.news.builtin import BuiltinScorer
from edge.news.llm import LlmScorer
from edge.news.pending import rescore_with_llm, score_pending
from edge.news.prompt import prompt_hash
from edge.news.scoring import NewsScorer
from edge.news.types import MARKET, ArticleText
from edge.store.db import connect
from edge.store.writer import StoreWriter
from shared.clock import ManualClock
from shared.config.news import NewsConfig, OllamaConfig
from shared.config.store import StoreConfig
from tests.edge.news.ollama_server import OllamaServer, closed_port_url, running

REPO = Path(__file__).resolve().parents[3]
SECOND = 1_000_000_000
ARTICLES = [
    ArticleText(1, "Bitcoin surges to a record high", "", ("BTC",)),
    ArticleText(2, "Exchange hacked, ether plunges", "", ("ETH",)),
    ArticleText(3, "Solana rallies as ETF filing lands", "", ("SOL", "ETH")),
]


@pytest.fixture()
def server() -> Iterator[OllamaServer]:
    with running() as srv:
        yield srv


def news_config(host: str, scorer: str = "auto", **ollama: Any) -> NewsConfig:
    settings: dict[str, Any] = {
        "host": host, "model": "test-model", "timeout_s": 3.0, "budget_s": 2.0,
        "retries": 0, "concurrency": 1, "recheck_s": 60.0, "rescore_batch": 10,
    }
    settings.update(ollama)
    return NewsConfig(scorer=scorer, ollama=OllamaConfig(**settings))  # type: ignore[arg-type]


def make(config: NewsConfig, clock: ManualClock | None = None) -> NewsScorer:
    return NewsScorer(
        config, clock or ManualClock(SECOND),
        llm=LlmScorer(config.ollama, backoff_s=0.01) if config.scorer != "builtin" else None,
    )


def scorers_by_article(scored: list[tuple[int, Any]]) -> dict[int, set[str]]:
    result: dict[int, set[str]] = {}
    for article_id, score in scored:
        result.setdefault(article_id, set()).add(score.scorer)
    return result


def test_builtin_policy_never_asks_the_llm(server: OllamaServer) -> None:
    """Tried: scorer=builtin with a healthy server. Kept: no request at all; a MARKET row
    plus one per tagged symbol, relevance 1, model = version, hash of "builtin:"+version."""
    scorer = make(news_config(server.url, "builtin"))
    scored = scorer.score(ARTICLES)

    assert server.requests == []
    assert [(i, s.symbol) for i, s in scored] == [
        (1, MARKET), (1, "BTC"), (2, MARKET), (2, "ETH"), (3, MARKET), (3, "SOL"), (3, "ETH"),
    ]
    version = BuiltinScorer.version
    expected_hash = hashlib.sha256(f"builtin:{version}".encode()).hexdigest()
    assert {(s.scorer, s.model, s.prompt_hash, s.relevance) for _, s in scored} == {
        ("builtin", version, expected_hash, 1.0)
    }
    assert scored[0][1].label == "positive" and scored[2][1].label == "negative"
    assert scorer.stats.builtin_used == 3


def test_auto_uses_the_llm_when_it_answers(server: OllamaServer) -> None:
    """Tried: scorer=auto, healthy server. Kept: LLM rows only, stats count three ok."""
    scorer = make(news_config(server.url))
    scored = scorer.score(ARTICLES)
    assert scorers_by_article(scored) == {1: {"llm"}, 2: {"llm"}, 3: {"llm"}}
    assert scorer.stats.llm_ok == 3 and scorer.stats.builtin_used == 0
    assert scorer.stats.fallback is None


def test_auto_falls_back_when_the_llm_is_unreachable() -> None:
    """Tried: scorer=auto against a closed port. Kept: built-in rows for everything, the
    reason in stats, one failed attempt (the warm-up), not one per article."""
    scorer = make(news_config(closed_port_url()))
    scored = scorer.score(ARTICLES)
    assert scorers_by_article(scored) == {1: {"builtin"}, 2: {"builtin"}, 3: {"builtin"}}
    assert scorer.stats.llm_failed == {"unreachable": 1}
    assert scorer.stats.fallback is not None and "not reachable" in scorer.stats.fallback
    assert scorer.llm is not None and scorer.llm.requests == 1


def test_auto_falls_back_when_the_model_is_missing_and_says_to_pull_it(
    server: OllamaServer,
) -> None:
    """Tried: a model the server lacks. Kept: built-in rows and the `ollama pull` hint."""
    scorer = make(news_config(server.url, model="gemma3:1b"))
    scored = scorer.score(ARTICLES)
    assert scorers_by_article(scored)[1] == {"builtin"}
    assert "run `ollama pull gemma3:1b`" in (scorer.stats.fallback or "")


def test_a_too_slow_answer_switches_the_rest_of_the_run_to_builtin(
    server: OllamaServer,
) -> None:
    """Tried: article 1 answered at once, article 2 after 2 s (timeout 1 s, budget 0.5 s).
    Kept: 1 by the LLM, 2 and 3 by the built-in scorer, article 3 never sent."""
    server.script, server.slow_s = ["normal", "slow"], 2.0
    scorer = make(news_config(server.url, timeout_s=1.0, budget_s=0.5))
    scored = scorer.score(ARTICLES)
    assert scorers_by_article(scored) == {1: {"llm"}, 2: {"builtin"}, 3: {"builtin"}}
    assert scorer.stats.llm_failed == {"too_slow": 1}
    assert len(server.scoring_requests()) == 2


def test_a_late_answer_is_kept_but_the_rest_go_to_builtin(server: OllamaServer) -> None:
    """Tried: the first answer takes 1 s against a 0.5 s budget (timeout 5 s). Kept: its
    LLM scores, then the built-in scorer for the others; stats say one slow answer."""
    server.script, server.slow_s = ["slow"], 1.0
    scorer = make(news_config(server.url, timeout_s=5.0, budget_s=0.5))
    scored = scorer.score(ARTICLES)
    assert scorers_by_article(scored) == {1: {"llm"}, 2: {"builtin"}, 3: {"builtin"}}
    assert scorer.stats.llm_slow == 1 and "too_slow" in (scorer.stats.fallback or "")


def test_the_llm_is_tried_again_only_after_recheck_s(server: OllamaServer) -> None:
    """Tried: a failing server (500), then a healthy one before and after recheck_s on a
    ManualClock. Kept: built-in while resting with no request sent; the LLM again once
    60 s have passed, and the error cleared."""
    clock = ManualClock(100 * SECOND)
    scorer = make(news_config(server.url, recheck_s=60.0), clock)
    server.behaviour = "error500"
    assert scorers_by_article(scorer.score(ARTICLES[:1])) == {1: {"builtin"}}
    server.behaviour = "normal"
    sent = len(server.requests)

    clock.advance_ns(59 * SECOND)
    assert scorers_by_article(scorer.score(ARTICLES[1:2])) == {2: {"builtin"}}
    assert len(server.requests) == sent and not scorer.llm_due()

    clock.advance_ns(1 * SECOND)
    assert scorers_by_article(scorer.score(ARTICLES[2:])) == {3: {"llm"}}
    assert scorer.last_error is None and scorer.llm_due()


def test_llm_policy_leaves_articles_pending_when_the_llm_is_down() -> None:
    """Tried: scorer=llm against a closed port. Kept: nothing scored, all three pending."""
    scorer = make(news_config(closed_port_url(), "llm"))
    assert scorer.score(ARTICLES) == []
    assert scorer.stats.pending == [1, 2, 3]


# --- stored scores ------------------------------------------------------------------


def store_articles(path: Path, count: int = 3) -> None:
    with StoreWriter(path, StoreConfig()) as writer:
        for i in range(count):
            article = ARTICLES[i % len(ARTICLES)]
            writer.put("news_articles", (
                f"https://example.test/{i}", f"{article.title} #{i}", f"key{i}", "summary",
                "test", ",".join(article.symbols), None, SECOND,
            ))


def stored(path: Path) -> list[tuple[Any, ...]]:
    conn = connect(path, readonly=True)
    try:
        return conn.execute(
            "SELECT article_id, symbol, scorer, model, prompt_hash, scored_ns FROM news_scores "
            "ORDER BY article_id, scorer, id"
        ).fetchall()
    finally:
        conn.close()


def test_score_pending_stores_rows_with_model_and_prompt_hash_once(
    tmp_path: Path, server: OllamaServer,
) -> None:
    """Tried: three stored articles scored by the LLM, then score_pending again. Kept:
    seven rows carrying the model, the prompt hash and the clock's time; the second run
    selects nothing."""
    path = tmp_path / "edge.db"
    store_articles(path)
    clock = ManualClock(42 * SECOND)
    scorer = make(news_config(server.url), clock)
    with StoreWriter(path, StoreConfig()) as writer:
        report = score_pending(path, writer, scorer, clock)
        again = score_pending(path, writer, scorer, clock)

    rows = stored(path)
    assert len(rows) == 7 and report.rows == 7 and report.scored_llm == 3
    assert {(r[2], r[3], r[4], r[5]) for r in rows} == {
        ("llm", "test-model", prompt_hash(), 42 * SECOND)
    }
    assert again.selected == 0 and again.skipped == "no unscored articles"


def test_rescore_adds_llm_rows_and_keeps_the_builtin_ones(
    tmp_path: Path, server: OllamaServer,
) -> None:
    """Tried: a harvest while the model is missing (built-in rows), a rescore while the
    LLM rests (skipped), then the model pulled and recheck_s passed. Kept: LLM rows added
    next to the untouched built-in rows; a second rescore finds nothing left."""
    path = tmp_path / "edge.db"
    store_articles(path)
    clock = ManualClock(SECOND)
    server.models = []
    scorer = make(news_config(server.url), clock)
    with StoreWriter(path, StoreConfig()) as writer:
        first = score_pending(path, writer, scorer, clock)
        resting = rescore_with_llm(path, writer, scorer, clock)
        server.models = ["test-model"]
        clock.advance_ns(61 * SECOND)
        rescored = rescore_with_llm(path, writer, scorer, clock)
        done = rescore_with_llm(path, writer, scorer, clock)

    assert first.scored_builtin == 3 and first.stats.llm_failed == {"model_missing": 1}
    assert resting.skipped is not None and "resting" in resting.skipped
    assert rescored.scored_llm == 3 and rescored.rows == 7
    assert done.skipped == "no built-in-only articles"
    rows = stored(path)
    assert sorted({(r[0], r[2]) for r in rows}) == [
        (1, "builtin"), (1, "llm"), (2, "builtin"), (2, "llm"), (3, "builtin"), (3, "llm"),
    ]
    builtin_times = {r[5] for r in rows if r[2] == "builtin"}
    assert builtin_times == {SECOND}


CRASH = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from edge.news.pending import score_pending
    from edge.news.scoring import NewsScorer
    from edge.store.writer import StoreWriter
    from shared.clock import ManualClock
    from shared.config.news import NewsConfig
    from shared.config.store import StoreConfig

    class CrashBeforeFlush(StoreWriter):
        # Commits articles 1-11, queues 12-20, dies before queuing 21 or flushing.
        groups = 0

        def put_many(self, rows, extra_bytes=0):
            self.groups += 1
            if self.groups == 21:
                os._exit(9)
            super().put_many(rows, extra_bytes)
            if self.groups == 11:
                super().flush()

        def flush(self, timeout=None):
            os._exit(9)

    path = Path(sys.argv[1])
    writer = CrashBeforeFlush(path, StoreConfig(commit_interval_s=600))
    clock = ManualClock(7)
    score_pending(path, writer, NewsScorer(NewsConfig(scorer="builtin"), clock), clock)
""")


@pytest.mark.slow
def test_a_crash_before_the_flush_never_double_counts_on_rerun(tmp_path: Path) -> None:
    """Tried: score 30 stored articles in a child process that commits articles 1-11,
    queues 12-20 and dies (os._exit) before its flush; then run again, twice. Kept:
    exactly 1-11 had landed; afterwards every article is scored exactly once (1 +
    symbols rows each), no duplicates, the rerun wrote only what was missing and the
    second rerun found nothing."""
    path = tmp_path / "edge.db"
    store_articles(path, 30)
    child = subprocess.run(
        [sys.executable, "-c", CRASH, str(path)], cwd=REPO, capture_output=True, timeout=60
    )
    assert child.returncode == 9, child.stderr.decode()
    landed = stored(path)
    assert {r[0] for r in landed} == set(range(1, 12))

    clock = ManualClock(8)
    with StoreWriter(path, StoreConfig()) as writer:
        rerun = score_pending(path, writer, NewsScorer(NewsConfig(scorer="builtin"), clock), clock)
        rerun_again = score_pending(
            path, writer, NewsScorer(NewsConfig(scorer="builtin"), clock), clock
        )

    rows = stored(path)
    per_article = {i: (1 + len(ARTICLES[(i - 1) % 3].symbols)) for i in range(1, 31)}
    assert len(rows) == sum(per_article.values())
    assert len(set((r[0], r[1], r[2]) for r in rows)) == len(rows)
    for article_id, count in per_article.items():
        assert sum(1 for r in rows if r[0] == article_id) == count
    assert rerun.rows == len(rows) - len(landed)
    assert rerun_again.selected == 0


LLM_DOWN_CYCLES = """
import logging, sys
from edge.news.scoring import NewsScorer
from edge.news.types import ArticleText
from shared.clock import ManualClock
from shared.config.news import NewsConfig, OllamaConfig

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
config = NewsConfig(scorer="auto", ollama=OllamaConfig(
    host=sys.argv[1], model="m", timeout_s=2.0, retries=0, recheck_s=60.0))
clock = ManualClock(1)
articles = [ArticleText(i, "Bitcoin surges", "", ("BTC",)) for i in range(1, 4)]
kept = NewsScorer(config, clock)
for cycle in range(3):
    kept.score(articles)  # the agent's scorer, kept: the LLM tried again after recheck_s
    NewsScorer(config, clock).score(articles)  # a fresh one per cycle (a news_cycle alone)
    clock.advance_ns(61 * 1_000_000_000)
"""


def test_an_unreachable_ollama_is_warned_about_once_per_process() -> None:
    """Tried: a process that scores three articles in three cycles, through a kept
    scorer (retried every recheck_s) and a fresh scorer each cycle, with nothing
    listening at the Ollama URL. Kept: one WARNING that the LLM is unreachable and the
    built-in scorer takes over; the five later fallbacks are INFO (was: a warning every
    cycle and every fresh scorer)."""
    child = subprocess.run(
        [sys.executable, "-c", LLM_DOWN_CYCLES, closed_port_url()],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )

    assert child.returncode == 0, child.stderr
    fallbacks = [line for line in child.stderr.splitlines() if "news: LLM unreachable" in line]
    assert [line.split()[0] for line in fallbacks] == ["WARNING"] + ["INFO"] * 5, child.stderr
    assert "the built-in scorer" in fallbacks[0]
