"""When two articles are the same one: normalized URLs and title keys.

The same story reaches us twice in two ways: one URL dressed differently
(``HTTPS://Example.com/a#top``, ``...?utm_source=twitter``), or one headline
syndicated under different URLs. Both keys are unique in ``news_articles``;
:class:`Deduper` checks them against the database and within one harvest, so
the writer's ``INSERT OR IGNORE`` is a last line of defence, not the filter.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NOT_WORD = re.compile(r"[\W_]+")
_CHUNK = 500
"""Keys per ``IN (...)`` query: well under SQLite's bound-parameter limit."""


def normalize_url(url: str) -> str:
    """``url`` with scheme and host lowercased, default port, fragment and ``utm_*`` dropped.

    Other query parameters stay, in their order: on many news sites ``?id=`` is
    the article.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_")
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def title_key(title: str) -> str:
    """The headline reduced to lowercase words: punctuation and spacing don't make news."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return _NOT_WORD.sub(" ", folded).strip()


def _known(conn: sqlite3.Connection, column: str, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        # ``column`` is one of two literals below, never outside input.
        rows = conn.execute(
            f"SELECT {column} FROM news_articles WHERE {column} IN ({marks})", chunk
        )
        found.update(row[0] for row in rows)
    return found


class Deduper:
    """Admits each (URL, title key) once: not if stored before, not twice in a harvest."""

    def __init__(self, conn: sqlite3.Connection, urls: Iterable[str], titles: Iterable[str]):
        """Look the candidates' keys up in the database once, up front."""
        self._urls = _known(conn, "url", sorted(set(urls)))
        self._titles = _known(conn, "title_key", sorted(set(titles)))

    def admit(self, url: str, key: str) -> bool:
        """True (and remember both keys) if neither was seen; False for a duplicate."""
        if url in self._urls or key in self._titles:
            return False
        self._urls.add(url)
        self._titles.add(key)
        return True
