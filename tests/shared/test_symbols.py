"""One unified BASE/QUOTE for every usual spelling of a market."""

from __future__ import annotations

import pytest

from shared.symbols import SymbolError, normalize_symbol

KRAKEN = {"XBT": "BTC", "XDG": "DOGE", "XXBT": "BTC", "ZUSD": "USD"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BTC/USDT", "BTC/USDT"), ("BTCUSDT", "BTC/USDT"), ("btcusdt", "BTC/USDT"),
        ("btc-usdt", "BTC/USDT"), ("BTC_USDT", "BTC/USDT"), ("btc/usdt", "BTC/USDT"),
        (" BTC:USDT ", "BTC/USDT"), ("OMGBUSD", "OMG/BUSD"), ("ETHBTC", "ETH/BTC"),
        ("BTCUSDC", "BTC/USDC"), ("XRPEUR", "XRP/EUR"), ("1INCHUSDT", "1INCH/USDT"),
    ],
)
def test_every_usual_spelling_becomes_base_slash_quote(text: str, expected: str) -> None:
    """Tried: separators of every kind, none, lower case. Kept: one BASE/QUOTE; without
    a separator the longest known quote wins (BUSD over USD, USDT over USD)."""
    assert normalize_symbol(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("XBT/USD", "BTC/USD"), ("xbt-usd", "BTC/USD"), ("XBTUSD", "BTC/USD"),
     ("XDG/XBT", "DOGE/BTC"), ("ETHXBT", "ETH/BTC"), ("XXBTZUSD", "BTC/USD")],
)
def test_an_exchanges_own_asset_codes_become_the_unified_ones(text: str, expected: str) -> None:
    assert normalize_symbol(text, KRAKEN) == expected


def test_without_aliases_an_exchange_code_is_kept_as_written() -> None:
    assert normalize_symbol("XBT/USD") == "XBT/USD"


@pytest.mark.parametrize("text", ["BTC", "", "BTC/USDT/X", "BTC//USDT", "BT$/USDT", "ABCXYZ"])
def test_an_unreadable_symbol_says_how_to_write_it(text: str) -> None:
    with pytest.raises(SymbolError, match="BASE/QUOTE"):
        normalize_symbol(text)
