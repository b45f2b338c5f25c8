"""Reconnect delays: capped exponential backoff with full jitter.

Full jitter (a uniform draw between 0 and the capped exponential) spreads the
reconnects of a whole fleet of agents after an exchange outage instead of having
them all knock at the same instants ("Exponential Backoff And Jitter", AWS
Architecture Blog, 2015).
"""

from __future__ import annotations

import random

from shared.config.feeds import BackoffConfig


class Backoff:
    """Delays for successive retries of one thing (a socket, a REST fetch).

    ``next_delay`` grows the ceiling ``initial_s * 2**attempt`` up to ``max_s``
    and returns a uniform draw below it; ``reset`` after a success.
    """

    def __init__(self, config: BackoffConfig, *, rng: random.Random | None = None) -> None:
        self.initial_s = config.initial_s
        self.max_s = max(config.max_s, config.initial_s)
        self.attempt = 0
        self._rng = rng or random.Random()

    def ceiling(self) -> float:
        """The largest delay the next attempt may draw."""
        # min() before the power would overflow a float after ~1000 attempts.
        exponent = min(self.attempt, 62)
        return min(self.max_s, self.initial_s * float(2**exponent))

    def next_delay(self) -> float:
        """The delay before the next attempt; counts the attempt."""
        delay = self._rng.uniform(0.0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Back to the first delay, after the thing worked."""
        self.attempt = 0
