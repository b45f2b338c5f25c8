"""Paper-trading instruments from the exchange's published market metadata.

ccxt's ``load_markets`` (``edge.history.metadata``) gives each market's tick,
lot, minimums and base-tier fees. Where an exchange publishes nothing for a
field, the defaults below apply; they are deliberately fine-grained or
conservative, so a missing value never lets a paper order do what a real one
could not do cheaply:

* tick and lot: ``DEFAULT_STEP`` (1e-8, the finest step the supported venues
  quote spot prices and sizes in), so rounding changes nothing it should not;
* minimum quantity and notional: 0 (no minimum is enforced that the venue did
  not publish);
* maker and taker fee: ``DEFAULT_FEE`` (0.1 %, the base tier on Binance,
  Binance.US and KuCoin, and below Coinbase's and Kraken's, whose metadata
  always carries fees).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from edge.history.metadata import MarketInfo, MarketMetadata
from shared.trading.types import Instrument

DEFAULT_STEP = Decimal("0.00000001")
"""Tick or lot when the exchange publishes none (ccxt's SIGNIFICANT_DIGITS mode)."""
DEFAULT_FEE = Decimal("0.001")
"""Maker and taker fee when the exchange publishes none."""


def instrument_from_market(info: MarketInfo) -> Instrument:
    """The paper broker's :class:`Instrument` for one market, defaults filled in."""

    def step(value: Decimal | None) -> Decimal:
        return value if value is not None and value > 0 else DEFAULT_STEP

    def fee(value: Decimal | None) -> Decimal:
        return value if value is not None and value >= 0 else DEFAULT_FEE

    return Instrument(
        exchange=info.exchange,
        symbol=info.symbol,
        tick_size=step(info.tick_size),
        lot_size=step(info.lot_size),
        min_notional=info.min_notional if info.min_notional is not None else Decimal(0),
        min_qty=info.min_amount if info.min_amount is not None else Decimal(0),
        maker_fee=fee(info.maker_fee),
        taker_fee=fee(info.taker_fee),
    )


def instruments_for(
    metadata: MarketMetadata, symbols: Iterable[str]
) -> dict[tuple[str, str], Instrument]:
    """Instruments keyed by (exchange, symbol) for the symbols a strategy trades.

    An unknown symbol raises ``OperationalError`` naming similar markets.
    """
    out: dict[tuple[str, str], Instrument] = {}
    for symbol in symbols:
        instrument = instrument_from_market(metadata.market(symbol))
        out[(instrument.exchange, instrument.symbol)] = instrument
    return out
