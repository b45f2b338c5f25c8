"""Exact decimals from the numbers exchanges and files hand us.

ccxt and JSON parsers return binary floats. ``Decimal(0.1)`` would keep the
float's binary expansion (0.1000000000000000055...), so a float goes through
``repr`` first: the shortest string that round-trips, which is what the
exchange sent in the first place. Strings and ints are taken as they are.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

NS_PER_MS = 1_000_000
MINUTE_MS = 60_000


def exact_decimal(value: object) -> Decimal:
    """``value`` (float, int, str or Decimal) as an exact, finite Decimal.

    Raises ``ValueError`` for booleans, NaN, infinities and text that is not a number.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise ValueError(f"not a number: {value!r}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def decimal_text(value: Decimal) -> str:
    """The storage form of a price or size: plain notation, never an exponent."""
    return format(value, "f")
