"""Hourly sentiment roll-up: scored news → one ``news_sentiment_hourly`` row per hour.

For every symbol (``*`` is market-wide) and every *closed* hour with at least one
scored article and no row yet, :func:`roll_up` writes one row. A row is never
rewritten: the table is append-only and syncs to the hub, and a model trained on the
hub must see what the agent saw. So:

- an article belongs to the hour of its ``fetched_ns`` (when the agent knew it), not
  of ``published_ns``: a story published at 11:50 and harvested at 12:10 informs
  12:00's row, never 11:00's;
- per (article, symbol) the LLM's score is used when one existed at roll-up time,
  else the built-in scorer's; scores stamped after "now" do not exist yet;
- a score that arrives after its hour was rolled up (the LLM rescoring later) stays
  in ``news_scores`` for a future dataset but does not change the written row.

The regime of an hour looks back on the symbol's rows of the last ``regime_hours``
hours (this one included): their article-weighted ``weighted`` score is
``regime_score``, and :func:`regime_of` names it.

Idempotent and restart-safe: hours that already have a row are skipped, the writer
inserts with ``INSERT OR IGNORE``, and rows lost in a crash before the writer
committed are simply computed again by the next run.
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.store.db import connect
from edge.store.writer import StoreWriter
from shared.clock import Clock
from shared.config.news import NewsConfig
from shared.features.sentiment import (
    COLUMNS,
    HOUR_NS,
    HourlySentiment,
    article_weighted,
)

BULLISH_THRESHOLD = 0.15
"""``regime_score`` at or above this is bullish. The built-in and LLM scores spread
over -1 … 1 but most headlines land within ±0.3: 0.15 is a clear lean, not noise."""

BEARISH_THRESHOLD = -0.15
"""``regime_score`` at or below this is bearish (symmetric with bullish)."""

REGIME_MIN_ARTICLES = 3
"""Fewer articles than this in the regime window is "quiet": one or two headlines
are anecdotes, not a mood."""

BACKFILL_HOURS = 7 * 24
"""How far back a regular run looks for hours still missing a row (an agent that
was down or whose LLM lagged). ``since_ns=0`` looks at everything."""

_WRITER_FLUSH_S = 30.0


@dataclass(frozen=True, slots=True)
class RollupReport:
    """What one :func:`roll_up` run wrote."""

    rows: int
    """Rows written (one per symbol and hour)."""
    hours: int
    """Distinct hours among them."""
    symbols: tuple[str, ...]
    """Symbols that got a row, sorted (``*`` is market-wide)."""
    latest_hour_ns: int | None
    """Start of the newest hour written, if any."""
    computed_ns: int
    """The run's "now": only hours closed by then and scores stamped by then count."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "hours": self.hours,
            "symbols": list(self.symbols),
            "latest_hour_ns": self.latest_hour_ns,
            "computed_ns": self.computed_ns,
        }


@dataclass(frozen=True, slots=True)
class _Score:
    """The score chosen for one (article, symbol)."""

    scorer: str
    score: float
    label: str
    confidence: float
    relevance: float


def regime_of(regime_score: float, articles: int) -> str:
    """``bullish``, ``bearish`` or ``neutral`` by the thresholds above; ``quiet`` when
    fewer than :data:`REGIME_MIN_ARTICLES` articles stand behind the score."""
    if articles < REGIME_MIN_ARTICLES:
        return "quiet"
    if regime_score >= BULLISH_THRESHOLD:
        return "bullish"
    if regime_score <= BEARISH_THRESHOLD:
        return "bearish"
    return "neutral"


def hour_stats(scores: list[_Score]) -> tuple[int, float, float, float, float, float]:
    """(articles, mean, weighted, dispersion, negative_share, llm_share) of one hour.

    ``weighted`` weighs each score by confidence × relevance; when every weight is
    0 nothing confident was said and it is 0 (neutral), not the plain mean.
    ``dispersion`` is the population standard deviation (0 for one article).
    """
    n = len(scores)
    values = [s.score for s in scores]
    mean = math.fsum(values) / n
    weights = [s.confidence * s.relevance for s in scores]
    total_weight = math.fsum(weights)
    weighted = (
        math.fsum(w * v for w, v in zip(weights, values, strict=True)) / total_weight
        if total_weight > 0
        else 0.0
    )
    dispersion = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)
    negative = sum(s.label == "negative" for s in scores) / n
    llm = sum(s.scorer == "llm" for s in scores) / n
    return n, mean, weighted, dispersion, negative, llm


