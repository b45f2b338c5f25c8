"""Which scorer scores an article: the LLM, the built-in scorer, or nobody yet.

``news.scorer`` picks the policy:

- ``builtin``: the built-in scorer only; the LLM is never asked.
- ``llm``: the LLM only. Articles it cannot score now are left unscored
  (pending) and tried again on a later run.
- ``auto``: the LLM; once it is unreachable, too slow or failing, the built-in
  scorer for the rest of the run and until ``ollama.recheck_s`` has passed on
  the injected clock, then the LLM again. Its built-in-scored articles can be
  rescored by the LLM later (:func:`edge.news.pending.rescore_with_llm`); the
  built-in rows stay, each row names its scorer.

Built-in scores are one MARKET row plus one row per tagged symbol with the
same verdict and relevance 1.0 (the scorer cannot tell which coin a headline
favours); their ``model`` is the scorer's version and their ``prompt_hash`` the
sha256 of ``"builtin:" + version``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.news.builtin import BuiltinScorer
from edge.news.llm import LlmError, LlmScorer, LlmTooSlow
from edge.news.types import MARKET, ArticleText, SentimentScore
from shared.clock import Clock
from shared.config.news import NewsConfig

log = logging.getLogger(__name__)

_warned: set[str] = set()
"""The LLM failure reasons already logged as warnings in this process. A down LLM is
tried again every ``recheck_s`` and every cycle makes a fresh scorer where none is
kept, so without this the same "unreachable" warning would come once a cycle; later
ones are logged at INFO until the LLM scores again."""

Scored = list[tuple[int, SentimentScore]]
"""``(article_id, score)`` pairs, several per article."""


def builtin_prompt_hash(version: str) -> str:
    """The ``prompt_hash`` stored with the built-in scorer's rows."""
    return hashlib.sha256(f"builtin:{version}".encode()).hexdigest()


@dataclass
class ScoringStats:
    """What one :meth:`NewsScorer.score` (or ``rescore``) call did."""

    llm_ok: int = 0
    """Articles the LLM scored (slow answers included)."""
    llm_slow: int = 0
    """Of those, answered after ``budget_s``."""
    llm_failed: Counter[str] = field(default_factory=Counter)
    """Articles the LLM failed on, by reason (unreachable, model_missing, ...)."""
    builtin_used: int = 0
    pending: list[int] = field(default_factory=list)
    """Article ids left unscored (``scorer: llm`` while the LLM is down)."""
    fallback: str | None = None
    """Why the LLM was not (or no longer) used, when it was not."""
    llm_seconds: float = 0.0
    builtin_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "llm_ok": self.llm_ok,
            "llm_slow": self.llm_slow,
            "llm_failed": dict(self.llm_failed),
            "builtin_used": self.builtin_used,
            "pending": len(self.pending),
            "fallback": self.fallback,
            "llm_seconds": round(self.llm_seconds, 3),
            "builtin_seconds": round(self.builtin_seconds, 3),
        }


