"""The agent's service against a real loopback server speaking Binance's protocol.

Real sockets, real HTTP, a real SQLite file: the server in
``tests/edge/loopback.py`` serves combined-stream depth diffs and trades and the
``/api/v3/depth`` snapshot on one port, and can go silent, drop its sockets,
refuse handshakes or fail snapshot requests.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from edge.agent import AgentService, RunSummary
from edge.agent.service import split_symbols
from edge.replay import replay_files
from edge.store.db import connect
from shared.backoff import Backoff
from shared.clock import LiveClock
from shared.config.edge import EdgeConfig
from shared.config.feeds import BackoffConfig, ExchangeConfig
from shared.config.store import StoreConfig
from tests.edge.loopback import BinanceLoopback
from tests.waiting import wait_for_async

SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def make_config(
    tmp_path: Path, server: BinanceLoopback, *, silent_after_s: float = 5.0, **store: object
) -> EdgeConfig:
    store_options: dict[str, object] = {
        "commit_interval_s": 0.1, "snapshot_interval_s": 0.25, "snapshot_levels": 5,
    }
    store_options.update(store)
    return EdgeConfig(
        agent_id="test",
        data_dir=str(tmp_path),
        exchanges=[
            ExchangeConfig(
                name="binanceus", symbols=SYMBOLS, depth=100, ws_url=server.ws_url,
                rest_url=server.rest_url, silent_after_s=silent_after_s,
            )
        ],
        backoff=BackoffConfig(initial_s=0.05, max_s=0.4),
        store=StoreConfig(**store_options),  # type: ignore[arg-type]
    )


def all_synced(service: AgentService) -> bool:
    return all(r.feed.is_synced(s) for r in service.runners for s in r.feed.symbols)


async def collect(
    service: AgentService, scenario: Callable[[], Awaitable[None]]
) -> RunSummary:
    """Run the service while ``scenario`` plays out, then stop it cleanly."""
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop=stop))
    try:
        await scenario()
    finally:
        stop.set()
    return await asyncio.wait_for(task, 15)


def events(db: Path, kind: str) -> list[str]:
    conn = connect(db)
    try:
        rows = conn.execute("SELECT detail FROM feed_events WHERE kind = ? ORDER BY id", (kind,))
        return [r[0] for r in rows]
    finally:
        conn.close()


def test_symbols_are_split_by_the_per_connection_limit() -> None:
    assert split_symbols(["A/B", "C/D", "E/F"], 2) == [["A/B", "C/D"], ["E/F"]]
    assert split_symbols(["A/B"], 50) == [["A/B"]]


def test_books_sync_and_trades_candles_and_snapshots_land_in_sqlite(tmp_path: Path) -> None:
    async def main() -> tuple[RunSummary, Path]:
        # Exchange time runs 30x: a minute of trades passes every two seconds.
        async with BinanceLoopback(SYMBOLS, interval_s=0.02, time_scale=30.0) as server:
            service = AgentService(make_config(tmp_path, server), clock=LiveClock())

            async def scenario() -> None:
                await wait_for_async(lambda: all_synced(service), 10, "every book synced")
                await asyncio.sleep(4.5)
                assert all_synced(service)

            status = await collect(service, scenario)
            return status, service.db_path

    status, db = asyncio.run(main())

    # The run's figures, not the state after stopping (which closed the socket).
    assert status.books == status.books_synced_best == status.books_synced_at_stop == 2
    assert status.connections_up == status.connections == 1 and status.messages > 0
    conn = sqlite3.connect(db)
    trades = dict(conn.execute("SELECT symbol, COUNT(*) FROM trades GROUP BY symbol").fetchall())
    assert trades.keys() == set(SYMBOLS) and min(trades.values()) > 100
    ids = [r[0] for r in conn.execute("SELECT id FROM trades ORDER BY id")]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    candles = conn.execute(
        "SELECT symbol, open_time_ms, trades FROM candles_1m ORDER BY symbol, open_time_ms"
    ).fetchall()
    assert {c[0] for c in candles} == set(SYMBOLS)
    for symbol in SYMBOLS:
        minutes = [c[1] for c in candles if c[0] == symbol]
        assert len(minutes) >= 1
        assert all(b - a == 60_000 for a, b in itertools.pairwise(minutes))
    snaps = conn.execute(
        "SELECT symbol, ts_ns, bids, asks, best_bid < best_ask FROM book_snapshots "
        "ORDER BY symbol, ts_ns"
    ).fetchall()
    for symbol in SYMBOLS:
        times = [s[1] for s in snaps if s[0] == symbol]
        # 4.5 s at one snapshot per 0.25 s (the ticker may slip a tick).
        assert 9 <= len(times) <= 20
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 250_000_000
    assert all(s[4] == 1 and s[2].startswith('[["') for s in snaps)
    kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM feed_events GROUP BY kind").fetchall())
    assert kinds["connected"] == 1 and kinds["snapshot"] >= 2
    assert "gap" not in kinds and "resync" not in kinds
    assert status.writer.commits_per_s <= 11  # commit_interval_s = 0.1


def test_quiet_symbols_still_close_their_candle_on_the_clock(tmp_path: Path) -> None:
    class AheadClock:
        """Two minutes ahead of the exchange: every open minute is already over."""

        def time_ns(self) -> int:
            return LiveClock().time_ns() + 120 * 1_000_000_000

    async def main() -> Path:
        async with BinanceLoopback(SYMBOLS, interval_s=0.05) as server:
            service = AgentService(make_config(tmp_path, server), clock=AheadClock())

            async def scenario() -> None:
                await wait_for_async(lambda: service.router.candles >= 2, 10, "two candles closed")

            await collect(service, scenario)
            return service.db_path

    db = asyncio.run(main())
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(DISTINCT symbol) FROM candles_1m").fetchone()[0] == 2


def test_a_silent_socket_is_closed_and_reconnected(tmp_path: Path) -> None:
    async def main() -> tuple[AgentService, BinanceLoopback]:
        async with BinanceLoopback(SYMBOLS, interval_s=0.02) as server:
            service = AgentService(
                make_config(tmp_path, server, silent_after_s=0.5), clock=LiveClock()
            )

            async def scenario() -> None:
                await wait_for_async(lambda: all_synced(service), 10, "every book synced")
                server.silent = True
                await wait_for_async(
                    lambda: service.runners[0].silences >= 1, 10, "the silence noticed")
                server.silent = False
                await wait_for_async(lambda: server.connections >= 2, 10, "a second connection")
                await wait_for_async(lambda: all_synced(service), 10, "every book synced")

            await collect(service, scenario)
            return service, server

    service, _server = asyncio.run(main())
    runner = service.runners[0]
    assert runner.silences >= 1
    assert runner.connects >= 2
    assert len(events(service.db_path, "silent")) == runner.silences
    assert len(events(service.db_path, "reconnect")) >= 1
    assert len(events(service.db_path, "connected")) == runner.connects


def test_a_dropped_connection_is_reconnected_with_capped_backoff(tmp_path: Path) -> None:
    async def main() -> tuple[AgentService, BinanceLoopback]:
        async with BinanceLoopback(SYMBOLS, interval_s=0.02) as server:
            service = AgentService(make_config(tmp_path, server), clock=LiveClock())

            async def scenario() -> None:
                await wait_for_async(lambda: all_synced(service), 10, "every book synced")
                # The server crashes, then refuses the next four handshakes.
                server.refuse_handshakes = 4
                assert server.drop_connections() == 1
                await wait_for_async(
                    lambda: server.open_connections == 1 and all_synced(service), 10,
                    "one open connection, every book synced")

            await collect(service, scenario)
            return service, server

    service, server = asyncio.run(main())
    runner = service.runners[0]
    assert server.refuse_handshakes == 0
    assert runner.connects == 2
    assert runner.reconnects == 5
    delays = [
        float(m[1])
        for d in events(service.db_path, "reconnect")
        if (m := re.search(r"in ([0-9.]+)s", d))
    ]
    assert len(delays) == 5
    assert all(0 <= d <= 0.4 for d in delays)  # BackoffConfig.max_s caps every draw
    assert events(service.db_path, "disconnected") == [
        "closed: no close frame received or sent", "agent stopping",
    ]
    assert len(events(service.db_path, "error")) == 4  # the refused handshakes


def test_failed_snapshot_requests_are_retried_until_the_book_syncs(tmp_path: Path) -> None:
    async def main() -> AgentService:
        async with BinanceLoopback(SYMBOLS, interval_s=0.02) as server:
            server.fail_snapshots = 3
            service = AgentService(make_config(tmp_path, server), clock=LiveClock())

            async def scenario() -> None:
                await wait_for_async(lambda: all_synced(service), 10, "every book synced")

            await collect(service, scenario)
            return service

    service = asyncio.run(main())
    assert service.runners[0].snapshot_errors == 3
    errors = events(service.db_path, "error")
    assert len(errors) == 3 and all("HTTP 500" in e for e in errors)


def test_a_capture_file_replays_to_the_same_books(tmp_path: Path) -> None:
    capture = tmp_path / "session.jsonl.gz"

    async def main() -> AgentService:
        async with BinanceLoopback(SYMBOLS, interval_s=0.02) as server:
            service = AgentService(
                make_config(tmp_path, server, raw_capture=True),
                clock=LiveClock(), capture_path=capture,
            )

            async def scenario() -> None:
                await wait_for_async(lambda: all_synced(service), 10, "every book synced")
                # Enough raw messages stored for the checks below (open, 2 http, recv > 50).
                await wait_for_async(
                    lambda: service.writer.stats().rows_written.get("raw_messages", 0) > 60, 10,
                    "over 60 raw messages stored")

            await collect(service, scenario)
            return service

    service = asyncio.run(main())
    replay = replay_files([capture])["binanceus"]
    for symbol in SYMBOLS:
        assert replay.feed.is_synced(symbol)
        assert replay.stats[symbol].gaps == 0
    conn = sqlite3.connect(service.db_path)
    kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM raw_messages GROUP BY kind").fetchall())
    assert kinds["open"] == 1 and kinds["http"] == 2 and kinds["recv"] > 50


def test_backoff_draws_below_a_doubling_capped_ceiling_and_resets() -> None:
    backoff = Backoff(BackoffConfig(initial_s=0.5, max_s=4.0), rng=random.Random(3))

    ceilings = []
    for _ in range(8):
        ceilings.append(backoff.ceiling())
        assert 0 <= backoff.next_delay() <= ceilings[-1]
    backoff.reset()

    assert ceilings == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert backoff.ceiling() == 0.5
