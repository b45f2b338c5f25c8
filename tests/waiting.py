"""The one way a test waits: poll something observable until it holds, or fail naming it.

A fixed ``time.sleep`` proves nothing (the test passes the same without it) and is
either too long or, on a loaded machine, too short. Tests wait on what they can see
instead: a count in the ingest's stats, a row in a store, a line in a log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_S = 0.02


def wait_for(
    predicate: Callable[[], object], timeout_s: float, what: str, *, every_s: float = POLL_S
) -> None:
    """Poll ``predicate`` until it is true; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(every_s)


async def wait_for_async(
    predicate: Callable[[], object], timeout_s: float, what: str, *, every_s: float = POLL_S
) -> None:
    """:func:`wait_for` inside an event loop: the loop keeps running while it waits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(every_s)