def _chosen_scores(
    conn: sqlite3.Connection, since_ns: int, cutoff_ns: int, now_ns: int
) -> dict[tuple[str, int], list[_Score]]:
    """(symbol, hour) → the chosen score of each article, in article id order."""
    # Rows come newest-stamped last per (article, symbol, scorer): the last one seen
    # wins, so a rescore by a newer model or prompt replaces an older one.
    cursor = conn.execute(
        "SELECT s.article_id, s.symbol, a.fetched_ns, s.scorer, s.score, s.label, "
        "s.confidence, s.relevance FROM news_scores s "
        "JOIN news_articles a ON a.id = s.article_id "
        "WHERE a.fetched_ns >= ? AND a.fetched_ns < ? AND s.scored_ns <= ? "
        "ORDER BY s.article_id, s.symbol, s.scored_ns, s.id",
        (since_ns, cutoff_ns, now_ns),
    )
    chosen: dict[tuple[int, str], tuple[int, _Score]] = {}
    for article_id, symbol, fetched_ns, scorer, score, label, confidence, relevance in cursor:
        key = (article_id, symbol)
        seen = chosen.get(key)
        if seen is not None and seen[1].scorer == "llm" and scorer != "llm":
            continue
        hour = fetched_ns // HOUR_NS * HOUR_NS
        chosen[key] = (hour, _Score(scorer, score, label, confidence, relevance))
    grouped: dict[tuple[str, int], list[_Score]] = defaultdict(list)
    for (_, symbol), (hour, score) in sorted(chosen.items()):
        grouped[(symbol, hour)].append(score)
    return grouped


def _existing_rows(conn: sqlite3.Connection, since_ns: int) -> dict[str, list[HourlySentiment]]:
    """Rows already stored from ``since_ns`` on, per symbol, oldest hour first."""
    rows: dict[str, list[HourlySentiment]] = defaultdict(list)
    cursor = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM news_sentiment_hourly "
        "WHERE hour_start_ns >= ? ORDER BY hour_start_ns",
        (since_ns,),
    )
    for row in cursor:
        item = HourlySentiment.from_row(row)
        rows[item.symbol].append(item)
    return rows


def roll_up(
    db_path: Path,
    writer: StoreWriter,
    clock: Clock,
    config: NewsConfig,
    *,
    since_ns: int | None = None,
) -> RollupReport:
    """Write the missing hourly rows for every closed hour; flush; report.

    ``since_ns`` bounds how far back missing hours are looked for (default
    :data:`BACKFILL_HOURS` before now; 0 for all of history).
    """
    now = clock.time_ns()
    # Hours starting before the cutoff have closed (hour_start + 1 h <= now).
    cutoff = now // HOUR_NS * HOUR_NS
    since = max(0, cutoff - BACKFILL_HOURS * HOUR_NS) if since_ns is None else since_ns
    since = since // HOUR_NS * HOUR_NS
    regime_span = config.regime_hours * HOUR_NS
    conn = connect(db_path, readonly=True)
    try:
        grouped = _chosen_scores(conn, since, cutoff, now)
        existing = _existing_rows(conn, since - regime_span)
    finally:
        conn.close()

    written: list[HourlySentiment] = []
    # Oldest hour first, so an hour's regime already sees the rows written before it
    # in this same run.
    stored = {(row.symbol, row.hour_start_ns) for rows in existing.values() for row in rows}
    for symbol, hour in sorted(grouped, key=lambda key: (key[1], key[0])):
        if (symbol, hour) in stored:
            continue
        history = existing[symbol]
        articles, mean, weighted, dispersion, negative, llm = hour_stats(grouped[(symbol, hour)])
        window = [
            (row.articles, row.weighted)
            for row in history
            if hour - regime_span < row.hour_start_ns < hour
        ]
        regime_articles, regime_score = article_weighted([*window, (articles, weighted)])
        row = HourlySentiment(
            symbol=symbol,
            hour_start_ns=hour,
            articles=articles,
            mean=mean,
            weighted=weighted,
            dispersion=dispersion,
            negative_share=negative,
            llm_share=llm,
            regime=regime_of(regime_score, regime_articles),
            regime_score=regime_score,
            computed_ns=now,
        )
        history.append(row)
        written.append(row)
        writer.put("news_sentiment_hourly", row.as_row())
    if written:
        writer.flush(_WRITER_FLUSH_S)
    return RollupReport(
        rows=len(written),
        hours=len({row.hour_start_ns for row in written}),
        symbols=tuple(sorted({row.symbol for row in written})),
        latest_hour_ns=max((row.hour_start_ns for row in written), default=None),
        computed_ns=now,
    )
