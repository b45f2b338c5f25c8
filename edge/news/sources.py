"""The sources a harvest visits and what is remembered about each between harvests.

A source is a configured RSS/Atom feed, or NewsAPI when its key is in the
environment. Its remembered state (a row of ``news_sources``) carries the
validators for a conditional GET (ETag, Last-Modified) and the backoff after
failures (``failures``, ``next_try_ns``).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from shared.backoff import Backoff
from shared.config.news import NewsConfig

NEWSAPI = "newsapi"
"""The source name NewsAPI's articles and state are stored under."""

MIN_BACKOFF_S = 1.0
"""Floor under a full-jitter draw: a draw near zero would hammer a failing server."""


@dataclass(frozen=True, slots=True)
class Source:
    """One place to fetch articles from."""

    name: str
    url: str
    kind: Literal["feed", "newsapi"]
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None


def configured_sources(config: NewsConfig, environ: Mapping[str, str]) -> list[Source]:
    """The feeds in config order, then NewsAPI if ``environ`` holds its key."""
    sources = [Source(feed.name, feed.url, "feed") for feed in config.feeds]
    key = environ.get(config.newsapi.key_env, "").strip()
    if key:
        api = config.newsapi
        params = {
            "q": api.query,
            "pageSize": str(api.page_size),
            "sortBy": "publishedAt",
            "language": "en",
        }
        # The key travels in NewsAPI's X-Api-Key header rather than the ``apiKey``
        # query parameter (both are documented): URLs end up in logs and errors.
        sources.append(Source(NEWSAPI, api.url, "newsapi", params, {"X-Api-Key": key}))
    return sources


@dataclass(frozen=True, slots=True)
class SourceState:
    """A row of ``news_sources``."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    next_try_ns: int = 0
    last_status: int | None = None
    last_error: str | None = None
    checked_ns: int | None = None

    def row(self) -> tuple[Any, ...]:
        """The row for the writer's ``news_sources`` upsert (its column order)."""
        return (
            self.name, self.url, self.etag, self.last_modified, self.failures,
            self.next_try_ns, self.last_status, self.last_error, self.checked_ns,
        )

    def due(self, now_ns: int) -> bool:
        """False while the source is backing off after a failure."""
        return self.next_try_ns <= now_ns

    def succeeded(
        self, now_ns: int, status: int, etag: str | None, last_modified: str | None,
        note: str | None = None,
    ) -> SourceState:
        """After a 200 or 304: new validators, backoff cleared."""
        return replace(
            self, etag=etag, last_modified=last_modified, failures=0, next_try_ns=0,
            last_status=status, last_error=note, checked_ns=now_ns,
        )

    def failed(
        self,
        now_ns: int,
        config: NewsConfig,
        error: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        rng: random.Random | None = None,
    ) -> SourceState:
        """After a failure: one more failure, next try after a jittered backoff.

        The validators are kept: the articles they stand for are stored.
        """
        backoff = Backoff(config.backoff, rng=rng)
        backoff.attempt = self.failures
        delay_s = max(backoff.next_delay(), MIN_BACKOFF_S, retry_after_s or 0.0)
        return replace(
            self, failures=self.failures + 1,
            next_try_ns=now_ns + int(delay_s * 1_000_000_000),
            last_status=status, last_error=error[:500], checked_ns=now_ns,
        )


def fresh_state(source: Source) -> SourceState:
    """The state of a source never fetched before."""
    return SourceState(source.name, source.url)


def load_states(conn: sqlite3.Connection) -> dict[str, SourceState]:
    """Every source's stored state, by name."""
    rows = conn.execute(
        "SELECT name, url, etag, last_modified, failures, next_try_ns, last_status, "
        "last_error, checked_ns FROM news_sources"
    )
    return {row[0]: SourceState(*row) for row in rows}


def state_for(source: Source, stored: Mapping[str, SourceState]) -> SourceState:
    """``source``'s stored state, or a fresh one if none or if its URL changed.

    Validators (and a backoff) earned by another URL say nothing about this one.
    """
    state = stored.get(source.name)
    if state is None or state.url != source.url:
        return fresh_state(source)
    return state
