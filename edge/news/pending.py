"""Scoring the stored articles that have no score yet, and rescoring with the LLM.

Both read ``news_articles`` on their own read-only connection, score with a
:class:`~edge.news.scoring.NewsScorer` and hand the rows to the agent's one
:class:`~edge.store.writer.StoreWriter`. An article's rows go in as one group,
so a crash leaves all of an article's scores or none; an article whose rows
did not land is simply selected again next time, and one whose rows did land
is not. A second copy can never be counted either: ``news_scores`` is unique
on (article, symbol, scorer, model, prompt hash) and written with
``INSERT OR IGNORE``.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.news.scoring import NewsScorer, Scored, ScoringStats
from edge.news.types import ArticleText
from edge.store.db import connect
from edge.store.writer import StoreWriter
from shared.clock import Clock

_UNSCORED = """
    SELECT a.id, a.title, a.summary, a.symbols FROM news_articles AS a
    WHERE NOT EXISTS (SELECT 1 FROM news_scores AS s WHERE s.article_id = a.id)
    ORDER BY a.id LIMIT ?
"""

# Newest first: recent news is what the live features read, and a long outage
# may leave more built-in-only articles than a few runs can rescore.
_BUILTIN_ONLY = """
    SELECT a.id, a.title, a.summary, a.symbols FROM news_articles AS a
    WHERE EXISTS (SELECT 1 FROM news_scores AS s
                  WHERE s.article_id = a.id AND s.scorer = 'builtin')
      AND NOT EXISTS (SELECT 1 FROM news_scores AS s
                      WHERE s.article_id = a.id AND s.scorer = 'llm')
    ORDER BY a.id DESC LIMIT ?
"""


@dataclass
class PendingReport:
    """What one :func:`score_pending` or :func:`rescore_with_llm` run did."""

    selected: int = 0
    """Articles read from the store."""
    scored_llm: int = 0
    scored_builtin: int = 0
    pending: int = 0
    """Selected but left unscored (``scorer: llm`` while the LLM is down, or failed rescores)."""
    rows: int = 0
    """Score rows handed to the writer (duplicates are ignored on insert)."""
    skipped: str | None = None
    """Why nothing was attempted, when nothing was."""
    seconds: float = 0.0
    stats: ScoringStats = field(default_factory=ScoringStats)

    def as_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "scored_llm": self.scored_llm,
            "scored_builtin": self.scored_builtin,
            "pending": self.pending,
            "rows": self.rows,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "scoring": self.stats.as_dict(),
        }


def _articles(db_path: Path, sql: str, limit: int | None) -> list[ArticleText]:
    conn = connect(db_path, readonly=True)
    try:
        rows = conn.execute(sql, (-1 if limit is None else limit,)).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()
    return [
        ArticleText(
            article_id=row[0], title=row[1], summary=row[2],
            symbols=tuple(s for s in row[3].split(",") if s),
        )
        for row in rows
    ]


def _write(writer: StoreWriter, scored: Scored, clock: Clock, report: PendingReport) -> None:
    now = clock.time_ns()
    groups: dict[int, list[tuple[str, tuple[Any, ...]]]] = {}
    for article_id, s in scored:
        groups.setdefault(article_id, []).append((
            "news_scores",
            (article_id, s.symbol, s.scorer, s.model, s.prompt_hash, s.score, s.label,
             s.confidence, s.relevance, now),
        ))
    for rows in groups.values():
        # put_many, not put: a group is never dropped under back-pressure and never
        # split across two commits, so an article is either fully scored or pending.
        writer.put_many(rows)
        report.rows += len(rows)
        if rows[0][1][2] == "llm":
            report.scored_llm += 1
        else:
            report.scored_builtin += 1
    writer.flush()


def score_pending(
    db_path: Path, writer: StoreWriter, scorer: NewsScorer, clock: Clock,
    *, limit: int | None = None,
) -> PendingReport:
    """Score the stored articles that have no score from any scorer, oldest first.

    ``limit`` caps the articles read (``None``: all of them). Returns once the
    rows are committed.
    """
    started = time.monotonic()
    report = PendingReport()
    articles = _articles(db_path, _UNSCORED, limit)
    report.selected = len(articles)
    if articles:
        _write(writer, scorer.score(articles), clock, report)
        report.stats = scorer.stats
        report.pending = len(scorer.stats.pending)
    else:
        report.skipped = "no unscored articles"
    report.seconds = time.monotonic() - started
    return report


def rescore_with_llm(
    db_path: Path, writer: StoreWriter, scorer: NewsScorer, clock: Clock,
    *, limit: int | None = None,
) -> PendingReport:
    """Add LLM scores to articles that so far have only built-in ones, newest first.

    Only when the LLM is due (configured and not resting after a failure); at
    most ``limit`` articles, by default ``news.ollama.rescore_batch``. The
    built-in rows stay. A failure puts the LLM back to rest, as in scoring.
    """
    started = time.monotonic()
    report = PendingReport()
    batch = scorer.config.ollama.rescore_batch if limit is None else limit
    if scorer.mode == "builtin" or batch <= 0:
        report.skipped = "rescoring is off (news.scorer: builtin or ollama.rescore_batch: 0)"
    elif not scorer.llm_due():
        report.skipped = (
            "the LLM is disabled" if scorer.llm is None
            else f"the LLM is resting after: {scorer.last_error}"
        )
    else:
        articles = _articles(db_path, _BUILTIN_ONLY, batch)
        report.selected = len(articles)
        if articles:
            _write(writer, scorer.rescore(articles), clock, report)
            report.stats = scorer.stats
            report.pending = len(scorer.stats.pending)
        else:
            report.skipped = "no built-in-only articles"
    report.seconds = time.monotonic() - started
    return report
