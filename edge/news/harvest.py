"""One harvest of every news source: fetch, parse, dedupe, tag, store.

Order matters for a crash: the articles are committed (``writer.flush()``)
before any source's new ETag / Last-Modified is, so a harvest killed between
the two re-fetches those sources in full next time and the unique URL and
title keys turn the repeats into duplicates. A harvest killed before the
articles' commit leaves the old validators, which also means a full re-fetch:
nothing is lost, nothing is counted twice.

Sources are fetched in a small thread pool (I/O bound, one slow feed must not
hold up the rest); everything that touches the database happens on the
calling thread, through the one writer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from edge.news.dedupe import Deduper, normalize_url, title_key
from edge.news.fetch import FetchError, FetchResult, fetch, make_client
from edge.news.parse import NotAFeedError, ParsedFeed, parse_feed, parse_newsapi
from edge.news.report import HarvestReport, SourceReport
from edge.news.sources import (
    Source,
    SourceState,
    configured_sources,
    load_states,
    state_for,
)
from edge.news.tagging import SymbolTagger, symbols_text
from edge.store.db import connect
from edge.store.writer import StoreWriter
from shared.clock import Clock
from shared.config.edge import EdgeConfig

log = logging.getLogger(__name__)

FETCH_WORKERS = 4
"""Sources fetched at once: enough to hide a slow one, few enough for a Pi."""

_ID_CHUNK = 500


@dataclass
class _Outcome:
    """One due source after fetching and parsing (on a pool thread)."""

    source: Source
    state: SourceState
    report: SourceReport
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None
    retry_after_s: float | None = None
    queued: list[str] = field(default_factory=list)
    """Normalized URLs of the articles handed to the writer."""


class Harvester:
    """Harvests the configured sources into the agent's database.

    ``writer`` is the agent's one :class:`StoreWriter`; ``db_path`` is the same
    database, read on separate read-only connections (dedupe, source state).
    """

    def __init__(
        self,
        config: EdgeConfig,
        writer: StoreWriter,
        db_path: Path,
        clock: Clock,
        *,
        environ: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``environ`` (default ``os.environ``) is where the NewsAPI key is looked up."""
        self.config = config
        self.news = config.news
        self.writer = writer
        self.db_path = Path(db_path)
        self.clock = clock
        self._environ = environ
        self._rng = rng or random.Random()
        self._tagger = SymbolTagger(self.news.aliases)
        self._last_ids: list[int] = []

    def article_ids(self) -> list[int]:
        """Ids of the articles the last :meth:`harvest_once` stored, ascending."""
        return list(self._last_ids)

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.db_path, readonly=True)
        try:
            yield conn
        finally:
            conn.close()

    def harvest_once(self) -> HarvestReport:
        """Visit every due source once and store what is new; see :class:`HarvestReport`."""
        started_ns = self.clock.time_ns()
        report = HarvestReport(started_ns)
        environ = os.environ if self._environ is None else self._environ
        sources = configured_sources(self.news, environ)
        with self._reader() as conn:
            stored = load_states(conn)
        due: list[tuple[Source, SourceState]] = []
        by_name: dict[str, SourceReport] = {}
        for source in sources:
            state = state_for(source, stored)
            if state.due(started_ns):
                due.append((source, state))
                continue
            by_name[source.name] = SourceReport(
                source.name, source.url, "skipped", http_status=state.last_status,
                error=state.last_error, failures=state.failures, next_try_ns=state.next_try_ns,
            )
        outcomes = self._fetch_all(due)
        by_name.update((o.source.name, o.report) for o in outcomes)
        report.sources = [by_name[s.name] for s in sources]
        stored_urls = self._store_articles(outcomes)
        report.article_ids = sorted(stored_urls.values())
        self._last_ids = list(report.article_ids)
        self._save_states(self._new_states(outcomes, stored_urls))
        report.finished_ns = self.clock.time_ns()
        return report

    # -- fetch and parse (pool threads) ------------------------------------------------

    def _fetch_all(self, due: list[tuple[Source, SourceState]]) -> list[_Outcome]:
        if not due:
            return []
        with (
            make_client(self.news) as client,
            ThreadPoolExecutor(min(FETCH_WORKERS, len(due)), "news-fetch") as pool,
        ):
            return list(pool.map(lambda pair: self._fetch_one(client, *pair), due))

    def _fetch_one(self, client: httpx.Client, source: Source, state: SourceState) -> _Outcome:
        started = time.perf_counter()
        outcome = _Outcome(source, state, SourceReport(source.name, source.url, "ok"))
        rep = outcome.report
        try:
            result = fetch(
                client, source.name, source.url,
                max_bytes=self.news.max_feed_bytes, timeout_s=self.news.timeout_s,
                etag=state.etag, last_modified=state.last_modified,
                params=dict(source.params) if source.params else None,
                headers=dict(source.headers) if source.headers else None,
            )
            outcome.result = result
            rep.http_status = result.status
            if result.not_modified:
                rep.status = "not_modified"
            elif source.kind == "newsapi":
                outcome.parsed = parse_newsapi(result.body, url=result.url)
            else:
                outcome.parsed = parse_feed(
                    result.body, url=result.url, content_type=result.content_type
                )
        except FetchError as exc:
            rep.status, rep.error, rep.http_status = "error", str(exc), exc.status
            outcome.retry_after_s = exc.retry_after_s
        except NotAFeedError as exc:
            rep.status, rep.error = "error", f"{source.name} ({source.url}): not a feed: {exc}"
        except Exception as exc:
            # A parser crash on one hostile document must not cost the other sources.
            log.exception("news source %s (%s): parsing failed", source.name, source.url)
            rep.status = "error"
            rep.error = f"{source.name} ({source.url}): {type(exc).__name__}: {exc}"
        if rep.error:
            log.warning("news source failed: %s", rep.error)
        if outcome.parsed is not None:
            rep.entries, rep.dropped = len(outcome.parsed.articles), outcome.parsed.dropped
            rep.problem = outcome.parsed.problem
            if rep.problem:
                log.warning(
                    "news source %s (%s): document not clean (%s); kept %d entries",
                    source.name, source.url, rep.problem, rep.entries,
                )
        rep.seconds = time.perf_counter() - started
        return outcome

    # -- store (calling thread) -----------------------------------------------------

    def _store_articles(self, outcomes: list[_Outcome]) -> dict[str, int]:
        """Queue the new articles, commit them, and return the stored ones' ids by URL."""
        parsed = [(o, o.parsed) for o in outcomes if o.parsed is not None]
        if not parsed:
            return {}
        keyed = [
            (o, a, normalize_url(a.url), title_key(a.title))
            for o, feed in parsed
            for a in feed.articles
        ]
        with self._reader() as conn:
            deduper = Deduper(conn, (k[2] for k in keyed), (k[3] for k in keyed))
        fetched_ns = self.clock.time_ns()
        queued: list[str] = []
        for outcome, article, url, key in keyed:
            if not key:
                outcome.report.dropped += 1
                outcome.report.entries -= 1
                continue
            if not deduper.admit(url, key):
                outcome.report.duplicates += 1
                continue
            symbols = self._tagger.tag(article.title, article.summary)
            published = article.published_ns
            # A publisher's clock or zone bug must not date news in an hour to come.
            if published is not None and published > fetched_ns:
                published = fetched_ns
            row = (
                url, article.title, key, article.summary, outcome.source.name,
                symbols_text(symbols), published, fetched_ns,
            )
            size = len(url) + len(article.title) + len(article.summary)
            self.writer.put("news_articles", row, extra_bytes=size)
            queued.append(url)
            outcome.queued.append(url)
        self.writer.flush()
        return self._stored_ids(queued, fetched_ns)

    def _stored_ids(self, urls: list[str], fetched_ns: int) -> dict[str, int]:
        found: dict[str, int] = {}
        with self._reader() as conn:
            for start in range(0, len(urls), _ID_CHUNK):
                chunk = urls[start : start + _ID_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT url, id FROM news_articles WHERE fetched_ns = ? AND url IN ({marks})",
                    [fetched_ns, *chunk],
                )
                found.update(rows)
        return found

    def _new_states(
        self, outcomes: list[_Outcome], stored_urls: Mapping[str, int]
    ) -> list[SourceState]:
        now_ns = self.clock.time_ns()
        states: list[SourceState] = []
        for o in outcomes:
            rep, result = o.report, o.result
            if rep.status == "error" or result is None:
                state = o.state.failed(
                    now_ns, self.news, rep.error or "failed", status=rep.http_status,
                    retry_after_s=o.retry_after_s, rng=self._rng,
                )
                rep.failures, rep.next_try_ns = state.failures, state.next_try_ns
                states.append(state)
                continue
            expected = len(o.queued)
            stored = sum(1 for url in o.queued if url in stored_urls)
            rep.new = stored
            if stored < expected:
                # The writer dropped rows (queue full): forget the validators so the
                # next harvest fetches in full and stores what is missing.
                note = f"{expected - stored} new articles not stored; re-fetching in full"
                log.warning("news source %s (%s): %s", o.source.name, o.source.url, note)
                states.append(o.state.succeeded(now_ns, result.status, None, None, note))
                continue
            states.append(
                o.state.succeeded(
                    now_ns, result.status, result.etag, result.last_modified, rep.problem
                )
            )
        return states

    def _save_states(self, states: list[SourceState]) -> None:
        """Upsert the sources' state; called only after the articles are committed."""
        for state in states:
            self.writer.put("news_sources", state.row())
        self.writer.flush()
