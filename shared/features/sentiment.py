"""News sentiment features from the agent's hourly roll-up rows.

The agent rolls scored news up into one ``news_sentiment_hourly`` row per
(symbol, closed hour); :func:`sentiment_features` turns those rows into a fixed
float32 vector for one symbol at one instant. The edge calls it at inference time
on the rows in its own database, the hub on the synced copies of the same rows
while building datasets: same rows in, bit-identical floats out.

No look-ahead: a row exists for a consumer only once its hour has closed *and*
the agent has computed it (``computed_ns``). An hour rolled up at 13:01 is
invisible to a feature taken at 13:00:30, on the agent as in a dataset, so the
model never trains on news it could not have had.

Every feature depends only on rows whose hour ended within the last
:data:`SENTIMENT_WINDOW_HOURS` before ``as_of_ns``: the edge can pass just its
recent rows and the hub all of them, and both get the same vector.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

HOUR_NS = 3_600_000_000_000
"""One hour in nanoseconds: the roll-up's bucket."""

MARKET_SYMBOL = "*"
"""The symbol of market-wide rows (the same value as ``edge.news.types.MARKET``)."""

SENTIMENT_SPEC_VERSION = 1
"""Bump when a feature's meaning changes, even if the names stay."""

SENTIMENT_WINDOW_HOURS = 24
"""How far back (hours before ``as_of_ns``) the features look."""

_SCOPES = ("news_sym", "news_mkt")
"""The symbol's own rows, then the market-wide rows: a model sees both."""

_PER_SCOPE = (
    "last_articles",
    "last_mean",
    "last_weighted",
    "last_dispersion",
    "last_negative_share",
    "hours_since",
    f"articles_{SENTIMENT_WINDOW_HOURS}h",
    f"weighted_{SENTIMENT_WINDOW_HOURS}h",
    "regime_score",
)

SENTIMENT_FEATURES: tuple[str, ...] = tuple(f"{s}_{n}" for s in _SCOPES for n in _PER_SCOPE)
"""Feature names, in vector order. Per scope (``news_sym`` for the symbol, ``news_mkt``
for market-wide news): the latest visible hour's article count, mean score,
confidence×relevance-weighted score, dispersion and share of negative labels; hours
since that hour ended (``SENTIMENT_WINDOW_HOURS`` when there was no news in the
window); articles in the window and their article-weighted ``weighted`` score; the
latest visible row's regime score. Scores lie in -1 … 1; with no news every feature
is 0 except ``hours_since``."""


@dataclass(frozen=True, slots=True)
class HourlySentiment:
    """One ``news_sentiment_hourly`` row (every column but the local id)."""

    symbol: str
    hour_start_ns: int
    articles: int
    mean: float
    weighted: float
    dispersion: float
    negative_share: float
    llm_share: float
    regime: str
    regime_score: float
    computed_ns: int

    @property
    def hour_end_ns(self) -> int:
        """When the hour closed: the earliest instant the row may be used."""
        return self.hour_start_ns + HOUR_NS

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> HourlySentiment:
        """From a database row in :data:`COLUMNS` order."""
        return cls(
            symbol=str(row[0]),
            hour_start_ns=int(row[1]),
            articles=int(row[2]),
            mean=float(row[3]),
            weighted=float(row[4]),
            dispersion=float(row[5]),
            negative_share=float(row[6]),
            llm_share=float(row[7]),
            regime=str(row[8]),
            regime_score=float(row[9]),
            computed_ns=int(row[10]),
        )

    def as_row(self) -> tuple[Any, ...]:
        """The values in :data:`COLUMNS` order (what the store writer inserts)."""
        return (
            self.symbol, self.hour_start_ns, self.articles, self.mean, self.weighted,
            self.dispersion, self.negative_share, self.llm_share, self.regime,
            self.regime_score, self.computed_ns,
        )


COLUMNS = (
    "symbol", "hour_start_ns", "articles", "mean", "weighted", "dispersion",
    "negative_share", "llm_share", "regime", "regime_score", "computed_ns",
)
"""The table's columns in :class:`HourlySentiment` field order."""


def spec_hash() -> str:
    """sha256 (hex) of the sentiment feature spec: names in order, version, window."""
    spec = {
        "group": "sentiment",
        "names": list(SENTIMENT_FEATURES),
        "version": SENTIMENT_SPEC_VERSION,
        "window_hours": SENTIMENT_WINDOW_HOURS,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def article_weighted(pairs: Iterable[tuple[int, float]]) -> tuple[int, float]:
    """Total articles and the article-weighted mean of ``(articles, value)`` pairs.

    ``math.fsum`` is exactly rounded, so the result does not depend on the order the
    pairs come in (the hub and the agent may hold rows in different orders).
    """
    items = [(n, v) for n, v in pairs if n > 0]
    total = sum(n for n, _ in items)
    if total == 0:
        return 0, 0.0
    return total, math.fsum(n * v for n, v in items) / total


def visible_rows(
    rows: Iterable[HourlySentiment], symbol: str, as_of_ns: int
) -> list[HourlySentiment]:
    """``symbol``'s rows a consumer at ``as_of_ns`` could have read, oldest hour first.

    Only rows whose hour ended within the window, closed by ``as_of_ns`` and computed
    by then. Should one hour appear twice (two copies of a database), the first
    computed wins, as the append-only table keeps it.
    """
    oldest_end = as_of_ns - SENTIMENT_WINDOW_HOURS * HOUR_NS
    by_hour: dict[int, HourlySentiment] = {}
    for row in rows:
        if (
            row.symbol != symbol
            or row.hour_end_ns > as_of_ns
            or row.hour_end_ns <= oldest_end
            or row.computed_ns > as_of_ns
        ):
            continue
        seen = by_hour.get(row.hour_start_ns)
        if seen is None or row.computed_ns < seen.computed_ns:
            by_hour[row.hour_start_ns] = row
    return [by_hour[hour] for hour in sorted(by_hour)]


def _scope_features(rows: list[HourlySentiment], as_of_ns: int) -> list[float]:
    if not rows:
        return [0.0] * 5 + [float(SENTIMENT_WINDOW_HOURS), 0.0, 0.0, 0.0]
    last = rows[-1]
    articles, weighted = article_weighted((r.articles, r.weighted) for r in rows)
    return [
        float(last.articles),
        last.mean,
        last.weighted,
        last.dispersion,
        last.negative_share,
        (as_of_ns - last.hour_end_ns) / HOUR_NS,
        float(articles),
        weighted,
        last.regime_score,
    ]


def sentiment_features(
    rows: Sequence[HourlySentiment], symbol: str, as_of_ns: int
) -> npt.NDArray[np.float32]:
    """The :data:`SENTIMENT_FEATURES` vector for ``symbol`` at ``as_of_ns`` (float32).

    ``rows`` may hold any symbols and hours; only those visible at ``as_of_ns``
    (see :func:`visible_rows`) for ``symbol`` and for the market count. Values are
    computed in float64 and rounded to float32 once, at the end.
    """
    values: list[float] = []
    for scope_symbol in (symbol, MARKET_SYMBOL):
        values += _scope_features(visible_rows(rows, scope_symbol, as_of_ns), as_of_ns)
    return np.asarray(values, dtype=np.float32)
