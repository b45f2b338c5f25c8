"""NewsAPI as one more source: its JSON from a real HTTP server on loopback, the key
from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.news.harvest import Harvester
from edge.store.db import connect
from shared.clock import ManualClock
from tests.edge.news.feed_server import (
    NOW_NS,
    SECOND,
    FeedServer,
    Rigs,
    Route,
    edge_config,
    feed_file,
    open_writer,
)


def test_newsapi_is_a_source_only_when_its_key_is_set(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tried: NewsAPI's JSON from the loopback server, first without the key in the
    environment, then with it. Kept: no request without the key; with it the key went
    in X-Api-Key (not the URL), the query and page size as parameters, and the three
    real articles stored ([Removed] dropped, a bad date as None)."""
    api = server.route(
        "/v2/everything",
        Route(feed_file("newsapi_everything.json"), content_type="application/json"),
    )
    monkeypatch.delenv("TEST_NEWSAPI_KEY", raising=False)
    news = {"newsapi": {"key_env": "TEST_NEWSAPI_KEY", "url": api, "page_size": 20}}
    config = edge_config(tmp_path, [], **news)
    writer, db = open_writer(config)
    try:
        without = Harvester(config, writer, db, ManualClock(NOW_NS)).harvest_once()
        assert without.sources == [] and server.seen("/v2/everything") == []

        monkeypatch.setenv("TEST_NEWSAPI_KEY", "k-123")
        report = Harvester(config, writer, db, ManualClock(NOW_NS)).harvest_once()
    finally:
        writer.close()

    (source,) = report.sources
    assert (source.name, source.status, source.new, source.dropped) == ("newsapi", "ok", 3, 1)
    (request,) = server.seen("/v2/everything")
    assert request.headers["x-api-key"] == "k-123"
    assert "apiKey" not in request.query
    assert request.query["pageSize"] == ["20"] and request.query["q"]
    conn = connect(db, readonly=True)
    rows = dict(conn.execute("SELECT url, published_ns FROM news_articles").fetchall())
    conn.close()
    assert rows == {
        "https://wire.example.com/crypto/btc-etf-inflows": 1_717_502_280 * SECOND,
        "https://times.example.com/2024/06/04/eth-staking": 1_717_495_200 * SECOND,
        "https://daily.example.com/doge-listing": None,
    }


def test_newsapi_error_answer_is_a_failed_source(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: NewsAPI answering 401 with its JSON error. Kept: an error naming newsapi
    and its URL, a backoff."""
    body = b'{"status":"error","code":"apiKeyInvalid","message":"Your API key is invalid."}'
    api = server.route("/v2/everything", Route(body, status=401, content_type="application/json"))
    news = {"newsapi": {"key_env": "K", "url": api}, "environ": {"K": "bad"}}
    rig = rigs.make([], **news)

    report = rig.harvest()

    (source,) = report.sources
    assert source.status == "error" and source.error is not None
    assert source.error.startswith(f"newsapi ({api}): HTTP 401")
    assert source.failures == 1
