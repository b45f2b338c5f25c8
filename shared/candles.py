"""1-minute OHLCV candles built from trades: the one builder for live trades,
imported trades and the hub alike; and longer timeframes resampled from them.

Minutes are UTC, keyed by the trade's exchange timestamp. A minute with no trade
closes as an exchange would print it: open = high = low = close = the previous
close, volume 0, so a series has no holes once it has started.

Timeframes are written ``5m``, ``1h``, ``1d`` (:func:`timeframe_ms`,
:func:`timeframe_name`); :func:`resample` turns 1-minute candles into them exactly.
"""

from __future__ import annotations

import re
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


# -- timeframes ------------------------------------------------------------------------

DAY_MS = 86_400_000
_TIMEFRAME = re.compile(r"([1-9][0-9]*)([mhd])")
_UNIT_MS = {"m": MINUTE_MS, "h": 60 * MINUTE_MS, "d": DAY_MS}


def timeframe_ms(text: str) -> int:
    """``5m`` -> 300000: a candle interval as minutes, hours or days (``1m``, ``15m``,
    ``1h``, ``4h``, ``1d``...); ``ValueError`` for anything else."""
    match = _TIMEFRAME.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(
            f"timeframe {text!r}: write a number and m, h or d (1m, 5m, 15m, 1h, 4h, 1d)"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def timeframe_name(interval_ms: int) -> str:
    """300000 -> ``5m``; 3600000 -> ``1h``: the one spelling a timeframe is stored under."""
    if interval_ms <= 0 or interval_ms % MINUTE_MS:
        raise ValueError(f"{interval_ms} ms is not a whole number of minutes")
    for unit in ("d", "h"):
        if interval_ms % _UNIT_MS[unit] == 0:
            return f"{interval_ms // _UNIT_MS[unit]}{unit}"
    return f"{interval_ms // MINUTE_MS}m"


def check_resample_interval(interval_ms: int) -> None:
    """Buckets start at UTC multiples of the interval: it must divide a day, so that
    they line up with every day's midnight (``ValueError`` otherwise)."""
    if interval_ms <= 0 or interval_ms % MINUTE_MS or DAY_MS % interval_ms:
        raise ValueError(
            f"timeframe {timeframe_name(interval_ms) if interval_ms > 0 else interval_ms}: "
            "1-minute candles resample only into intervals that divide a day "
            "(1m, 5m, 15m, 30m, 1h, 4h, 1d...)"
        )


def resample(candles: Iterable[Candle], interval_ms: int) -> Iterator[Candle]:
    """1-minute candles (time order) as candles of ``interval_ms``, exactly.

    A bucket starts at a UTC multiple of the interval. Its open is the first
    minute's open, its high and low the extremes, its close the last minute's
    close, its volume and trade count the sums, counting only minutes that traded
    (a minute of volume 0 repeats the previous close; a bucket that never traded is
    flat at it, volume 0): the candle the exchange builds from the same trades.
    Only complete buckets come out: one missing a minute (an exchange gap, the
    window's edge) would misstate the open, close or volume, so it is left out
    rather than approximated.
    """
    check_resample_interval(interval_ms)
    need = interval_ms // MINUTE_MS
    bucket: list[Candle] = []
    start: int | None = None
    for candle in candles:
        begins = candle.open_time_ms - candle.open_time_ms % interval_ms
        if begins != start:
            if len(bucket) == need:
                yield _merge(bucket, interval_ms)
            bucket, start = [], begins
        if bucket and candle.open_time_ms <= bucket[-1].open_time_ms:
            continue  # the same minute again: the first copy stands
        bucket.append(candle)
    if len(bucket) == need:
        yield _merge(bucket, interval_ms)


def _merge(minutes: list[Candle], interval_ms: int) -> Candle:
    first = minutes[0]
    start = first.open_time_ms - first.open_time_ms % interval_ms
    # A minute without volume is no trade: its prices only repeat the last close, so
    # they take no part in the bar's open, high or low (as the exchange builds it).
    traded = [c for c in minutes if c.volume] or [first]
    return Candle(
        first.exchange, first.symbol, start, traded[0].open, max(c.high for c in traded),
        min(c.low for c in traded), traded[-1].close,
        sum((c.volume for c in minutes), Decimal(0)), sum(c.trades for c in minutes),
    )
