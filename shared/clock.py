"""Injected time.

Books, candle builders, strategies and the paper broker take a :class:`Clock`
instead of calling ``time.time()``, so a replay of recorded traffic produces the
same rows as the live run did.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time in integer nanoseconds since the epoch."""

    def time_ns(self) -> int: ...


class LiveClock:
    """Wall-clock time (``time.time_ns``)."""

    def time_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that only moves when told to: replays and tests drive it."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def time_ns(self) -> int:
        return self._now_ns

    def set_ns(self, now_ns: int) -> None:
        """Move to ``now_ns``; time never runs backwards."""
        if now_ns > self._now_ns:
            self._now_ns = now_ns

    def advance_ns(self, delta_ns: int) -> None:
        self._now_ns += max(0, delta_ns)
