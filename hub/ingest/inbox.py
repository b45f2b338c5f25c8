"""The hand-over from paho's network thread to the writer thread, bounded by bytes.

paho's thread must never wait on SQLite (it also answers keepalives), so it only
appends here; the writer takes groups off the front. The byte bound is a safety
net behind the broker's own flow control (the hub's Receive Maximum): a data batch
that would pass it is refused by :meth:`Inbox.put` and the caller drops it.
"""

from __future__ import annotations

import threading
from collections import deque

from hub.ingest.writer import Incoming


class Inbox:
    """A FIFO of :class:`Incoming` holding at most ``max_bytes`` of droppable payloads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: deque[Incoming] = deque()
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: Incoming, *, droppable: bool = True) -> bool:
        """Append ``item``; False (nothing appended) when a droppable one would overflow."""
        size = len(item.payload)
        with self._cond:
            if droppable and self._items and self._bytes + size > self.max_bytes:
                return False
            self._items.append(item)
            self._bytes += size
            self._cond.notify()
            return True

    def take(self, most: int, timeout_s: float) -> list[Incoming]:
        """Up to ``most`` items, waiting up to ``timeout_s`` for the first; [] on timeout."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout_s)
            taken: list[Incoming] = []
            while self._items and len(taken) < most:
                item = self._items.popleft()
                self._bytes -= len(item.payload)
                taken.append(item)
            return taken

    def close(self) -> None:
        """Wake a waiting :meth:`take`; what is queued can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def bytes(self) -> int:
        """Payload bytes waiting."""
        with self._cond:
            return self._bytes
