"""The exchange and symbol an import is stored under, whatever the user typed.

``tickerml data import --exchange Binance.US --symbol btc-usdt`` must land in the
same series as the live collector's ``binanceus BTC/USDT``: one market under two
spellings would be two series that backtests and the sync treat apart. The known
exchanges are the feeds registry's (:func:`edge.feeds.load_feeds`); an exchange
outside it (a venue the agent has no feed for, such as ``ftx``) is refused unless
the user says it is meant (``--exchange-unlisted``). Each feed declares its own
asset codes (:attr:`edge.feeds.base.ExchangeFeed.asset_aliases`), so Kraken's
``XBT/USD`` becomes ``BTC/USD`` without generic code knowing about Kraken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge.feeds import load_feeds
from shared.errors import OperationalError
from shared.symbols import SymbolError, normalize_symbol

_PUNCTUATION = re.compile(r"[\s._\-]+")
_NAME = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Market:
    """Where imported rows go: the stored exchange name and unified symbol."""

    exchange: str
    symbol: str
    listed: bool
    """False for an exchange outside the feeds registry (``--exchange-unlisted``)."""


def known_exchanges() -> list[str]:
    """The exchanges the agent has a feed for, sorted."""
    return sorted(load_feeds())


def resolve_market(exchange: str, symbol: str, *, unlisted: bool = False) -> Market:
    """``exchange`` as a registry name and ``symbol`` as unified ``BASE/QUOTE``.

    Case and punctuation of the exchange are ignored (``Binance.US`` is
    ``binanceus``). :class:`OperationalError` for an exchange not in the registry
    (listing the known ones) unless ``unlisted``, and for an unreadable symbol.
    """
    feeds = load_feeds()
    name = _PUNCTUATION.sub("", exchange.strip().lower())
    feed = feeds.get(name)
    if feed is None:
        if not unlisted:
            raise OperationalError(
                f"--exchange {exchange!r}: not a known exchange (known: "
                f"{', '.join(sorted(feeds))}); to import it under this name anyway, add "
                "--exchange-unlisted"
            )
        if not _NAME.fullmatch(name):
            raise OperationalError(
                f"--exchange {exchange!r}: use letters and digits only, e.g. ftx"
            )
    aliases = feed.asset_aliases if feed is not None else {}
    try:
        unified = normalize_symbol(symbol, aliases)
    except SymbolError as exc:
        raise OperationalError(f"--symbol: {exc}") from None
    return Market(name, unified, feed is not None)
