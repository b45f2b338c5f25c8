"""Which symbols an article is about, from the configured aliases.

Matching is case-insensitive on whole words: "ETH" tags "ETH rallies" but not
"Ethos", "SOL" tags "SOL/USDT" but not "solid". A cashtag of the symbol itself
("$BTC") always counts, whatever the aliases say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


def _alias_pattern(alias: str) -> str:
    words = alias.split()
    # "binance coin" also matches across a line break or double space.
    return r"\s+".join(re.escape(word) for word in words)


class SymbolTagger:
    """Tags text with the symbols whose aliases occur in it as whole words."""

    def __init__(self, aliases: Mapping[str, Sequence[str]]) -> None:
        """``aliases``: symbol → words (``{"BTC": ["bitcoin", "btc"]}``)."""
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for symbol in sorted(aliases):
            alternatives = [_alias_pattern(a) for a in aliases[symbol] if a.strip()]
            alternatives.append(r"\$" + re.escape(symbol))
            # (?<!\w) / (?!\w) rather than \b: an alias may begin or end with a
            # non-word character, where \b would demand a word on the other side.
            pattern = r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)"
            self._patterns.append((symbol, re.compile(pattern, re.IGNORECASE)))

    def tag(self, *texts: str) -> list[str]:
        """The symbols mentioned in any of ``texts``, sorted."""
        return [
            symbol
            for symbol, pattern in self._patterns
            if any(pattern.search(text) for text in texts)
        ]


def symbols_text(symbols: Sequence[str]) -> str:
    """The stored form: ``"BTC,ETH"``, ``""`` when none."""
    return ",".join(symbols)
