"""Exchange feeds: one module per exchange, each registering itself in ``FEEDS``.

A new exchange is one new file in this package; :func:`load_feeds` imports every
module here so its ``@register`` runs.
"""

from __future__ import annotations

import importlib
import pkgutil

from edge.feeds.base import FEEDS, ExchangeFeed, FeedSink, NullSink, SymbolStats, register

__all__ = ["FEEDS", "ExchangeFeed", "FeedSink", "NullSink", "SymbolStats", "feed_class", "register"]


def load_feeds() -> dict[str, type[ExchangeFeed]]:
    """Import every exchange module in this package and return the registry."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return FEEDS


def feed_class(exchange: str) -> type[ExchangeFeed]:
    """The feed class registered as ``exchange``; the error lists the known ones."""
    feeds = load_feeds()
    try:
        return feeds[exchange]
    except KeyError:
        raise KeyError(
            f"unknown exchange {exchange!r}; known: {', '.join(sorted(feeds))}"
        ) from None
