"""What the ingest's writer does with a refused message: keep it, sample it, count it.

A refusal is kept as a dead letter while its agent is within the dead-letter budget
(:class:`hub.ingest.limits.DeadLetterBudget`); beyond it only the first of each reason
is kept, and every refusal is counted per agent. Kept letters and counters are
written in ONE transaction per group (:meth:`DeadLetterKeeper.flush`), before the
group's acks go out, not one fsync per refusal: that per-message commit is what let a
garbage flood slow everyone's ingest.

A refused *retained* message is remembered by digest: the broker hands it over again
at every hub start (every new subscription), and it is kept the first time only.
Retention (:meth:`DeadLetterKeeper.prune_if_due`) deletes letters past their age or
past the total size, oldest first. Writer thread only.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Mapping
from typing import Literal

from hub.ingest.limits import DeadLetterBudget
from hub.store.dead_letters import KEEP_BYTES
from hub.store.records import IngestCounts, Refusal
from hub.store.store import HubStore
from shared.clock import Clock
from shared.config.hub import DeadLetterConfig

log = logging.getLogger(__name__)

Outcome = Literal["kept", "dropped", "repeat"]
_NS = 1_000_000_000


def retained_digest(topic: str, payload: bytes) -> str:
    """What identifies a retained message: its topic and its payload."""
    return hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()


class DeadLetterKeeper:
    """Keeps, samples or counts refusals and writes them, with the counters, per group."""

    def __init__(self, store: HubStore, config: DeadLetterConfig, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.budget = DeadLetterBudget(config)
        self._letters: list[Refusal] = []
        self._digests: set[str] = set()
        self._counts: dict[str | None, IngestCounts] = {}
        self._next_prune_ns = 0

    def refuse(
        self, *, agent_id: str | None, topic: str, reason: str, payload: bytes,
        received_ns: int, retained: bool = False,
    ) -> Outcome:
        """``kept`` (within the budget, or the sample of its reason), ``dropped`` (only
        counted) or ``repeat`` (a retained message kept before: nothing to answer)."""
        digest = None
        if retained:
            digest = retained_digest(topic, payload)
            try:
                seen = digest in self._digests or self.store.retained_refused(digest)
            except sqlite3.Error as exc:
                log.error("could not look up a retained refusal (kept again): %s", exc)
                seen = False
            if seen:
                self._count(agent_id, IngestCounts(retained_repeats=1))
                return "repeat"
        size = min(len(payload), KEEP_BYTES)
        verdict = self.budget.admit(agent_id, reason, size, received_ns / _NS)
        if verdict == "drop":
            self._count(agent_id, IngestCounts(refused=1, dropped=1, dropped_bytes=len(payload)))
            log.debug("dead letter on %s counted, not kept (over the budget): %s", topic, reason)
            return "dropped"
        self._count(agent_id, IngestCounts(refused=1))
        if verdict == "sample":
            log.warning(
                "dead letter on %s: %s (agent %s is over its dead-letter budget: this is the "
                "window's sample of this reason, the rest are only counted)",
                topic, reason, agent_id or "(none)",
            )
        else:
            log.warning("dead letter on %s: %s", topic, reason)
        self._letters.append(Refusal(agent_id, topic, reason, payload, received_ns, digest))
        if digest is not None:
            self._digests.add(digest)
        return "kept"

    def add_rate_limited(self, counts: Mapping[str | None, tuple[int, int]]) -> None:
        """Count messages the rate limit dropped: (messages, bytes) per agent."""
        for agent_id, (messages, nbytes) in counts.items():
            self._count(agent_id, IngestCounts(rate_limited=messages, rate_limited_bytes=nbytes))

    @property
    def pending(self) -> bool:
        """Whether anything waits to be written."""
        return bool(self._letters or self._counts)

    def flush(self) -> None:
        """Write the kept letters and the counters in one transaction. A failed write
        loses the letters (logged) but keeps the counters for the next flush."""
        if not self.pending:
            return
        letters, counts = self._letters, self._counts
        self._letters, self._counts, self._digests = [], {}, set()
        try:
            self.store.keep_refusals(letters, counts, now_ns=self.clock.time_ns())
        except sqlite3.Error as exc:
            log.error("could not keep %d dead letter(s): %s", len(letters), exc)
            for agent_id, delta in counts.items():
                self._count(agent_id, delta)

    def prune_if_due(self) -> int:
        """Apply retention when ``prune_interval_s`` has passed (and on the first call)."""
        now_ns = self.clock.time_ns()
        if now_ns < self._next_prune_ns:
            return 0
        self._next_prune_ns = now_ns + int(self.config.prune_interval_s * _NS)
        try:
            deleted = self.store.prune_dead_letters(
                before_ns=now_ns - int(self.config.max_age_s * _NS),
                max_bytes=self.config.max_total_bytes,
            )
        except sqlite3.Error as exc:
            log.error("dead-letter retention failed (tried again later): %s", exc)
            return 0
        if deleted:
            log.info("dead-letter retention deleted %d letter(s)", deleted)
        return deleted

    def _count(self, agent_id: str | None, delta: IngestCounts) -> None:
        self._counts[agent_id] = self._counts.get(agent_id, IngestCounts()) + delta
