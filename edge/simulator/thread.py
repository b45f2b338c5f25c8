"""The market simulator on its own event loop in a daemon thread.

For callers that are not asyncio programs themselves (the demo, benchmarks, tests):
``start()`` returns the URLs once the sockets listen, ``stop()`` closes them.
"""

from __future__ import annotations

import asyncio
import threading

from edge.simulator.server import SimulatorServer, SimulatorUrls
from shared.config.simulator import SimulatorConfig
from shared.errors import OperationalError

START_TIMEOUT_S = 30.0


class SimulatorThread:
    """Serves a :class:`SimulatorServer` from a thread of its own."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.urls: SimulatorUrls | None = None
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # handed to start(), which raises it in the caller
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with SimulatorServer(self.config) as sim:
            self.urls = sim.urls
            self._ready.set()
            await self._stop.wait()

    def start(self) -> SimulatorUrls:
        """Start serving; the URLs once listening, or :class:`OperationalError` why not."""
        self._thread.start()
        self._ready.wait(START_TIMEOUT_S)
        if self._error is not None or self.urls is None:
            raise OperationalError(f"the simulator did not start: {self._error}")
        return self.urls

    def stop(self) -> None:
        """Close the sockets and wait for the thread (at most 10 s)."""
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.ident is not None:
            self._thread.join(10)
