"""What the hub may ask of a running agent, and the feed health it reports.

The sync client calls these from its own thread; everything that touches feeds,
books or strategies is handed to the agent's event loop and waited for
briefly, so the loop's objects are only ever changed by the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from edge.sync.commands import CommandHandlers, CommandRefused
from shared.sync.messages import FeedHealth

if TYPE_CHECKING:
    from edge.collector.runner import ConnectionRunner
    from edge.trading.live import PaperTrading

T = TypeVar("T")

LOOP_TIMEOUT_S = 5.0


def _in_loop(loop: asyncio.AbstractEventLoop, work: Callable[[], T]) -> T:
    """Run ``work`` on the agent's loop and return what it returned (or raised)."""
    if loop.is_closed() or not loop.is_running():
        raise CommandRefused("the agent is not running")
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(work())
        except Exception as exc:  # handed back to the caller's thread
            future.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return future.result(LOOP_TIMEOUT_S)


def agent_handlers(
    runners: Sequence[ConnectionRunner],
    paper: PaperTrading | None,
    loop: asyncio.AbstractEventLoop,
) -> CommandHandlers:
    """The sync's command handlers for an agent's ``runners`` and ``paper`` trading,
    which live on ``loop``."""

    def resync(symbol: str, exchange: str | None) -> str:
        keeping = [
            r for r in runners
            if symbol in r.feed.symbols and exchange in (None, r.exchange)
        ]
        if not keeping:
            where = f" on {exchange}" if exchange else ""
            raise CommandRefused(f"this agent keeps no book of {symbol!r}{where}")

        def run() -> str:
            for runner in keeping:
                runner.feed.resync(symbol, "requested by the hub")
            return f"resyncing {symbol} on {', '.join(r.label for r in keeping)}"

        return _in_loop(loop, run)

    if paper is None:
        return CommandHandlers(
            resync=resync, trading_refusal="paper trading is disabled on this agent"
        )

    def pause() -> str:
        names = _in_loop(loop, paper.pause)
        return f"paused {', '.join(names)}" if names else "already paused"

    def resume() -> str:
        names = _in_loop(loop, paper.resume)
        return f"resumed {', '.join(names)}" if names else "nothing was paused by the hub"

    return CommandHandlers(
        resync=resync, pause_trading=pause, resume_trading=resume,
        # Halted by a full disk is paused too, as far as the hub can tell: no strategy runs.
        trading_paused=lambda: paper.paused or paper.halted is not None,
    )


def feed_health(runners: Sequence[ConnectionRunner]) -> list[FeedHealth]:
    """Per exchange and symbol: whether the book is synced and when it last changed."""
    out = []
    for runner in runners:
        for symbol in list(runner.feed.symbols):
            book = runner.feed.books.get(symbol)
            out.append(
                FeedHealth(
                    exchange=runner.exchange, symbol=symbol, synced=runner.feed.is_synced(symbol),
                    last_update_ns=book.ts_recv_ns if book is not None else 0,
                )
            )
    return out
