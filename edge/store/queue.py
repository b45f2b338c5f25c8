"""The store writer's bounded in-memory queue, and what it evicts on a full disk.

The queue is bounded by rows and by (approximate) bytes so a stalled disk cannot eat
the Pi's memory. The batch being committed still counts against the bound (and as
pending): until its COMMIT it is as much in memory as the queue, and on a full disk it
comes back to it. While the disk is full nothing frees room but eviction: the *oldest*
market-data rows (:data:`~edge.store.full_disk.MARKET_DATA_TABLES`) go, the rest of
the queue keeps its order.

Not thread-safe: :class:`~edge.store.writer.StoreWriter` calls it with its lock held.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from edge.store.full_disk import MARKET_DATA_TABLES

Entry = tuple[str, tuple[Any, ...], int]
"""A queued entry: (table, row, cost in bytes)."""

GROUP = "\0group"
"""Queue entry holding several rows that must land in one commit (``put_many``)."""

ROW_OVERHEAD_BYTES = 256
"""Rough memory of a queued row beyond its long strings (tuple, ints, short strs)."""


class WriteQueue:
    """The entries waiting for the writer thread, and the batch it is committing."""

    def __init__(self, max_rows: int, max_bytes: int) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._entries: deque[Entry] = deque()
        self.queued_bytes = 0
        """Cost of the entries queued (not of those in flight)."""
        self.in_flight_rows = 0
        self.in_flight_bytes = 0

    def __len__(self) -> int:
        """Entries queued (a ``put_many`` group counts one), not those in flight."""
        return len(self._entries)

    @property
    def pending_rows(self) -> int:
        """Entries not committed yet: queued, or in the commit under way."""
        return len(self._entries) + self.in_flight_rows

    @property
    def pending_bytes(self) -> int:
        return self.queued_bytes + self.in_flight_bytes

    def full(self, cost: int) -> bool:
        """Whether an entry of ``cost`` more bytes goes beyond the bound."""
        rows = len(self._entries) + self.in_flight_rows
        return rows >= self.max_rows or (
            self.queued_bytes + self.in_flight_bytes + cost > self.max_bytes
            and rows > 0
        )

    def append(self, entry: Entry) -> None:
        self._entries.append(entry)
        self.queued_bytes += entry[2]

    def appendleft(self, entry: Entry) -> None:
        """``entry`` first in line (the next commit)."""
        self._entries.appendleft(entry)
        self.queued_bytes += entry[2]

    def take(self, limit: int) -> list[Entry]:
        """Up to ``limit`` entries off the head: in flight until :meth:`committed` or
        :meth:`put_back`."""
        take = min(len(self._entries), limit)
        batch = [self._entries.popleft() for _ in range(take)]
        self.in_flight_rows = take
        self.in_flight_bytes = sum(cost for _, _, cost in batch)
        self.queued_bytes -= self.in_flight_bytes
        return batch

    def committed(self) -> None:
        """The batch in flight is stored."""
        self.in_flight_rows = self.in_flight_bytes = 0

    def put_back(self, batch: list[Entry]) -> None:
        """The batch in flight back at the head of the queue, in its order."""
        self._entries.extendleft(reversed(batch))
        self.queued_bytes += self.in_flight_bytes
        self.in_flight_rows = self.in_flight_bytes = 0

    def clear(self) -> None:
        self._entries.clear()
        self.queued_bytes = 0
        self.in_flight_rows = self.in_flight_bytes = 0

    def evict_oldest(self, cost: int) -> dict[str, int]:
        """Drop the oldest market-data rows until ``cost`` more fits, with a tenth of
        the bound to spare so that one pass serves many puts; the rows dropped per table.

        One pass over the queue: other rows are few (trading halts on a full disk), so
        the pass finds market data near the head.
        """
        rows_goal = self.max_rows - max(1, self.max_rows // 10)
        bytes_goal = self.max_bytes - self.max_bytes // 10 - cost
        count = len(self._entries) + self.in_flight_rows
        size = self.queued_bytes + self.in_flight_bytes
        kept: deque[Entry] = deque()
        evicted: dict[str, int] = {}
        for entry in self._entries:
            table, _, entry_cost = entry
            if table in MARKET_DATA_TABLES and (count > rows_goal or size > bytes_goal):
                count -= 1
                size -= entry_cost
                evicted[table] = evicted.get(table, 0) + 1
            else:
                kept.append(entry)
        if evicted:
            self._entries = kept
            self.queued_bytes = size - self.in_flight_bytes
        return evicted

    def unstored(self) -> tuple[int, int]:
        """Rows queued, and how many of them are not market data (a group's never are)."""
        rows = other = 0
        for table, row, _ in self._entries:
            if table == GROUP:
                rows += len(row)
                other += len(row)
            else:
                rows += 1
                other += table not in MARKET_DATA_TABLES
        return rows, other
