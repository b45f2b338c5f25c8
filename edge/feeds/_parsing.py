"""Small exact parsers the exchange modules share: times, positive decimals, truncation.

Kept apart from :mod:`edge.feeds.base` because they are wire-format helpers, not part
of the feed interface; the leading underscore keeps :func:`edge.feeds.load_feeds`
from taking this module for an exchange.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from shared.book import OrderBook
from shared.errors import BookError, MessageError

BAD_INPUT = (
    MessageError, BookError, KeyError, IndexError, TypeError, ValueError, ArithmeticError,
    AttributeError,
)
"""Everything a hostile or truncated message can make a parser raise (``InvalidOperation``
from ``Decimal`` is an ``ArithmeticError``, ``orjson.JSONDecodeError`` a ``ValueError``,
and ``.get`` on a list where an object belongs an ``AttributeError``)."""


@lru_cache(maxsize=4096)
def _epoch_seconds(text: str) -> int:
    # Cached: consecutive messages share their whole second, and strptime-like
    # parsing is the slowest step of a small update.
    return calendar.timegm(datetime.fromisoformat(text).timetuple())


def iso_to_ns(text: str) -> int:
    """RFC 3339 UTC time (``2025-05-06T09:17:26.208075Z``, up to 9 decimals) -> epoch ns."""
    head, _, frac = text.partition(".")
    if frac:
        end = 0
        while end < len(frac) and frac[end].isdigit():
            end += 1
        frac = frac[:end]
    seconds = _epoch_seconds(head.rstrip("Z").replace("T", " ")[:19])
    return seconds * 1_000_000_000 + int((frac + "000000000")[:9])


def seconds_to_ns(text: str) -> int:
    """Decimal seconds as a string (``"1618678142.557535"``) -> epoch ns, exactly."""
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise MessageError(f"{text!r} is not a time in seconds")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def positive_decimal(value: Any) -> Decimal:
    """A trade price or size as an exact ``Decimal``; refuses zero, negatives, NaN, junk.

    Floats (JSON numbers) go through ``repr``, which gives back the digits sent.
    """
    text = repr(value) if isinstance(value, float) else value
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise MessageError(f"{value!r} is not a number")
    number = Decimal(text)
    if not number.is_finite() or number <= 0:
        raise MessageError(f"{value!r} is not a positive number")
    return number


def truncate(book: OrderBook, depth: int) -> None:
    """Drop the levels beyond ``depth`` on each side, keeping the best.

    Feeds whose exchange says "truncate after the whole message" keep books with
    ``depth=None`` and call this once per message: truncating per level would drop
    a level that a later delete in the same message brings back into scope.
    """
    bids = book.bid_prices()
    if len(bids) > depth:
        for price in bids[: len(bids) - depth]:
            book.set_bid(price, 0)
    asks = book.ask_prices()
    if len(asks) > depth:
        for price in asks[depth:]:
            book.set_ask(price, 0)
