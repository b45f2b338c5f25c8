"""One news cycle over 500 new articles: harvest (fetch, parse, dedupe, tag, store),
then score with the built-in scorer and roll up, against feeds on a loopback server.

The feeds are served by the same real HTTP server the tests use
(``tests/edge/news/feed_server.py``): five RSS 2.0 feeds of 100 items each, with
HTML descriptions and dates over the last twelve hours. The harvest is timed as the
agent runs it (``Harvester.harvest_once``); its stages are then timed one by one on
the same documents, so the table says where the time goes. Target: the whole cycle
in under 10 s (a Pi has 15 minutes between harvests, and shares its CPU with the
order books).
"""

from __future__ import annotations

import importlib
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from edge.news.dedupe import Deduper, normalize_url, title_key
from edge.news.fetch import fetch, make_client
from edge.news.harvest import Harvester
from edge.news.parse import RawArticle, parse_feed
from edge.news.tagging import SymbolTagger, symbols_text
from edge.store.db import connect
from edge.store.writer import StoreWriter
from shared.clock import ManualClock
from shared.config.edge import EdgeConfig
from tests.edge.news.feed_server import FeedServer, Item, Route, edge_config, rss_document

FEEDS = 5
ITEMS_PER_FEED = 100
TARGET_S = 10.0
HOUR_NS = 3_600 * 1_000_000_000
NOW_NS = 1_717_547_400 * 1_000_000_000
"""2024-06-05 00:30 UTC: every generated item lies in the twelve hours before it."""

_SUBJECTS = [
    "Bitcoin", "Ethereum", "Solana", "XRP", "Cardano", "Dogecoin", "BNB", "Litecoin",
    "Crypto markets", "Stablecoin issuers",
]
_VERBS = [
    "rallies as ETF inflows surge", "slides after exchange hack", "steady ahead of Fed decision",
    "hits record on institutional demand", "drops as regulators tighten rules",
    "rebounds after liquidation cascade", "gains on upgrade news", "falls amid lawsuit fears",
]


@dataclass
class CycleTimes:
    """Seconds per stage of one run, and what it did."""

    stages: dict[str, float] = field(default_factory=dict)
    articles: int = 0
    scored: int = 0
    hourly_rows: int = 0


