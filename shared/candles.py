"""1-minute OHLCV candles built from trades: the one builder for live trades,
imported trades and the hub alike.

Minutes are UTC, keyed by the trade's exchange timestamp. A minute with no trade
closes as an exchange would print it: open = high = low = close = the previous
close, volume 0, so a series has no holes once it has started.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from shared.marketdata import Candle, Trade

MINUTE_MS = 60_000
NS_PER_MS = 1_000_000


@dataclass(slots=True)
class _Open:
    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


class CandleBuilder:
    """Builds one symbol's 1-minute candles from its trades, in time order.

    :meth:`add` returns the candles that closed because the trade belongs to a
    later minute (including empty minutes in between). A trade older than the
    open minute is counted in ``late_trades`` and not applied: a closed candle
    is never rewritten.
    """

    def __init__(self, exchange: str, symbol: str, *, fill_empty: bool = True) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.fill_empty = fill_empty
        self.late_trades = 0
        self._open: _Open | None = None
        self._last_close: Decimal | None = None

    def add(self, trade: Trade) -> list[Candle]:
        return self.add_raw(trade.ts_exchange_ns // NS_PER_MS, trade.price, trade.size)

    def add_raw(self, ts_ms: int, price: Decimal, size: Decimal) -> list[Candle]:
        """Add a trade given as (exchange time in ms, price, size)."""
        minute = ts_ms - ts_ms % MINUTE_MS
        current = self._open
        closed: list[Candle] = []
        if current is not None:
            if minute < current.open_time_ms:
                self.late_trades += 1
                return closed
            if minute > current.open_time_ms:
                closed.extend(self._close_through(minute))
                current = None
        if current is None:
            self._open = _Open(minute, price, price, price, price, size, 1)
            return closed
        if price > current.high:
            current.high = price
        elif price < current.low:
            current.low = price
        current.close = price
        current.volume += size
        current.trades += 1
        return closed

    def _close_through(self, next_minute: int) -> Iterator[Candle]:
        current = self._open
        assert current is not None
        yield self._candle(current)
        self._last_close = current.close
        self._open = None
        if self.fill_empty:
            minute = current.open_time_ms + MINUTE_MS
            while minute < next_minute:
                c = current.close
                yield Candle(self.exchange, self.symbol, minute, c, c, c, c, Decimal(0), 0)
                minute += MINUTE_MS

    def close_before(self, now_ms: int) -> list[Candle]:
        """Close the open candle (and empty minutes) if ``now_ms`` is past its minute."""
        current = self._open
        if current is None or now_ms < current.open_time_ms + MINUTE_MS:
            return []
        minute = now_ms - now_ms % MINUTE_MS
        return list(self._close_through(minute))

    def flush(self) -> list[Candle]:
        """Close the open candle regardless of time (end of an import)."""
        current = self._open
        if current is None:
            return []
        self._open = None
        self._last_close = current.close
        return [self._candle(current)]

    def open_candle(self) -> Candle | None:
        """The minute still being built, if any."""
        return self._candle(self._open) if self._open is not None else None

    def _candle(self, o: _Open) -> Candle:
        return Candle(
            self.exchange, self.symbol, o.open_time_ms, o.open, o.high, o.low, o.close,
            o.volume, o.trades,
        )


def candles_from_trades(
    exchange: str, symbol: str, trades: Iterable[tuple[int, Decimal, Decimal]]
) -> list[Candle]:
    """All candles of a finished series of (ts_ms, price, size) trades in time order."""
    builder = CandleBuilder(exchange, symbol)
    out: list[Candle] = []
    for ts_ms, price, size in trades:
        out.extend(builder.add_raw(ts_ms, price, size))
    out.extend(builder.flush())
    return out
