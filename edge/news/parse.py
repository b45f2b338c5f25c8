"""Feed documents (RSS 0.9x/1.0/2.0, Atom) and NewsAPI answers → plain articles.

The boundary where the outside world's text becomes ours: titles and summaries
as plain text of bounded length, links absolute, times as UTC nanoseconds or
None. feedparser does the XML (and the broken XML, and the lying encodings);
this module decides what of its output to trust.
"""

from __future__ import annotations

import calendar
import html
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import orjson

TITLE_MAX_CHARS = 300
SUMMARY_MAX_CHARS = 1000
"""Enough for a scorer's prompt; some feeds put whole articles in their summaries."""

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"}
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class RawArticle:
    """One entry of a source, cleaned but not yet deduplicated or tagged."""

    title: str
    url: str
    summary: str
    published_ns: int | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a document gave: its articles, and what was wrong with it, if anything."""

    articles: list[RawArticle]
    problem: str | None = None
    """Why the document was not clean (broken XML, a wrong encoding) though usable."""
    dropped: int = 0
    """Entries without a title or a usable link."""


class NotAFeedError(ValueError):
    """The bytes are not a feed (an HTML error page, a truncated body, JSON)."""


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def clip(text: str, limit: int) -> str:
    """``text`` with whitespace collapsed, cut at a word boundary to ``limit`` chars."""
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    # A single giant "word" (a URL) is cut mid-word rather than dropped.
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def html_to_text(markup: str, limit: int = SUMMARY_MAX_CHARS) -> str:
    """The readable text of an HTML fragment: no tags, scripts or styles, entities decoded."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    # A second unescape: many CMSs escape their HTML twice, leaving "&nbsp;" in the text.
    return clip(html.unescape("".join(extractor.parts)), limit)


def _text(detail: Any, value: str, limit: int) -> str:
    kind = detail.get("type", "") if detail else ""
    if kind in _HTML_TYPES:
        return html_to_text(value, limit)
    # Plain text: "BTC < $50k" must not lose its "<" to an HTML parser. Entities
    # are still decoded: feeds escape twice often enough ("&amp;nbsp;").
    return clip(html.unescape(value), limit)


def struct_to_ns(parsed: time.struct_time | None) -> int | None:
    """feedparser's UTC ``struct_time`` as nanoseconds since the epoch (None stays None)."""
    if parsed is None:
        return None
    try:
        return calendar.timegm(parsed) * 1_000_000_000
    except (OverflowError, ValueError, TypeError):
        return None


def iso_to_ns(value: object) -> int | None:
    """An ISO 8601 timestamp (``2024-05-01T12:00:00Z``) as UTC ns; None if unparseable.

    A time without a zone is taken as UTC: NewsAPI always sends ``Z``.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return calendar.timegm(moment.utctimetuple()) * 1_000_000_000 + moment.microsecond * 1000


def _http_url(value: str, base: str) -> str | None:
    url = urljoin(base, value.strip())
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _entry_link(entry: Any, base: str) -> str | None:
    link = entry.get("link") or ""
    if entry.get("guidislink"):
        # feedparser turns a <guid> into the link when there is no <link>; a guid
        # that is not itself a URL ("12345") would resolve into a page that
        # does not exist (ENV-NOTES), so only an absolute guid is a link.
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
    for candidate in entry.get("links") or ():
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            link = link or candidate["href"]
            break
    return _http_url(link, base) if link else None


def parse_feed(body: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """Parse an RSS/RDF/Atom document fetched from ``url`` (after redirects).

    Broken XML is tolerated: the entries feedparser recovered are kept and the
    problem is returned for the caller to log. A document with no entries and no
    sign of being a feed raises :class:`NotAFeedError`.
    """
    # No content-location: feedparser would resolve a non-URL guid against it.
    # Relative links are resolved below instead, against the final URL.
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    problem = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        problem = f"{type(exc).__name__}: {exc}" if exc is not None else "not well-formed"
    if not parsed.entries and not parsed.get("version"):
        raise NotAFeedError(problem or "no feed found in the document")
    articles: list[RawArticle] = []
    dropped = 0
    for entry in parsed.entries:
        title = _text(entry.get("title_detail"), entry.get("title", ""), TITLE_MAX_CHARS)
        link = _entry_link(entry, url)
        if not title or link is None:
            dropped += 1
            continue
        summary_value = entry.get("summary", "")
        detail = entry.get("summary_detail")
        if (not detail or not summary_value) and entry.get("content"):
            detail = entry["content"][0]
            summary_value = detail.get("value", "")
        # dict.get, not the entry's own: feedparser maps a missing updated_parsed to
        # published_parsed with a DeprecationWarning (its issue 310).
        published = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
        articles.append(
            RawArticle(
                title=title,
                url=link,
                summary=_text(detail, summary_value, SUMMARY_MAX_CHARS),
                published_ns=struct_to_ns(published),
            )
        )
    return ParsedFeed(articles, problem, dropped)


_NEWSAPI_REMOVED = "[Removed]"
"""The title NewsAPI gives an article its publisher withdrew."""


def parse_newsapi(body: bytes, *, url: str) -> ParsedFeed:
    """Parse a NewsAPI ``/v2/everything`` or ``/v2/top-headlines`` answer."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotAFeedError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("articles"), list):
        status = doc.get("status") if isinstance(doc, dict) else None
        message = doc.get("message") if isinstance(doc, dict) else None
        raise NotAFeedError(f"no articles in the answer (status {status!r}: {message})")
    articles: list[RawArticle] = []
    dropped = 0
    for item in doc["articles"]:
        if not isinstance(item, dict):
            dropped += 1
            continue
        title = clip(str(item.get("title") or ""), TITLE_MAX_CHARS)
        link = _http_url(str(item.get("url") or ""), url)
        if not title or title == _NEWSAPI_REMOVED or link is None:
            dropped += 1
            continue
        # NewsAPI descriptions are often HTML snippets despite being "text".
        summary = html_to_text(str(item.get("description") or ""))
        articles.append(RawArticle(title, link, summary, iso_to_ns(item.get("publishedAt"))))
    return ParsedFeed(articles, None, dropped)