class NewsScorer:
    """Scores articles by the ``news.scorer`` policy (see the module docstring).

    ``builtin`` and ``llm`` default to a :class:`BuiltinScorer` and, unless the
    policy is ``builtin`` or ``ollama.enabled`` is false, an :class:`LlmScorer`.
    Not meant for concurrent calls: one harvest job owns it.
    """

    def __init__(
        self,
        config: NewsConfig,
        clock: Clock,
        *,
        builtin: BuiltinScorer | None = None,
        llm: LlmScorer | None = None,
    ) -> None:
        self.config = config
        self.mode = config.scorer
        self.clock = clock
        self.builtin = builtin or BuiltinScorer()
        self.builtin_hash = builtin_prompt_hash(self.builtin.version)
        if llm is None and config.ollama.enabled and self.mode != "builtin":
            llm = LlmScorer(config.ollama)
        self.llm = llm if self.mode != "builtin" else None
        self.last_error: LlmError | None = None
        """The failure that took the LLM out of use, until it scores again."""
        self._down_until_ns: int | None = None
        self.stats = ScoringStats()

    def llm_due(self) -> bool:
        """Whether the next call would ask the LLM (configured, and not in a recheck wait)."""
        if self.llm is None:
            return False
        return self._down_until_ns is None or self.clock.time_ns() >= self._down_until_ns

    def score(self, articles: Sequence[ArticleText]) -> Scored:
        """Score ``articles`` by the policy; those left out are in ``stats.pending``."""
        self.stats = stats = ScoringStats()
        if self.mode == "builtin":
            return self._builtin(articles, stats)
        scored, done = self._llm(articles, stats)
        rest = [a for a in articles if a.article_id not in done]
        if self.mode == "auto":
            scored.extend(self._builtin(rest, stats))
        else:
            stats.pending = [a.article_id for a in rest]
        return scored

    def rescore(self, articles: Sequence[ArticleText]) -> Scored:
        """LLM scores for ``articles`` (no fallback); failures trip the recheck wait."""
        self.stats = stats = ScoringStats()
        scored, done = self._llm(articles, stats)
        stats.pending = [a.article_id for a in articles if a.article_id not in done]
        return scored

    def close(self) -> None:
        """Release the LLM client's connections."""
        if self.llm is not None:
            self.llm.close()

    def _llm(self, articles: Sequence[ArticleText], stats: ScoringStats) -> tuple[Scored, set[int]]:
        scored: Scored = []
        done: set[int] = set()
        if not articles:
            return scored, done
        if self.llm is None:
            stats.fallback = "the LLM is disabled (news.ollama.enabled: false)"
            return scored, done
        if not self.llm_due():
            stats.fallback = f"the LLM is resting after: {self.last_error}"
            return scored, done
        # Wall time, not the injected clock: this measures the LLM, it decides nothing
        # that a replay would have to reproduce.
        started = time.monotonic()
        tripped = False
        try:
            self.llm.warm_up()
        except LlmError as exc:
            stats.llm_failed[exc.reason] += 1
            self._trip(exc, stats)
            stats.llm_seconds = time.monotonic() - started
            return scored, done
        for article, outcome in zip(articles, self.llm.score_many(articles), strict=True):
            if outcome is None:
                continue
            if outcome.error is not None:
                stats.llm_failed[outcome.error.reason] += 1
                self._trip(outcome.error, stats)
                tripped = True
                continue
            scored.extend((article.article_id, score) for score in outcome.scores)
            done.add(article.article_id)
            stats.llm_ok += 1
            if outcome.slow:
                stats.llm_slow += 1
                budget = self.config.ollama.budget_s
                self._trip(LlmTooSlow(f"an answer took {outcome.seconds:.1f}s "
                                      f"(budget {budget:g}s)"), stats)
                tripped = True
        if not tripped and stats.llm_ok:
            if self._down_until_ns is not None or _warned:
                log.info("news: the LLM (%s) scores again", self.llm.model)
            _warned.clear()
            self._down_until_ns = None
            self.last_error = None
        stats.llm_seconds = time.monotonic() - started
        return scored, done

    def _trip(self, error: LlmError, stats: ScoringStats) -> None:
        if stats.fallback is None:
            then = "the built-in scorer" if self.mode == "auto" else "articles wait unscored"
            recheck = self.config.ollama.recheck_s
            level = logging.INFO if error.reason in _warned else logging.WARNING
            _warned.add(error.reason)
            log.log(level, "news: LLM %s: %s; %s for %gs", error.reason, error, then, recheck)
            stats.fallback = f"LLM {error.reason}: {error}"
        self.last_error = error
        self._down_until_ns = self.clock.time_ns() + int(self.config.ollama.recheck_s * 1e9)

    def _builtin(self, articles: Sequence[ArticleText], stats: ScoringStats) -> Scored:
        started = time.monotonic()
        scored: Scored = []
        version = self.builtin.version
        for article in articles:
            # The title alone: the scorer was tuned on headlines, and feed summaries
            # are often boilerplate ("The post ... appeared first on ...").
            verdict = self.builtin.score(article.title, article.symbols)
            for symbol in (MARKET, *dict.fromkeys(article.symbols)):
                scored.append((article.article_id, SentimentScore(
                    symbol=symbol, scorer="builtin", model=version,
                    prompt_hash=self.builtin_hash, score=verdict.score, label=verdict.label,
                    confidence=verdict.confidence, relevance=1.0,
                )))
        stats.builtin_used += len(articles)
        stats.builtin_seconds += time.monotonic() - started
        return scored
