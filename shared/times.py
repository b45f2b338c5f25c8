"""One way to read a time a person or a file gives: epoch numbers and ISO-8601.

Every ``--from/--to/--since/--until`` option and every time column of an imported
file goes through :func:`parse_time_ns`, so "2024-03-01", "2024-03-01T12:00Z" and
"1709294400000" mean the same thing everywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

NS_PER_S = 1_000_000_000
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
"""A plain decimal number, optionally with an exponent."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_FRACTION = re.compile(r"^(.*?\d{2}:\d{2}:\d{2})(?:\.(\d+))?(.*)$")


def time_ns_from_number(value: Decimal) -> int:
    """An epoch time given as a number, unit guessed by magnitude (s, ms, µs or ns).

    Ranges are the years 1973-5138 in each unit, which never overlap.
    """
    magnitude = abs(value)
    if magnitude < Decimal("1e11"):
        factor = 1_000_000_000
    elif magnitude < Decimal("1e14"):
        factor = 1_000_000
    elif magnitude < Decimal("1e17"):
        factor = 1_000
    else:
        factor = 1
    return int(value * factor)


def is_date(text: str) -> bool:
    """``YYYY-MM-DD`` alone, a whole day."""
    return bool(_DATE.match(text.strip()))


def parse_time_ns(text: str) -> int:
    """An epoch number (any unit) or an ISO-8601 time (naive = UTC) as epoch ns.

    Raises :class:`ValueError` naming the text when it is neither.
    """
    s = text.strip()
    if NUMBER.match(s):
        return time_ns_from_number(Decimal(s))
    # datetime keeps only µs; the fraction is read separately to keep ns exact.
    match = _ISO_FRACTION.match(s)
    head, fraction, tail = match.groups() if match else (s, None, "")
    tail = "+00:00" if tail == "Z" else tail
    try:
        dt = datetime.fromisoformat(head + tail)
    except ValueError:
        raise ValueError(f"not a time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    seconds = int(dt.timestamp())
    return seconds * NS_PER_S + int(((fraction or "") + "000000000")[:9])


def end_of_day_ns(text: str) -> int:
    """The last nanosecond of the UTC day ``text`` (``YYYY-MM-DD``) names."""
    day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    return int((day + timedelta(days=1)).timestamp()) * NS_PER_S - 1
