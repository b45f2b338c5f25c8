"""Harvest failures against a real HTTP server on loopback: size cap, redirects, HTTP
errors and backoff (manual clock), Retry-After, a slow server, a page that is no feed."""

from __future__ import annotations

import time

import pytest

from tests.edge.news.feed_server import (
    NOW_NS,
    SECOND,
    FeedServer,
    Item,
    Rigs,
    Route,
    feed_file,
    rss_document,
)


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "streamed"])
def test_a_feed_over_the_size_cap_is_refused_and_backs_off_alone(
    server: FeedServer, rigs: Rigs, send_length: bool
) -> None:
    """Tried: a 300 kB feed against a 100 kB cap, declared in Content-Length or only
    streamed, next to a normal feed. Kept: nothing of the big one (refused, not
    truncated), a backoff for it alone; the normal feed's articles."""
    items = [Item(f"Bitcoin headline number {i}", f"https://big.example/{i}", "x" * 200)
             for i in range(1000)]
    big = server.route("/big", Route(rss_document(items), send_length=send_length))
    small = server.route("/rss", Route(feed_file("crypto_rss2.xml")))
    rig = rigs.make([("big", big), ("ledger", small)], max_feed_bytes=100_000)

    report = rig.harvest()

    huge, normal = report.sources
    assert huge.status == "error" and huge.new == 0
    assert huge.error is not None and "big" in huge.error and big in huge.error
    assert "100000" in huge.error
    assert huge.failures == 1 and huge.next_try_ns > NOW_NS
    assert normal.status == "ok" and normal.new == 6
    assert rig.count() == 6
    assert rig.source("big")[2] == 1
    assert rig.source("ledger")[2] == 0


def test_redirects_are_followed_and_links_resolve_against_the_final_url(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: 301 then 302 before the feed, and a redirect loop. Kept: the feed's
    articles with relative links resolved against where it finally came from; the
    loop is an error naming the source."""
    server.route("/old", Route(status=301, location="/moved"))
    server.route("/moved", Route(status=302, location="/feeds/v2/rss.xml"))
    server.route("/feeds/v2/rss.xml", Route(rss_document([Item("Solana news", "story/1")])))
    server.route("/loop", Route(status=302, location="/loop"))
    rig = rigs.make([("moved", server.url("/old")), ("loop", server.url("/loop"))])

    report = rig.harvest()

    moved, loop = report.sources
    assert moved.status == "ok" and moved.new == 1
    assert rig.rows("SELECT url FROM news_articles")[0][0] == server.url("/feeds/v2/story/1")
    assert loop.status == "error" and loop.error is not None and "redirects" in loop.error


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_back_off_and_the_source_is_skipped_until_due(
    server: FeedServer, rigs: Rigs, status: int
) -> None:
    """Tried: a source answering 404 / 500, harvested again at once, then after its
    backoff (manual clock), then once it works. Kept: the failure and next try in
    news_sources; no request while backing off; failures reset on success."""
    url = server.route("/down", Route(b"oops", status=status, content_type="text/plain"))
    rig = rigs.make([("down", url)], backoff={"initial_s": 60, "max_s": 600})

    first = rig.harvest()
    assert first.sources[0].status == "error"
    assert first.sources[0].error is not None and str(status) in first.sources[0].error
    _, _, failures, next_try_ns, last_status, _ = rig.source("down")
    assert (failures, last_status) == (1, status)
    assert NOW_NS + SECOND <= next_try_ns <= NOW_NS + 60 * SECOND

    skipped = rig.harvest()
    assert skipped.sources[0].status == "skipped"
    assert len(server.seen("/down")) == 1

    rig.clock.set_ns(next_try_ns)
    again = rig.harvest()
    assert again.sources[0].status == "error" and len(server.seen("/down")) == 2
    assert rig.source("down")[2] == 2

    server.route("/down", Route(feed_file("crypto_rss2.xml")))
    rig.clock.advance_ns(600 * SECOND)
    healed = rig.harvest()
    assert healed.sources[0].status == "ok" and healed.new == 6
    assert rig.source("down")[2:5] == (0, 0, 200)


def test_retry_after_stretches_the_backoff(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: 503 with Retry-After: 900 and a 60 s backoff. Kept: next try no sooner
    than the server asked."""
    url = server.route(
        "/busy", Route(b"", status=503, content_type="text/plain", headers={"Retry-After": "900"})
    )
    rig = rigs.make([("busy", url)], backoff={"initial_s": 60, "max_s": 60})

    report = rig.harvest()

    assert report.sources[0].next_try_ns >= NOW_NS + 900 * SECOND


def test_a_slow_server_times_out_without_holding_up_the_others(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: one server that waits 60 s before answering, timeout 2 s, next to a normal
    feed. Kept: a timeout error naming the slow source; the normal feed's articles."""
    slow = server.route("/slow", Route(feed_file("crypto_rss2.xml"), delay_s=60))
    fast = server.route("/fast", Route(feed_file("crypto_atom.xml")))
    rig = rigs.make([("slow", slow), ("fast", fast)], timeout_s=2.0)

    started = time.monotonic()
    report = rig.harvest()
    elapsed = time.monotonic() - started

    slow_report, fast_report = report.sources
    assert slow_report.status == "error" and slow_report.error is not None
    assert "slow" in slow_report.error and "timed out" in slow_report.error
    assert fast_report.status == "ok" and fast_report.new == 4
    assert elapsed < 45  # far below the server's 60 s, with room for a busy machine


def test_an_html_page_instead_of_a_feed_is_an_error(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: a feed URL answering a 200 HTML page (a consent wall). Kept: nothing;
    an error saying it is not a feed, and a backoff."""
    page = b"<!doctype html><html><body><h1>Accept cookies</h1></body></html>"
    url = server.route("/wall", Route(page, content_type="text/html"))
    rig = rigs.make([("wall", url)])

    report = rig.harvest()

    assert report.sources[0].status == "error"
    assert report.sources[0].error is not None and "not a feed" in report.sources[0].error
    assert rig.count() == 0


def test_a_trickling_server_times_out_on_the_whole_response(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: a server sending a feed in ten pieces 0.8 s apart (each read well within
    the 2 s timeout, the whole over 7 s). Kept: a timeout error; nothing stored."""
    url = server.route("/drip", Route(feed_file("crypto_rss2.xml"), chunk_delay_s=0.8))
    rig = rigs.make([("drip", url)], timeout_s=2.0)

    report = rig.harvest()

    assert report.sources[0].status == "error"
    assert report.sources[0].error is not None and "timed out" in report.sources[0].error
    assert rig.count() == 0
