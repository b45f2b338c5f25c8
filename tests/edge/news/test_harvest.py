"""The harvest against a real HTTP server on loopback: what is stored, conditional GET
(ETag, Last-Modified), broken and mis-encoded documents."""

from __future__ import annotations

import logging

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


def test_first_harvest_stores_each_story_once_tagged_and_normalized(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: an RSS 2.0 and an Atom feed sharing one story (same URL once normalized) and
    syndicating another headline under a second URL. Kept: each story once, URLs
    normalized, symbols tagged, published times in UTC, ids reported."""
    rss = server.route("/rss/", Route(feed_file("crypto_rss2.xml")))
    atom = server.route(
        "/atom.xml", Route(feed_file("crypto_atom.xml"), content_type="application/atom+xml")
    )
    rig = rigs.make([("ledger", rss), ("blocks", atom)])

    report = rig.harvest()

    ledger, blocks = report.sources
    # 8 items: one non-URL guid without link dropped, one syndicated headline a duplicate.
    assert (ledger.status, ledger.entries, ledger.dropped) == ("ok", 7, 1)
    assert (ledger.new, ledger.duplicates) == (6, 1)
    # Atom's "BTC < $70k" entry links to the RSS story's URL, dressed differently.
    assert (blocks.status, blocks.new, blocks.duplicates) == ("ok", 3, 1)
    rows = rig.rows("SELECT id, url, title, symbols, published_ns, fetched_ns, source "
                    "FROM news_articles ORDER BY id")
    assert [r[0] for r in rows] == report.article_ids == rig.harvester.article_ids()
    by_url = {r[1]: r for r in rows}
    btc = by_url["https://news.example.org/markets/2024/06/04/bitcoin-climbs-past-70k/"]
    assert btc[3] == "BTC" and btc[6] == "ledger"
    assert btc[4] == 1_717_502_400 * SECOND  # Tue, 04 Jun 2024 12:00:00 +0000
    assert all(r[5] == NOW_NS for r in rows)
    ethos = by_url["https://news.example.org/business/ethos-labs-seed"]
    assert ethos[3] == ""  # "Ethos" and "solid" tag nothing
    assert ethos[4] == 1_717_490_400 * SECOND  # 10:40 +0200 is 08:40 UTC
    assert by_url["https://news.example.org/markets/sol-doge-rebound"][3] == "DOGE,SOL"
    assert by_url["https://news.example.org/markets/wrap-0604"][4] is None  # "not a date"
    # A relative link resolves against the URL the feed came from.
    assert by_url[server.url("/tech/2024/06/04/ethereum-upgrade-date")][3] == "ETH"
    assert "https://blocks.example.com/2024/06/ada-staking-record" in by_url
    assert by_url["https://blocks.example.com/2024/06/ada-staking-record"][2] == (
        "Cardano ADA staking hits record & fees fall"
    )


def test_etag_gets_304_and_nothing_new_on_the_second_harvest(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: a feed with an ETag harvested twice. Kept: the ETag in news_sources; the
    second request carried If-None-Match, got 304, stored nothing."""
    url = server.route("/rss", Route(feed_file("crypto_rss2.xml"), etag='"v1"'))
    rig = rigs.make([("ledger", url)])
    first = rig.harvest()
    assert rig.source("ledger")[0] == '"v1"'

    rig.clock.advance_ns(900 * SECOND)
    second = rig.harvest()

    requests = server.seen("/rss")
    assert "if-none-match" not in requests[0].headers
    assert requests[1].headers["if-none-match"] == '"v1"'
    assert second.sources[0].status == "not_modified"
    assert second.sources[0].http_status == 304
    assert second.new == 0 and second.article_ids == []
    assert rig.count() == first.new == 6


def test_last_modified_gets_304_then_a_changed_feed_adds_only_its_new_item(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: a feed with only Last-Modified; then the feed gains an item and a new
    date. Kept: If-Modified-Since sent, 304 stores nothing; the changed feed's one new
    item stored, the old ones counted as duplicates."""
    items = [Item(f"Bitcoin story {i}", f"https://lm.example.com/{i}") for i in range(3)]
    stamp = "Tue, 04 Jun 2024 12:00:00 GMT"
    url = server.route("/lm", Route(rss_document(items), last_modified=stamp))
    rig = rigs.make([("lm", url)])
    assert rig.harvest().new == 3

    second = rig.harvest()
    server.route("/lm", Route(
        rss_document([*items, Item("Ether story 3", "https://lm.example.com/3")]),
        last_modified="Tue, 04 Jun 2024 13:00:00 GMT",
    ))
    third = rig.harvest()

    assert server.seen("/lm")[1].headers["if-modified-since"] == stamp
    assert second.sources[0].status == "not_modified"
    assert (third.new, third.duplicates) == (1, 3)
    assert rig.source("lm")[1] == "Tue, 04 Jun 2024 13:00:00 GMT"


def test_broken_xml_keeps_what_parsed_and_logs_the_source(
    server: FeedServer, rigs: Rigs, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: an RSS document cut off inside its third item. Kept: the two complete
    items; the problem in the report and in a warning naming the source."""
    url = server.route("/half", Route(feed_file("broken_rss.xml")))
    rig = rigs.make([("half", url)])

    with caplog.at_level(logging.WARNING, logger="edge.news.harvest"):
        report = rig.harvest()

    source = report.sources[0]
    assert source.status == "ok" and source.new == 2
    assert source.problem is not None and "mismatched tag" in source.problem
    assert any("half" in r.getMessage() and "kept 2" in r.getMessage() for r in caplog.records)
    titles = {r[0] for r in rig.rows("SELECT title FROM news_articles")}
    assert titles == {"Bitcoin miners sell fewer coins", "Ether options open interest climbs"}


def test_wrongly_declared_and_latin1_encodings_give_the_right_text(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: windows-1252 bytes declared as UTF-8 (and served as such), and an honest
    ISO-8859-1 feed. Kept: accents, euro sign and guillemets intact in both."""
    bad = server.route("/cp", Route(feed_file("cp1252_declared_utf8.xml")))
    latin = server.route(
        "/latin", Route(feed_file("latin1.xml"), content_type="application/rss+xml")
    )
    rig = rigs.make([("cafe", bad), ("zurich", latin)])

    report = rig.harvest()

    assert [s.new for s in report.sources] == [2, 1]
    assert report.sources[0].problem is not None  # the override is reported
    titles = {r[0]: r[1] for r in rig.rows("SELECT title, symbols FROM news_articles")}
    # The no-break spaces of the original are plain spaces once whitespace is collapsed.
    assert titles["Le bitcoin dépasse 60 000 € — « record »"] == "BTC,ETH"
    assert "Solana résiste" in titles
    assert "Bitcoin-Kurs: Anleger bleiben gelassen über das Wochenende" in titles


def test_a_date_in_the_future_is_clamped_to_the_fetch_time(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: an item dated a day after the harvest (a publisher's zone bug). Kept: the
    article, published at the fetch time rather than in an hour still to come."""
    tomorrow = "Thu, 06 Jun 2024 00:00:00 GMT"
    items = [Item("Bitcoin tomorrow", "https://f.example/1", pub_date=tomorrow)]
    url = server.route("/future", Route(rss_document(items)))
    rig = rigs.make([("future", url)])

    rig.harvest()

    assert rig.rows("SELECT published_ns, fetched_ns FROM news_articles")[0] == (NOW_NS, NOW_NS)


def test_writer_is_the_only_path_to_the_database(
    server: FeedServer, rigs: Rigs
) -> None:
    """Tried: a harvest with the writer's own counters watched. Kept: every article and
    source row went through the writer (no second writing connection)."""
    url = server.route("/rss", Route(feed_file("crypto_rss2.xml")))
    rig = rigs.make([("ledger", url)])

    rig.harvest()

    stats = rig.writer.stats()
    assert stats.rows_written["news_articles"] == 6
    assert stats.rows_written["news_sources"] == 1
