"""Incremental indicators the shipped strategies share.

Each updates in O(1) per closed candle, in float64, with the exact recurrence
docs/strategies.md states, so an independent vectorized implementation can
reproduce its values bit for bit.
"""

from __future__ import annotations

import math
from collections import deque


class Ema:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the first value.

    ``ema[0] = x[0]``; ``ema[t] = alpha * x[t] + (1 - alpha) * ema[t-1]``.
    """

    __slots__ = ("alpha", "count", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"EMA period must be >= 1, got {period}")
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self.value: float | None = None
        self.count = 0

    def update(self, x: float) -> float:
        value = self.value
        value = x if value is None else self.alpha * x + (1.0 - self.alpha) * value
        self.value = value
        self.count += 1
        return value


class Atr:
    """Wilder's average true range.

    True range: ``max(high - low, |high - prev_close|, |low - prev_close|)``, and
    ``high - low`` for the first candle. The ATR is the plain mean of the first
    ``period`` true ranges, then ``atr = (atr * (period - 1) + tr) / period``;
    ``value`` is None until ``period`` candles were seen.
    """

    __slots__ = ("_prev_close", "_seed", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"ATR period must be >= 1, got {period}")
        self.period = period
        self.value: float | None = None
        self._prev_close: float | None = None
        self._seed: list[float] = []

    def update(self, high: float, low: float, close: float) -> float | None:
        prev = self._prev_close
        tr = high - low if prev is None else max(high - low, abs(high - prev), abs(low - prev))
        self._prev_close = close
        if self.value is None:
            self._seed.append(tr)
            if len(self._seed) == self.period:
                self.value = sum(self._seed) / self.period
                self._seed.clear()
        else:
            self.value = (self.value * (self.period - 1) + tr) / self.period
        return self.value


class RollingStats:
    """Mean and population standard deviation of the last ``period`` values.

    Recomputed from the window on each read rather than kept as running sums:
    running sums of squares lose precision over a long replay, and the window is
    short.
    """

    __slots__ = ("window",)

    def __init__(self, period: int) -> None:
        if period < 2:
            raise ValueError(f"rolling window must be >= 2, got {period}")
        self.window: deque[float] = deque(maxlen=period)

    def update(self, x: float) -> None:
        self.window.append(x)

    @property
    def full(self) -> bool:
        return len(self.window) == self.window.maxlen

    def mean_std(self) -> tuple[float, float]:
        n = len(self.window)
        mean = math.fsum(self.window) / n
        var = math.fsum((x - mean) ** 2 for x in self.window) / n
        return mean, math.sqrt(var)
