"""1-minute candles of the simulated market, for the REST kline endpoints.

A backfill (``tickerml edge backfill``) asks the exchange for candles over REST;
pointed at the simulator it gets these. They are built from the model's fills by
:class:`shared.candles.CandleBuilder`, the live collector's own builder, so a
backfill stores what collecting the simulator's trades would have built.

Only closed minutes are served: a minute closes once simulated time has passed
it, and the still-open minute a venue would add is left out, so a backfill never
stores half a candle. After the first fill a minute without one repeats the
previous close with zero volume, as exchanges print it. History starts when the
simulator starts: earlier minutes are missing, as before a listing.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal

from edge.simulator.model import MarketEvent, MarketModel
from shared.candles import MINUTE_MS, CandleBuilder
from shared.marketdata import Candle

MAX_MINUTES = 100_000
"""Closed minutes kept per symbol (about 69 days); older ones are forgotten."""


@dataclass(frozen=True, slots=True)
class SimCandle:
    """A closed minute and its volume-weighted price (Kraken's ``vwap``; 0 when empty)."""

    candle: Candle
    vwap: Decimal
    quote_volume: Decimal


class CandleHistory:
    """Every symbol's closed 1-minute candles since the simulator started."""

    def __init__(self, market: MarketModel, *, max_minutes: int = MAX_MINUTES) -> None:
        self.market = market
        self.max_minutes = max_minutes
        self._builders = {s: CandleBuilder("simulator", s) for s in market.symbols}
        self._price_unit = {
            s: Decimal(1).scaleb(-m.spec.price_decimals) for s, m in market.models.items()
        }
        self._size_unit = {
            s: Decimal(1).scaleb(-m.spec.size_decimals) for s, m in market.models.items()
        }
        self._notional: dict[str, dict[int, Decimal]] = {s: {} for s in market.symbols}
        self._closed: dict[str, list[SimCandle]] = {s: [] for s in market.symbols}
        self._times: dict[str, list[int]] = {s: [] for s in market.symbols}

    def on_event(self, ev: MarketEvent) -> None:
        """Add the fills of one model event (events come in time order)."""
        if not ev.trades:
            return
        symbol = ev.symbol
        ms = ev.ts_ns // 1_000_000
        minute = ms - ms % MINUTE_MS
        price_unit, size_unit = self._price_unit[symbol], self._size_unit[symbol]
        notional = self._notional[symbol]
        builder = self._builders[symbol]
        for t in ev.trades:
            price, size = t.price * price_unit, t.size * size_unit
            self._keep(symbol, builder.add_raw(ms, price, size))
            notional[minute] = notional.get(minute, Decimal(0)) + price * size

    def close_until(self, now_ns: int) -> None:
        """Close every minute that ended at or before ``now_ns`` (simulated time)."""
        now_ms = now_ns // 1_000_000
        for symbol, builder in self._builders.items():
            self._keep(symbol, builder.close_before(now_ms))

    def _keep(self, symbol: str, candles: list[Candle]) -> None:
        closed, times = self._closed[symbol], self._times[symbol]
        notional = self._notional[symbol]
        for c in candles:
            quote = notional.pop(c.open_time_ms, Decimal(0))
            vwap = quote / c.volume if c.volume else Decimal(0)
            closed.append(SimCandle(c, vwap, quote))
            times.append(c.open_time_ms)
        if len(closed) > self.max_minutes:
            drop = len(closed) - self.max_minutes
            del closed[:drop], times[:drop]

    def between(
        self, symbol: str, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[SimCandle]:
        """Up to ``limit`` closed minutes opening in ``[start_ms, end_ms]``.

        From ``start_ms`` on when it is given (oldest first); without it, the
        latest ``limit`` up to ``end_ms``, which is how both venues page.
        """
        closed, times = self._closed[symbol], self._times[symbol]
        lo = 0 if start_ms is None else bisect.bisect_left(times, start_ms)
        hi = len(times) if end_ms is None else bisect.bisect_right(times, end_ms)
        if start_ms is None:
            lo = max(lo, hi - limit)
        return closed[lo:min(hi, lo + limit)]
