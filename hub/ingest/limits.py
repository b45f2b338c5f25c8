"""How much one agent may cost the hub: what it may send, and how much of what the hub
refuses from it is kept.

* :class:`AgentRateLimiter`: a token bucket per agent id, in messages and in bytes.
  The agent id is the one in the topic, which the broker's ACL ties to the sender's
  certificate, so one misbehaving certificate drains only its own bucket. paho's
  network thread asks it about every message before anything of the message is read;
  a message over the limit is counted and dropped there (acknowledged to the broker,
  so it is not delivered again), which keeps a flood out of the writer's queue and so
  out of the hub's memory.
* :class:`DeadLetterBudget`: per agent and window, how many refused messages (and how
  many of their payload bytes) are kept as dead letters. Beyond it a refusal is only
  counted, except the first of each reason, kept as a sample.

Both keep state per agent id and both are bounded (:data:`MAX_AGENTS`), so made-up
agent ids cannot grow them either. Time comes in as seconds from an injected clock.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Literal

from shared.config.hub import AgentRateConfig, DeadLetterConfig

MAX_AGENTS = 4096
"""Agents tracked at once (besides :data:`SHARED`); past it, idle ones are forgotten (a
full bucket, an expired window: the same as a new one), and if none is idle, newcomers
share the :data:`SHARED` entry."""

SHARED = ""
"""The entry of topics naming no valid agent, and of newcomers past MAX_AGENTS."""

Verdict = Literal["keep", "sample", "drop"]


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; a take may run it into debt."""

    __slots__ = ("at_s", "capacity", "rate", "tokens")

    def __init__(self, rate: float, capacity: float, now_s: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.at_s = now_s

    def refill(self, now_s: float) -> None:
        elapsed = now_s - self.at_s
        if elapsed > 0:  # a clock stepped back refills nothing
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.at_s = now_s

    def can_take(self, amount: float) -> bool:
        # An amount above the capacity passes when the bucket is full and leaves it in
        # debt: a too-large message is then refused with its reason, not dropped unread.
        return self.tokens >= min(amount, self.capacity)

    @property
    def full(self) -> bool:
        return self.tokens >= self.capacity


class AgentRateLimiter:
    """Token buckets (messages, bytes) per agent id. :meth:`admit` on paho's network
    thread, :meth:`take_counts` on the writer's: a lock keeps the two apart."""

    def __init__(self, config: AgentRateConfig, *, max_agents: int = MAX_AGENTS) -> None:
        self.config = config
        self.max_agents = max_agents
        self._buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}
        self._limited: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def admit(self, agent_id: str | None, size: int, now_s: float) -> bool:
        """Whether a message of ``size`` bytes from ``agent_id`` may go on; one that may
        not is counted (see :meth:`take_counts`)."""
        key = SHARED if agent_id is None else agent_id
        with self._lock:
            buckets = self._buckets.get(key)
            if buckets is None:
                key = self._room_for(key, now_s)
                buckets = self._buckets.get(key)
                if buckets is None:
                    buckets = self._buckets[key] = self._new(now_s)
            messages, volume = buckets
            messages.refill(now_s)
            volume.refill(now_s)
            if messages.can_take(1) and volume.can_take(size):
                messages.tokens -= 1
                volume.tokens -= size
                return True
            count, nbytes = self._limited.get(key, (0, 0))
            self._limited[key] = (count + 1, nbytes + size)
            return False

    def take_counts(self) -> dict[str | None, tuple[int, int]]:
        """(messages, bytes) dropped per agent since the last call (None: no valid agent)."""
        with self._lock:
            taken, self._limited = self._limited, {}
        return {(None if key == SHARED else key): counts for key, counts in taken.items()}

    def _new(self, now_s: float) -> tuple[TokenBucket, TokenBucket]:
        c = self.config
        return (TokenBucket(c.messages_per_s, c.burst_messages, now_s),
                TokenBucket(c.bytes_per_s, c.burst_bytes, now_s))

    def _room_for(self, key: str, now_s: float) -> str:
        """``key`` when there is room for one more entry (after forgetting idle ones)."""
        if len(self._buckets) < self.max_agents:
            return key
        for other, (messages, volume) in list(self._buckets.items()):
            messages.refill(now_s)
            volume.refill(now_s)
            if other != SHARED and messages.full and volume.full:
                del self._buckets[other]
        return key if len(self._buckets) < self.max_agents else SHARED


def reason_kind(reason: str) -> str:
    """A reason with its numbers blanked: ``row 5 has id 9`` and ``row 6 has id 10`` are
    one kind of refusal, so a sample per kind stays a handful."""
    return re.sub(r"[0-9]+", "#", reason)[:300]


@dataclass(slots=True)
class _Window:
    start_s: float
    kept: int = 0
    kept_bytes: int = 0
    sampled: set[str] = field(default_factory=set)


class DeadLetterBudget:
    """Per agent and window of ``config.window_s``: keep, sample or drop a refusal.
    Writer thread only."""

    def __init__(self, config: DeadLetterConfig, *, max_agents: int = MAX_AGENTS) -> None:
        self.config = config
        self.max_agents = max_agents
        self._windows: dict[str, _Window] = {}

    def admit(self, agent_id: str | None, reason: str, size: int, now_s: float) -> Verdict:
        """``keep`` within the budget; beyond it ``sample`` for the first refusal of its
        kind (:func:`reason_kind`) in the window, ``drop`` (count only) for the rest."""
        c = self.config
        key = SHARED if agent_id is None else agent_id
        window = self._windows.get(key)
        if window is None:
            key = self._room_for(key, now_s)
            window = self._windows.get(key)
        if window is None or now_s - window.start_s >= c.window_s:
            window = self._windows[key] = _Window(now_s)
        if window.kept < c.max_per_window and window.kept_bytes + size <= c.max_bytes_per_window:
            window.kept += 1
            window.kept_bytes += size
            return "keep"
        kind = reason_kind(reason)
        if kind not in window.sampled and len(window.sampled) < c.max_sample_reasons:
            window.sampled.add(kind)
            return "sample"
        return "drop"

    def _room_for(self, key: str, now_s: float) -> str:
        if len(self._windows) < self.max_agents:
            return key
        window_s = self.config.window_s
        for other, window in list(self._windows.items()):
            if other != SHARED and now_s - window.start_s >= window_s:
                del self._windows[other]
        return key if len(self._windows) < self.max_agents else SHARED
