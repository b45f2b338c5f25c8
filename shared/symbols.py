"""Symbols in the one unified form, ``BASE/QUOTE`` in capitals, from any spelling.

Files and people write a market many ways: ``BTCUSDT`` (Binance), ``btc-usdt``
(Coinbase, KuCoin), ``BTC_USDT`` (freqtrade file names), ``XBT/USD`` (Kraken).
Stored under each spelling, one market would become several series, so every
symbol that enters from outside is normalized here first:

* a separator (``/``, ``-``, ``_``, ``:`` or a space) splits base and quote;
* without one, the longest known quote currency at the end splits it
  (``BTCUSDT`` -> ``BTC/USDT``, not ``BTCUSD/T``), unless a shorter one leaves the
  exchange's own code for the base (Kraken's ``XBTUSD`` is ``XBT/USD``);
* an exchange's own asset codes become the unified ones through the aliases its
  feed declares (Kraken: ``XBT`` -> ``BTC``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_KNOWN = (
    "USDT USDC USD BUSD FDUSD TUSD USDP DAI PAX UST EUR GBP JPY AUD CAD CHF TRY BRL "
    "RUB UAH ZAR PLN MXN ARS KRW IDRT BIDR NGN BTC ETH BNB XRP TRX DOGE DOT SOL"
)
KNOWN_QUOTES: tuple[str, ...] = tuple(sorted(_KNOWN.split(), key=len, reverse=True))
"""Quote currencies a symbol without a separator may end with, longest first."""

_SEPARATORS = re.compile(r"[/\-_: ]")
_ASSET = re.compile(r"[A-Z0-9]+(\.[A-Z0-9]+)?")


class SymbolError(ValueError):
    """A symbol that cannot be read as BASE/QUOTE; the message says how to write it."""


def normalize_symbol(text: str, aliases: Mapping[str, str] | None = None) -> str:
    """``text`` as unified ``BASE/QUOTE``; :class:`SymbolError` when it can't be read.

    ``aliases`` maps an exchange's asset codes to unified ones (``{"XBT": "BTC"}``);
    its codes count as quote currencies too when a symbol has no separator
    (``XBTUSD`` -> ``BTC/USD``).
    """
    aliases = aliases or {}
    raw = text.strip().upper()
    parts = _SEPARATORS.split(raw)
    if len(parts) == 1:
        quotes = sorted({*KNOWN_QUOTES, *aliases}, key=len, reverse=True)
        fits = [q for q in quotes if raw.endswith(q) and len(raw) > len(q)]
        # The exchange's own base code settles a tie: XBTUSD is XBT/USD, not XB/TUSD.
        quote = next((q for q in fits if raw[: -len(q)] in aliases), fits[0] if fits else None)
        if quote is None:
            raise SymbolError(
                f"symbol {text!r}: no separator and no known quote currency at its end "
                f"(known: {', '.join(sorted(KNOWN_QUOTES))}); write it BASE/QUOTE, "
                "e.g. BTC/USDT"
            )
        parts = [raw[: -len(quote)], quote]
    if len(parts) != 2 or not all(_ASSET.fullmatch(p) for p in parts):
        raise SymbolError(f"symbol {text!r}: write it BASE/QUOTE, e.g. BTC/USDT")
    base, quote = (aliases.get(p, p) for p in parts)
    return f"{base}/{quote}"
