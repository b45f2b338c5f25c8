"""An instrument inferred from a store's prices and sizes, where no market metadata is
cached (:mod:`shared.readers`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Decimal

from shared.errors import OperationalError
from shared.markets import DEFAULT_FEE
from shared.readers.stores import agent_scope
from shared.trading.types import Instrument


def _significant_decimals(values: Iterable[str]) -> int:
    most = 0
    for text in values:
        _, dot, frac = str(text).partition(".")
        if dot:
            most = max(most, len(frac.rstrip("0")))
    return most


def inferred_instrument(
    conn: sqlite3.Connection, exchange: str, symbol: str, *, fee: Decimal = DEFAULT_FEE,
    sample_rows: int = 20_000, agent: str | None = None,
) -> Instrument:
    """An instrument whose tick and lot are the finest steps seen in stored prices and sizes.

    Used when no market metadata is cached: it can only be as fine as the venue,
    never finer, so rounding to it refuses nothing the venue would accept.
    """
    scope, args, _ = agent_scope(conn, agent)
    prices: list[str] = []
    sizes: list[str] = []
    for table, size_column in (
        ("trades", "size"), ("candles_1m", "volume"), ("candles_tf", "volume")
    ):
        price_column = "price" if table == "trades" else "close"
        try:
            rows = conn.execute(
                f"SELECT {price_column}, {size_column} FROM {table} "
                f"WHERE exchange = ? AND symbol = ?{scope} LIMIT ?",
                (exchange, symbol, *args, sample_rows),
            ).fetchall()
        except sqlite3.OperationalError:
            continue
        prices += [r[0] for r in rows]
        if table == "trades" or not sizes:
            sizes += [r[1] for r in rows]
    if not prices:
        raise OperationalError(
            f"no stored trades or candles of {exchange}:{symbol} to infer its tick size from"
        )
    tick = Decimal(1).scaleb(-_significant_decimals(prices))
    lot = Decimal(1).scaleb(-_significant_decimals(sizes)) if sizes else Decimal("1e-8")
    return Instrument(exchange, symbol, tick, lot, maker_fee=fee, taker_fee=fee)
