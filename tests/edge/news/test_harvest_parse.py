"""Parsing real-world and crafted feed documents, and the keys that dedupe them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.news.dedupe import Deduper, normalize_url, title_key
from edge.news.parse import (
    SUMMARY_MAX_CHARS,
    NotAFeedError,
    clip,
    html_to_text,
    iso_to_ns,
    parse_feed,
    parse_newsapi,
)
from edge.store.db import open_store
from tests.edge.news.feed_server import feed_file

SECOND = 1_000_000_000
FEED_URL = "https://news.example.org/rss/"


def test_rss_1_0_rdf_from_simon_fells_test_set() -> None:
    """Tried: a genuine RSS 1.0 (RDF) document with Dublin Core and dcterms modules.
    Kept: its one item, title, link (fragment and all, dedupe drops it later) and the
    dcterms:modified time in UTC."""
    feed = parse_feed(feed_file("feedparser/rss1.0withModules.xml"), url=FEED_URL)

    (item,) = feed.articles
    assert feed.problem is None
    assert item.title == "Test Item - RSS 1.0"
    assert item.url == "http://www.pocketsoap.com/weblog/rssTests/rss1.0withModules.xml#1"
    assert item.published_ns == 1_033_243_279 * SECOND  # 2002-09-28T20:01:19Z
    assert item.summary.startswith("This is a fairly standard RSS 1.0 feed")


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("rss2.0NSwithModules.xml", "Test Item - RSS2.0 w/ NS"),
        ("rss2.0noNSwithModules.xml", "Test Item - RSS 2.0 no NS"),
    ],
)
def test_rss_2_0_with_and_without_the_userland_namespace(name: str, title: str) -> None:
    """Tried: Simon Fell's RSS 2.0 documents, namespaced and not. Kept: the item, its
    multi-line description collapsed to one line."""
    (item,) = parse_feed(feed_file(f"feedparser/{name}"), url=FEED_URL).articles

    assert item.title == title
    assert "\n" not in item.summary and "  " not in item.summary


def test_real_world_atom_feed_with_heavy_inline_html() -> None:
    """Tried: a real Movable Type Atom feed (Cyrillic, inline CSS, double-escaped
    entities). Kept: all 15 entries as plain text within the length bound, no tags,
    no CSS, no leftover entities."""
    feed = parse_feed(
        feed_file("feedparser/large_atom_feed_that_needs_css_sanitisation.xml"),
        url="http://touchnokia.ru/atom.xml",
    )

    assert feed.problem is None and len(feed.articles) == 15
    for item in feed.articles:
        assert item.url.startswith("http://touchnokia.ru/")
        assert len(item.summary) <= SUMMARY_MAX_CHARS
        for leftover in ("<", "style=", "&nbsp;", "&amp;"):
            assert leftover not in item.summary
    assert feed.articles[0].title == "Невидимая броня для Вашего Nokia 5800"


def test_a_document_cut_off_inside_cdata_keeps_nothing_and_says_why() -> None:
    """Tried: feedparser's own ill-formed sample, cut off in a CDATA title. Kept:
    no articles (the one item has no title or link), the parse problem reported."""
    feed = parse_feed(feed_file("feedparser/rss_incomplete_cdata.xml"), url=FEED_URL)

    assert feed.articles == [] and feed.problem is not None


def test_crafted_rss_cdata_links_guids_and_dates() -> None:
    """Tried: CDATA, a script in a description, relative links, a permalink guid and a
    non-URL guid without link, a +0200 date and an unparseable one."""
    feed = parse_feed(feed_file("crypto_rss2.xml"), url=FEED_URL)
    items = {a.title: a for a in feed.articles}

    assert feed.dropped == 1  # "Item whose guid is not a URL"
    btc = items["Bitcoin Climbs Past $70K as ETF Inflows Resume"]
    assert btc.summary == "BTC rose 4% on Tuesday as spot ETF inflows resumed."
    eth = items["Ethereum developers set date for next upgrade"]
    assert eth.url == "https://news.example.org/tech/2024/06/04/ethereum-upgrade-date"
    assert eth.summary == "Core devs agreed on a mainnet date; ETH gas fees dipped."
    assert items["Ripple’s XRP steady after court ruling"].url == (
        "https://news.example.org/policy/xrp-court-ruling"
    )
    assert items["Ethos Labs raises seed round for solid-state wallets"].published_ns == (
        1_717_490_400 * SECOND
    )
    assert items["Markets wrap: stocks flat, dollar firm"].published_ns is None
    assert items["Markets wrap: stocks flat, dollar firm"].summary == (
        "Nothing about crypto here & that is fine."
    )


def test_crafted_atom_text_constructs_and_xml_base() -> None:
    """Tried: HTML and XHTML text constructs, a plain-text title with '<', xml:base."""
    feed = parse_feed(feed_file("crypto_atom.xml"), url="https://blocks.example.com/feed/atom.xml")
    ada, ltc, btc, bnb = feed.articles

    assert ada.title == "Cardano ADA staking hits record & fees fall"
    assert ada.summary == "Staked ADA reached a new high."  # <style> dropped
    assert ada.url == "https://blocks.example.com/2024/06/ada-staking-record"
    assert ada.published_ns == 1_717_482_600 * SECOND  # 08:30+02:00, published over updated
    assert ltc.summary == "Block rewards for LTC halve."
    assert btc.title == "BTC < $70k again? Analysts split"
    assert bnb.url == "https://blocks.example.com/2024/06/bnb-listing"


def test_windows_1252_bytes_declared_utf8_are_read_as_windows_1252() -> None:
    """Tried: a feed whose declaration lies. Kept: the right characters, the lie noted."""
    feed = parse_feed(
        feed_file("cp1252_declared_utf8.xml"), url=FEED_URL,
        content_type="application/rss+xml; charset=utf-8",
    )

    assert feed.problem is not None and "windows-1252" in feed.problem
    assert feed.articles[0].title == "Le bitcoin dépasse 60 000 € — « record »"
    assert feed.articles[0].summary == "Ether aussi progresse, naïvement."


def test_html_instead_of_a_feed_is_not_a_feed() -> None:
    with pytest.raises(NotAFeedError):
        parse_feed(b"<html><body>Service unavailable</body></html>", url=FEED_URL)


def test_newsapi_answer() -> None:
    """Tried: NewsAPI's documented shape with a [Removed] article, a null description
    and a bad date. Kept: three articles, HTML stripped, the bad date as None."""
    feed = parse_newsapi(feed_file("newsapi_everything.json"), url="https://newsapi.org/v2/x")

    assert feed.dropped == 1
    assert [a.summary for a in feed.articles] == [
        "Spot bitcoin funds took in $300 million.", "", "DOGE rallied 12%."
    ]
    assert feed.articles[2].published_ns is None


def test_newsapi_error_document_is_not_a_feed() -> None:
    with pytest.raises(NotAFeedError, match="invalid"):
        parse_newsapi(b'{"status":"error","code":"apiKeyInvalid","message":"invalid"}', url="x")


def test_text_is_bounded_at_a_word_boundary() -> None:
    text = html_to_text("<p>" + "word " * 1000 + "</p>", limit=50)
    assert len(text) <= 50 and text.endswith("word…")
    assert clip("x" * 100, 10) == "x" * 9 + "…"


def test_iso_times_with_and_without_zone() -> None:
    assert iso_to_ns("2024-06-04T12:00:00Z") == 1_717_502_400 * SECOND
    assert iso_to_ns("2024-06-04T14:00:00.5+02:00") == 1_717_502_400 * SECOND + SECOND // 2
    assert iso_to_ns("2024-06-04T12:00:00") == 1_717_502_400 * SECOND
    assert iso_to_ns("yesterday") is None and iso_to_ns(None) is None


def test_url_normalization() -> None:
    assert normalize_url("HTTPS://News.Example.ORG:443/a/b?utm_source=x&id=7&UTM_Medium=y#top") == (
        "https://news.example.org/a/b?id=7"
    )
    assert normalize_url("http://example.com") == "http://example.com/"
    assert normalize_url("http://example.com:8080/x") == "http://example.com:8080/x"
    # The path's case is the site's business.
    assert normalize_url("https://example.com/Story") != normalize_url("https://example.com/story")


def test_title_key_ignores_case_punctuation_and_spacing() -> None:
    assert title_key("Bitcoin Climbs Past $70K as ETF Inflows Resume") == title_key(
        "BITCOIN CLIMBS PAST $70K — AS ETF INFLOWS RESUME!"
    )
    assert title_key("  Ether:\tup  ") == "ether up"
    assert title_key("Ripple’s XRP") == "ripple s xrp"
    assert title_key("!!!") == ""


def test_deduper_checks_the_database_and_the_harvest_so_far(tmp_path: Path) -> None:
    conn = open_store(tmp_path / "edge.db")
    conn.execute(
        "INSERT INTO news_articles (url, title, title_key, summary, source, symbols, "
        "published_ns, fetched_ns) VALUES ('https://a.example/1', 'Old', 'old', '', 's', '', "
        "NULL, 1)"
    )
    deduper = Deduper(conn, ["https://a.example/1", "https://a.example/2"], ["old", "new"])

    assert not deduper.admit("https://a.example/1", "other")  # URL stored before
    assert not deduper.admit("https://a.example/9", "old")  # title stored before
    assert deduper.admit("https://a.example/2", "new")
    assert not deduper.admit("https://a.example/3", "new")  # title seen this harvest
    conn.close()
