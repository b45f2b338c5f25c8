"""The hourly roll-up on a real SQLite file with hand-inserted articles and scores."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.news.rollup import (
    BEARISH_THRESHOLD,
    BULLISH_THRESHOLD,
    REGIME_MIN_ARTICLES,
    regime_of,
    roll_up,
)
from edge.store.db import open_store
from edge.store.writer import StoreWriter
from shared.clock import ManualClock
from shared.config.news import NewsConfig
from shared.config.store import StoreConfig
from shared.features.sentiment import HOUR_NS, HourlySentiment
from tests.conftest import REPO

S = 1_000_000_000
T0 = 1_700_000_000 // 3600 * 3600 * S
"""An hour boundary (ns): hour ``h`` of a test starts at ``T0 + h * HOUR_NS``."""


class NewsDb:
    """Inserts articles and scores the way the harvester and scorers store them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = open_store(path)
        self._n = 0

    def article(self, fetched_ns: int, published_ns: int | None = None) -> int:
        self._n += 1
        cursor = self.conn.execute(
            "INSERT INTO news_articles (url, title, title_key, summary, source, symbols, "
            "published_ns, fetched_ns) VALUES (?, ?, ?, '', 'test', '[\"BTC\"]', ?, ?)",
            (f"https://news.test/{self._n}", f"Title {self._n}", f"title {self._n}",
             published_ns, fetched_ns),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def score(
        self,
        article_id: int,
        score: float,
        *,
        symbol: str = "*",
        scorer: str = "builtin",
        label: str | None = None,
        confidence: float = 1.0,
        relevance: float = 1.0,
        scored_ns: int | None = None,
        model: str = "m1",
    ) -> None:
        if label is None:
            label = "negative" if score < 0 else "positive" if score > 0 else "neutral"
        if scored_ns is None:
            scored_ns = self.fetched(article_id) + 5 * S
        self.conn.execute(
            "INSERT INTO news_scores (article_id, symbol, scorer, model, prompt_hash, score, "
            "label, confidence, relevance, scored_ns) VALUES (?, ?, ?, ?, 'p', ?, ?, ?, ?, ?)",
            (article_id, symbol, scorer, model, score, label, confidence, relevance, scored_ns),
        )

    def fetched(self, article_id: int) -> int:
        return int(
            self.conn.execute(
                "SELECT fetched_ns FROM news_articles WHERE id = ?", (article_id,)
            ).fetchone()[0]
        )

    def hourly(self, symbol: str | None = None) -> list[HourlySentiment]:
        rows = self.conn.execute(
            "SELECT symbol, hour_start_ns, articles, mean, weighted, dispersion, "
            "negative_share, llm_share, regime, regime_score, computed_ns "
            "FROM news_sentiment_hourly ORDER BY hour_start_ns, symbol"
        ).fetchall()
        items = [HourlySentiment.from_row(r) for r in rows]
        return [i for i in items if symbol is None or i.symbol == symbol]


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[NewsDb]:
    news = NewsDb(tmp_path / "edge.db")
    yield news
    news.conn.close()


@pytest.fixture()
def writer(db: NewsDb) -> Iterator[StoreWriter]:
    with StoreWriter(db.path, StoreConfig(commit_interval_s=0.05)) as w:
        yield w


def at(hour: int, minute: int = 0, second: int = 0) -> int:
    return T0 + hour * HOUR_NS + (minute * 60 + second) * S


def test_only_closed_hours_are_rolled_up(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: articles at 0:10 and 1:20, rolled up at 1:30 and then at 2:00 sharp.
    Kept: at 1:30 only hour 0 has a row; hour 1 gets its row once it has closed."""
    db.score(db.article(at(0, 10)), 0.5)
    db.score(db.article(at(1, 20)), -0.5)
    clock = ManualClock(at(1, 30))

    first = roll_up(db.path, writer, clock, NewsConfig())
    clock.set_ns(at(2))
    second = roll_up(db.path, writer, clock, NewsConfig())

    assert (first.rows, first.latest_hour_ns) == (1, at(0))
    assert (second.rows, second.latest_hour_ns) == (1, at(1))
    rows = db.hourly()
    assert [(r.hour_start_ns, r.mean, r.computed_ns) for r in rows] == [
        (at(0), 0.5, at(1, 30)),
        (at(1), -0.5, at(2)),
    ]


def test_the_hour_is_when_the_agent_fetched_the_article(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: an article published at 0:50 but harvested at 1:05. Kept: it counts for
    hour 1 (no look-ahead), and hour 0 gets no row at all."""
    db.score(db.article(at(1, 5), published_ns=at(0, 50)), 0.3)

    roll_up(db.path, writer, ManualClock(at(2, 1)), NewsConfig())

    assert [r.hour_start_ns for r in db.hourly()] == [at(1)]


def test_the_llm_score_is_preferred_over_the_builtin_one(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: one article scored by both (LLM first, builtin later), one by the builtin
    only. Kept: the LLM's score for the first, whatever the order; llm_share 1/2."""
    both = db.article(at(0, 1))
    db.score(both, -0.6, scorer="llm", scored_ns=at(0, 2))
    db.score(both, 0.4, scorer="builtin", scored_ns=at(0, 3))
    db.score(db.article(at(0, 4)), 0.2)

    roll_up(db.path, writer, ManualClock(at(1, 1)), NewsConfig())

    (row,) = db.hourly()
    assert row.articles == 2
    assert row.mean == pytest.approx((-0.6 + 0.2) / 2)
    assert row.llm_share == 0.5


def test_a_newer_llm_score_replaces_an_older_one(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: two LLM scores of one article from different models. Kept: the later."""
    article = db.article(at(0, 1))
    db.score(article, 0.9, scorer="llm", model="old", scored_ns=at(0, 2))
    db.score(article, -0.1, scorer="llm", model="new", scored_ns=at(0, 9))

    roll_up(db.path, writer, ManualClock(at(1, 1)), NewsConfig())

    assert db.hourly()[0].mean == pytest.approx(-0.1)


def test_scores_stamped_after_now_do_not_exist_yet(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: an LLM score stamped after the roll-up's now, and an article whose only
    score is in the future. Kept: the builtin score is used for the first; the second
    article is not counted."""
    first = db.article(at(0, 1))
    db.score(first, 0.2, scored_ns=at(0, 2))
    db.score(first, -0.8, scorer="llm", scored_ns=at(1, 30))
    db.score(db.article(at(0, 5)), 0.7, scored_ns=at(1, 45))

    roll_up(db.path, writer, ManualClock(at(1, 10)), NewsConfig())

    (row,) = db.hourly()
    assert (row.articles, row.mean, row.llm_share) == (1, 0.2, 0.0)


def test_statistics_match_hand_computed_values(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: three scores with different confidence × relevance and labels. Kept:
    mean 1/6, weighted (0.8·1 − 0.4·0.5 + 0.1·0.25) / 1.75, population std dev,
    one negative label in three; BTC's own score is its own row."""
    a, b, c = (db.article(at(0, m)) for m in (1, 2, 3))
    db.score(a, 0.8, confidence=1.0, relevance=1.0)
    db.score(b, -0.4, confidence=1.0, relevance=0.5)
    db.score(c, 0.1, confidence=0.5, relevance=0.5, label="neutral")
    db.score(a, 0.3, symbol="BTC")

    roll_up(db.path, writer, ManualClock(at(1)), NewsConfig())

    market, = db.hourly("*")
    assert market.articles == 3
    assert market.mean == pytest.approx(0.5 / 3)
    assert market.weighted == pytest.approx(0.625 / 1.75)
    assert market.dispersion == pytest.approx(0.4921608, abs=1e-7)
    assert market.negative_share == pytest.approx(1 / 3)
    btc, = db.hourly("BTC")
    assert (btc.articles, btc.mean, btc.dispersion, btc.negative_share) == (1, 0.3, 0.0, 0.0)


def test_weighted_is_neutral_when_no_score_carries_weight(
    db: NewsDb, writer: StoreWriter
) -> None:
    """Tried: two scores with confidence 0. Kept: weighted 0 while the mean is not."""
    for minute, value in ((1, 0.5), (2, 0.7)):
        db.score(db.article(at(0, minute)), value, confidence=0.0)

    roll_up(db.path, writer, ManualClock(at(1)), NewsConfig())

    row = db.hourly()[0]
    assert (row.weighted, row.mean) == (0.0, pytest.approx(0.6))


@pytest.mark.parametrize(
    ("score", "articles", "regime"),
    [
        (BULLISH_THRESHOLD, REGIME_MIN_ARTICLES, "bullish"),
        (math.nextafter(BULLISH_THRESHOLD, 0), REGIME_MIN_ARTICLES, "neutral"),
        (BEARISH_THRESHOLD, REGIME_MIN_ARTICLES, "bearish"),
        (math.nextafter(BEARISH_THRESHOLD, 0), 50, "neutral"),
        (0.9, REGIME_MIN_ARTICLES - 1, "quiet"),
    ],
)
def test_regime_thresholds(score: float, articles: int, regime: str) -> None:
    """Tried: each threshold and the value just inside it. Kept: inclusive bounds;
    too few articles is quiet whatever the score."""
    assert regime_of(score, articles) == regime


def test_the_regime_looks_back_regime_hours(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: 2 articles at +0.5 in hour 0 and 2 at −0.1 in hour 1, rolled up in one
    run, with regime_hours 24 and 1. Kept: hour 0 is quiet (2 articles); hour 1 with
    24 h is (1.0 − 0.2)/4 = 0.2, bullish; with 1 h only itself (−0.1, 2 articles)."""
    for minute, value in ((1, 0.5), (2, 0.5), (61, -0.1), (62, -0.1)):
        db.score(db.article(at(0, minute)), value)

    roll_up(db.path, writer, ManualClock(at(2)), NewsConfig(regime_hours=24))

    first, second = db.hourly()
    assert (first.regime, first.regime_score) == ("quiet", pytest.approx(0.5))
    assert (second.regime, second.regime_score) == ("bullish", pytest.approx(0.2))

    other = NewsDb(db.path.with_name("other.db"))
    for minute, value in ((1, 0.5), (2, 0.5), (61, -0.1), (62, -0.1)):
        other.score(other.article(at(0, minute)), value)
    with StoreWriter(other.path, StoreConfig(commit_interval_s=0.05)) as short_writer:
        roll_up(other.path, short_writer, ManualClock(at(2)), NewsConfig(regime_hours=1))
    assert other.hourly()[1].regime_score == pytest.approx(-0.1)
    other.conn.close()


def test_running_twice_writes_nothing_new(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: a second run later, after an LLM score arrived for the rolled-up hour.
    Kept: no new rows and the stored row unchanged (append-only)."""
    article = db.article(at(0, 1))
    db.score(article, 0.5)
    clock = ManualClock(at(1, 1))
    roll_up(db.path, writer, clock, NewsConfig())
    before = db.hourly()

    db.score(article, -0.9, scorer="llm", scored_ns=at(1, 5))
    clock.set_ns(at(1, 10))
    again = roll_up(db.path, writer, clock, NewsConfig())

    assert again.rows == 0
    assert db.hourly() == before


def test_hours_beyond_the_backfill_window_need_since_zero(
    db: NewsDb, writer: StoreWriter
) -> None:
    """Tried: an article 10 days before now. Kept: a regular run leaves it, since_ns=0
    rolls it up."""
    db.score(db.article(at(0, 1)), 0.5)
    clock = ManualClock(at(240))

    assert roll_up(db.path, writer, clock, NewsConfig()).rows == 0
    assert roll_up(db.path, writer, clock, NewsConfig(), since_ns=0).rows == 1


CRASH = """
import os, sys
from pathlib import Path
from edge.news.rollup import roll_up
from edge.store.writer import StoreWriter
from shared.clock import ManualClock
from shared.config.news import NewsConfig
from shared.config.store import StoreConfig

class CrashingWriter(StoreWriter):
    def flush(self, timeout=None):
        os._exit(9)  # the process dies with the rows still queued

writer = CrashingWriter(Path(sys.argv[1]), StoreConfig(commit_interval_s=3600))
roll_up(Path(sys.argv[1]), writer, ManualClock(int(sys.argv[2])), NewsConfig())
"""


def test_a_crash_before_the_commit_is_repaired_by_the_next_run(db: NewsDb) -> None:
    """Tried: a real process that queues the rows and dies before its writer commits.
    Kept: the table is still empty after it, and the next run writes the rows."""
    db.score(db.article(at(0, 1)), 0.5)
    db.score(db.article(at(1, 1)), -0.5)

    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(db.path), str(at(2))],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
    )
    assert crashed.returncode == 9, crashed.stderr
    assert db.hourly() == []

    with StoreWriter(db.path, StoreConfig(commit_interval_s=0.05)) as writer:
        report = roll_up(db.path, writer, ManualClock(at(2, 5)), NewsConfig())

    assert report.rows == 2
    assert [r.mean for r in db.hourly()] == [0.5, -0.5]


def test_the_report_reads_as_a_dict(db: NewsDb, writer: StoreWriter) -> None:
    """Tried: one BTC and one market score. Kept: both symbols, one hour."""
    article = db.article(at(0, 1))
    db.score(article, 0.5)
    db.score(article, 0.5, symbol="BTC")

    report = roll_up(db.path, writer, ManualClock(at(1)), NewsConfig()).as_dict()

    assert report == {
        "rows": 2, "hours": 1, "symbols": ["*", "BTC"], "latest_hour_ns": at(0),
        "computed_ns": at(1),
    }

