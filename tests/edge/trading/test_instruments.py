"""Instruments from ccxt market metadata, with the documented defaults for gaps."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge.history.metadata import MarketInfo, MarketMetadata
from edge.trading.instruments import (
    DEFAULT_FEE,
    DEFAULT_STEP,
    instrument_from_market,
    instruments_for,
)
from shared.errors import OperationalError


def _info(**overrides: object) -> MarketInfo:
    fields: dict[str, object] = {
        "exchange": "kraken", "symbol": "BTC/USD", "market_id": "XBTUSD",
        "tick_size": Decimal("0.1"), "lot_size": Decimal("0.00000001"),
        "min_amount": Decimal("0.0001"), "min_notional": Decimal("0.5"),
        "maker_fee": Decimal("0.0025"), "taker_fee": Decimal("0.004"), "active": True,
    }
    fields.update(overrides)
    return MarketInfo(**fields)  # type: ignore[arg-type]


def test_published_rules_and_fees_carry_over_exactly() -> None:
    instrument = instrument_from_market(_info())

    assert (instrument.exchange, instrument.symbol) == ("kraken", "BTC/USD")
    assert instrument.tick_size == Decimal("0.1")
    assert instrument.min_qty == Decimal("0.0001")
    assert instrument.min_notional == Decimal("0.5")
    assert (instrument.maker_fee, instrument.taker_fee) == (Decimal("0.0025"), Decimal("0.004"))


def test_fields_the_exchange_does_not_publish_get_the_documented_defaults() -> None:
    instrument = instrument_from_market(_info(
        tick_size=None, lot_size=None, min_amount=None, min_notional=None,
        maker_fee=None, taker_fee=None,
    ))

    assert instrument.tick_size == instrument.lot_size == DEFAULT_STEP
    assert instrument.min_qty == instrument.min_notional == 0
    assert instrument.maker_fee == instrument.taker_fee == DEFAULT_FEE


def test_instruments_are_keyed_by_exchange_and_symbol_and_unknown_symbols_fail() -> None:
    metadata = MarketMetadata("kraken", 0, {"BTC/USD": _info()}, from_cache=True)

    assert list(instruments_for(metadata, ["BTC/USD"])) == [("kraken", "BTC/USD")]
    with pytest.raises(OperationalError, match="DOGE/USD"):
        instruments_for(metadata, ["DOGE/USD"])