def _documents() -> list[bytes]:
    from datetime import UTC, datetime

    documents = []
    for feed in range(FEEDS):
        items = []
        for i in range(ITEMS_PER_FEED):
            n = feed * ITEMS_PER_FEED + i
            subject, verb = _SUBJECTS[n % len(_SUBJECTS)], _VERBS[(n // 3) % len(_VERBS)]
            published = datetime.fromtimestamp(NOW_NS / 1e9 - 86.0 * n - 60, UTC)
            description = (
                f"<p><b>{subject}</b> {verb}, traders said on day {n}.</p>"
                f"<p>Analysts at desk {n % 17} expect volatility; "
                "<a href='https://example.com/more'>read more</a>.</p>"
            )
            items.append(Item(
                f"{subject} {verb} (report {n})",
                f"https://feed{feed}.example.com/news/{n}?utm_source=rss",
                description, format_datetime(published, usegmt=True),
            ))
        documents.append(rss_document(items, title=f"Bench feed {feed}"))
    return documents


_MISSING: list[str] = []
"""Why an optional stage (scoring, roll-up) could not run, for the report."""


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found: Callable[..., Any] | None = getattr(importlib.import_module(module), name, None)
    except ImportError as exc:
        _MISSING.append(f"{module}.{name}: {exc}")
        return None
    if found is None:
        _MISSING.append(f"{module}.{name}: not defined")
    return found


def _timed(times: CycleTimes, stage: str, run: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = run()
    times.stages[stage] = time.perf_counter() - started
    return result


def _stage_breakdown(config: EdgeConfig, urls: list[str], db: Path, times: CycleTimes) -> None:
    """Each harvest stage alone, on the same documents, into a second database."""
    news = config.news
    with make_client(news) as client:
        results = _timed(times, "fetch (5 GETs)", lambda: [
            fetch(client, f"feed{i}", url, max_bytes=news.max_feed_bytes, timeout_s=news.timeout_s)
            for i, url in enumerate(urls)
        ])
    feeds = _timed(times, "parse (feedparser, HTML to text)", lambda: [
        parse_feed(r.body, url=r.url, content_type=r.content_type) for r in results
    ])
    articles: list[RawArticle] = [a for feed in feeds for a in feed.articles]
    tagger = SymbolTagger(news.aliases)
    writer = StoreWriter(db, config.store)
    try:
        def dedupe_and_tag() -> list[tuple[Any, ...]]:
            keyed = [(a, normalize_url(a.url), title_key(a.title)) for a in articles]
            conn = connect(db, readonly=True)
            deduper = Deduper(conn, (k[1] for k in keyed), (k[2] for k in keyed))
            conn.close()
            return [
                (url, a.title, key, a.summary, "bench",
                 symbols_text(tagger.tag(a.title, a.summary)), a.published_ns, NOW_NS)
                for a, url, key in keyed if deduper.admit(url, key)
            ]

        rows = _timed(times, "dedupe + tag", dedupe_and_tag)

        def store() -> None:
            for row in rows:
                writer.put("news_articles", row)
            writer.flush()

        _timed(times, "store (writer, one commit)", store)
    finally:
        writer.close()


def run_once() -> CycleTimes:
    """One cycle on a fresh database; returns its stage times."""
    times = CycleTimes()
    score_pending = _optional("edge.news.pending", "score_pending")
    roll_up = _optional("edge.news.rollup", "roll_up")
    with FeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        urls = [server.route(f"/feed{i}.xml", Route(doc)) for i, doc in enumerate(_documents())]
        config = edge_config(Path(tmp), [(f"feed{i}", url) for i, url in enumerate(urls)])
        config = config.model_copy(update={"news": config.news.model_copy(update={
            "scorer": "builtin", "newsapi": config.news.newsapi.model_copy(
                update={"key_env": "TICKERML_BENCH_NO_NEWSAPI"})
        })})
        clock = ManualClock(NOW_NS)
        db = Path(tmp) / "edge.db"
        with StoreWriter(db, config.store) as writer:
            harvester = Harvester(config, writer, db, clock, environ={})
            report = _timed(times, "harvest_once", harvester.harvest_once)
            times.articles = report.new
            if score_pending is not None:
                from edge.news.scoring import NewsScorer

                scorer = NewsScorer(config.news, clock)
                try:
                    scored = _timed(
                        times, "score (built-in)",
                        lambda: score_pending(db, writer, scorer, clock),
                    )
                finally:
                    scorer.close()
                times.scored = getattr(scored, "selected", 0)
            if roll_up is not None:
                # Articles belong to the hour they were fetched in; the roll-up job runs
                # at minute 1 of the next hour, once that hour has closed.
                clock.set_ns((NOW_NS // HOUR_NS + 1) * HOUR_NS + 60 * 1_000_000_000)
                rolled = _timed(
                    times, "roll up (hourly)", lambda: roll_up(db, writer, clock, config.news)
                )
                times.hourly_rows = getattr(rolled, "rows", 0)
        _stage_breakdown(config, urls, Path(tmp) / "stages.db", times)
    return times


def section(repeats: int = 3) -> list[str]:
    """The Markdown section for docs/benchmarks.md (median of ``repeats`` cycles)."""
    runs = [run_once() for _ in range(repeats)]
    first = runs[0]

    def median(stage: str) -> float:
        return statistics.median(r.stages[stage] for r in runs if stage in r.stages)

    cycle = [s for s in ("harvest_once", "score (built-in)", "roll up (hourly)")
             if s in first.stages]
    total = sum(median(s) for s in cycle)
    lines = [
        "## News harvest cycle (issue 5)",
        "",
        f"One cycle over {FEEDS * ITEMS_PER_FEED} new articles ({FEEDS} RSS 2.0 feeds of "
        f"{ITEMS_PER_FEED} items with HTML descriptions) served by a loopback HTTP server: "
        "fetch, parse, dedupe, tag and store (`Harvester.harvest_once`), then score with the "
        "built-in scorer and roll up the closed hours. Median of "
        f"{repeats} runs, each on a fresh database. Target: the whole cycle under "
        f"{TARGET_S:.0f} s.",
        "",
        "| stage | seconds |",
        "| --- | ---: |",
        *(f"| {s} | {median(s):.3f} |" for s in cycle),
        f"| **cycle total** | **{total:.3f}** ({'meets' if total < TARGET_S else 'misses'} "
        f"the {TARGET_S:.0f} s target) |",
        "",
        f"Stored {first.articles} articles, scored {first.scored}, wrote {first.hourly_rows} "
        "hourly rows. The harvest's stages run one by one on the same documents:",
        "",
        "| harvest stage | seconds |",
        "| --- | ---: |",
        *(f"| {s} | {median(s):.3f} |" for s in first.stages if s not in cycle),
        "",
    ]
    if _MISSING:
        lines += [f"Not run: {'; '.join(sorted(set(_MISSING)))}.", ""]
    return lines


if __name__ == "__main__":
    print("\n".join(section()))
