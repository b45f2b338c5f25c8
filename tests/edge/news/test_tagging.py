"""Symbol tagging from the configured aliases: whole words, any case, cashtags."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from edge.news.tagging import SymbolTagger, symbols_text
from shared.config.news import NewsConfig

ALIASES = NewsConfig().aliases
TAGGER = SymbolTagger(ALIASES)
ALL_ALIASES = {a for words in ALIASES.values() for a in words}


def test_aliases_match_whole_words_in_any_case() -> None:
    assert TAGGER.tag("Bitcoin rallies as ETHEREUM lags") == ["BTC", "ETH"]
    assert TAGGER.tag("eth/btc ratio hits a low") == ["BTC", "ETH"]
    assert TAGGER.tag("ETH-based tokens, SOL/USDT pairs") == ["ETH", "SOL"]


def test_a_symbol_inside_a_longer_word_is_not_a_mention() -> None:
    assert TAGGER.tag("Ethos Labs raises money") == []
    assert TAGGER.tag("A solid quarter for solar stocks") == []
    assert TAGGER.tag("Adams and the Bethesda team") == []
    assert TAGGER.tag("Satoshis are sats") == ["BTC"]  # "sats" is an alias, "Satoshis" isn't


def test_cashtags_count_even_without_an_alias() -> None:
    tagger = SymbolTagger({"SOL": ["solana"], "PEPE": []})
    assert tagger.tag("$SOL up, $pepe down") == ["PEPE", "SOL"]
    assert tagger.tag("SOL up, PEPE down") == []


def test_multiword_aliases_match_across_any_whitespace() -> None:
    assert TAGGER.tag("Binance\n  Coin holders vote") == ["BNB"]
    assert TAGGER.tag("Binance coinbase rivalry") == []


def test_every_text_given_is_searched_and_symbols_come_back_sorted() -> None:
    assert TAGGER.tag("Dogecoin surges", "while XRP waits") == ["DOGE", "XRP"]


def test_stored_form_is_comma_separated_and_empty_when_none() -> None:
    assert symbols_text(["BTC", "ETH"]) == "BTC,ETH"
    assert symbols_text([]) == ""


@given(
    prefix=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=4),
    alias=st.sampled_from(["btc", "eth", "sol", "ada", "xrp", "doge", "ltc", "bnb"]),
)
def test_an_alias_glued_to_other_word_characters_never_tags(prefix: str, alias: str) -> None:
    # "eth" + "er" is "ether", itself an alias: not a glued word.
    assume(f"{prefix}{alias}" not in ALL_ALIASES and f"{alias}{prefix}" not in ALL_ALIASES)
    assert TAGGER.tag(f"{prefix}{alias} and {alias}{prefix}".upper()) == []
