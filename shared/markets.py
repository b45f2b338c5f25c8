"""The market-metadata cache: one JSON file per exchange, read by the agent and the hub.

``tickerml edge markets`` (``edge.history.metadata``) fetches each exchange's
markets through ccxt and writes ``<cache dir>/<exchange>.json``; the agent trades
with it and ``tickerml hub import-db`` copies it into the hub's own cache
(``<hub data_dir>/markets``), so a backtest on either store rounds and charges the
way the venue does. Only reading lives here: writing needs ccxt, which the hub
never installs for this.

File format (``format`` 1)::

    {"format": 1, "exchange": "binanceus", "fetched_at_ms": 1700000000000,
     "ccxt_version": "4.x", "markets": {"BTC/USDT": {MarketInfo.to_json()}, ...}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.errors import OperationalError
from shared.trading.types import Instrument

CACHE_FORMAT_VERSION = 1
CACHE_DIR = "markets"
"""The cache folder's name inside a data_dir, on the agent (its default) and the hub."""
DEFAULT_FEE = Decimal("0.001")
"""Taker and maker fee used when no fee is published (the common base tier)."""


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """What the paper broker needs to know about one spot market.

    Every size is an exact ``Decimal``; ``None`` where the exchange publishes
    nothing (ccxt's SIGNIFICANT_DIGITS precision, for instance, has no fixed tick).
    Fees are ccxt's published base-tier rates as fractions (0.001 = 0.1 %):
    account-specific rates need API keys, which the agent never holds.
    """

    exchange: str
    symbol: str
    market_id: str
    tick_size: Decimal | None
    lot_size: Decimal | None
    min_amount: Decimal | None
    min_notional: Decimal | None
    maker_fee: Decimal | None
    taker_fee: Decimal | None
    active: bool | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: decimals as strings so nothing is rounded on disk."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Decimal):
                out[key] = format(value, "f")
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MarketInfo:
        """Inverse of :meth:`to_json`."""

        def dec(key: str) -> Decimal | None:
            value = data.get(key)
            return None if value is None else Decimal(value)

        return cls(
            exchange=str(data["exchange"]),
            symbol=str(data["symbol"]),
            market_id=str(data["market_id"]),
            tick_size=dec("tick_size"),
            lot_size=dec("lot_size"),
            min_amount=dec("min_amount"),
            min_notional=dec("min_notional"),
            maker_fee=dec("maker_fee"),
            taker_fee=dec("taker_fee"),
            active=data.get("active"),
        )


def cache_file(cache_dir: Path, exchange: str) -> Path:
    """Where an exchange's metadata is cached."""
    return Path(cache_dir) / f"{exchange}.json"


def read_cache(path: Path, exchange: str) -> tuple[int, dict[str, MarketInfo]] | None:
    """(fetched_at_ms, markets) from a cache file; ``None`` when there is none.

    A cache that exists but cannot be read is an ``OperationalError`` naming the
    file: deleting it is the fix, and silently ignoring it would hide a bad disk.
    """
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != CACHE_FORMAT_VERSION or doc.get("exchange") != exchange:
            raise ValueError("written by another version or for another exchange")
        markets = {s: MarketInfo.from_json(m) for s, m in doc["markets"].items()}
        return int(doc["fetched_at_ms"]), markets
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
        raise OperationalError(
            f"{path}: unreadable market-metadata cache ({exc}); delete it to refetch"
        ) from None


def cached_instrument(cache_dir: Path, exchange: str, symbol: str) -> Instrument | None:
    """The backtest's instrument from a metadata cache, if it knows the market's steps.

    ``None`` when the cache has no file for the exchange, no entry for the symbol,
    or no fixed tick or lot for it: the caller then infers them from stored prices.
    """
    cached = read_cache(cache_file(cache_dir, exchange), exchange)
    if cached is None:
        return None
    info = cached[1].get(symbol)
    if info is None or info.tick_size is None or info.lot_size is None:
        return None
    return Instrument(
        exchange, symbol, info.tick_size, info.lot_size,
        min_notional=info.min_notional or Decimal(0),
        min_qty=info.min_amount or Decimal(0),
        maker_fee=info.maker_fee if info.maker_fee is not None else DEFAULT_FEE,
        taker_fee=info.taker_fee if info.taker_fee is not None else DEFAULT_FEE,
    )
