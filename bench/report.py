"""The benchmark sections: book alone (against the C extension) and the whole
path (parse, validate, book, checksum, store) on real and simulated captures."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from bench import book_bench as bb
from edge.agent.router import EventRouter
from edge.replay import replay_exchange
from edge.store.writer import StoreWriter
from shared.book import OrderBook
from shared.clock import ManualClock
from shared.config.store import StoreConfig

BOOK_TARGET = 1_000_000
PATH_TARGET = 50_000


def _captures(real: Path, sim_dir: Path, sim_messages: int) -> list[tuple[str, str, list[Path]]]:
    """(label, exchange, files) for every capture benchmarked."""
    from edge.simulator.capture import write_capture

    cf = real / "cryptofeed"
    sim_binance = sim_dir / "sim-binanceus.jsonl"
    sim_kraken = sim_dir / "sim-kraken.jsonl"
    write_capture(
        sim_binance,
        "binanceus",
        messages=sim_messages,
        seed=11,
        symbols=("BTC/USDT", "ETH/USDT", "SOL/USDT"),
    )
    write_capture(
        sim_kraken,
        "kraken",
        messages=sim_messages,
        seed=11,
        symbols=("BTC/USD", "ETH/USD", "SOL/USD"),
        depth=1000,
    )
    return [
        ("Kraken v1 book-1000 (real)", "kraken", [cf / "KRAKEN.ws.50.0"]),
        ("Binance spot (real)", "binance", [cf / "BINANCE.ws.1.0", cf / "BINANCE.http.0.0"]),
        ("Binance.US (real)", "binanceus", [cf / "BINANCE_US.ws.1.0", cf / "BINANCE_US.http.0.0"]),
        ("Coinbase level2 (real)", "coinbase", [cf / "COINBASE.ws.28.0"]),
        ("KuCoin level2 (real)", "kucoin", [cf / "KUCOIN.ws.1.0", cf / "KUCOIN.http.0.0"]),
        (f"Simulator Binance.US, {sim_messages:,} msgs", "binanceus", [sim_binance]),
        (f"Simulator Kraken v2 depth 1000, {sim_messages:,} msgs", "kraken", [sim_kraken]),
    ]


def _book_sequence(exchange: str, files: list[Path]) -> bb.Sequence:
    ws = files[0]
    http = files[1] if len(files) > 1 else None
    if exchange == "kraken":
        text = ws.read_text(encoding="utf-8", errors="replace")[:200_000]
        # v2 messages name their channel; in a TickerML capture the JSON is escaped.
        v2 = '"channel":"book"' in text or '\\"channel\\":\\"book\\"' in text
        return bb.kraken_v2(ws, 1000) if v2 else bb.kraken_v1(ws)
    if exchange in ("binance", "binanceus"):
        return bb.binance(ws, http)
    if exchange == "coinbase":
        return bb.coinbase_legacy(ws)
    assert http is not None
    return bb.kucoin(ws, http)


class _SnapshotSink(EventRouter):
    """The agent's event router, taking interval snapshots from book updates as they come."""

    def on_book(self, book: OrderBook) -> None:
        key = (book.exchange, book.symbol)
        now = self.clock.time_ns()
        interval = self.snapshot_interval_ns
        if now - self._last_snapshot.get(key, -interval) >= interval:
            self._last_snapshot[key] = now
            self.snapshots += 1
            self.writer.put_book_snapshot(book, now, self.snapshot_levels)


def whole_path(
    exchange: str, files: list[Path], raw: bool, min_messages: int = 20_000
) -> tuple[int, int, float, int]:
    """(messages, passes, seconds, rows stored) replaying ``files`` into a fresh store.

    A small capture is replayed back to back (each pass with a fresh feed) until
    ``min_messages`` have gone through, so the figure is a throughput, not the
    writer thread's start-up and final commit.
    """
    config = StoreConfig(raw_capture=raw)
    with tempfile.TemporaryDirectory() as tmp:
        writer = StoreWriter(Path(tmp) / "bench.db", config)
        clock = ManualClock()
        sink = _SnapshotSink(writer, clock, config)
        messages = passes = 0
        start = time.perf_counter()
        while messages < min_messages:
            result = replay_exchange(exchange, files, sink=sink, raw_writer=writer if raw else None)
            messages += sum(s.messages for s in result.stats.values())
            passes += 1
        writer.close()
        seconds = time.perf_counter() - start
        return messages, passes, seconds, writer.stats().total_written


def run_all(real: Path, sim_messages: int, repeats: int, console: Console) -> list[str]:
    from bench import collect_bench, harvest_bench, news_bench, sync_bench, trading_bench

    console.print("steady-state collection against the simulator ...")
    collect_lines = collect_bench.section(30.0)
    console.print("edge → hub sync: 1,000,000-row drain, raw transport, steady-state lag ...")
    sync_lines = sync_bench.section()
    with tempfile.TemporaryDirectory() as tmp:
        console.print("writing simulator captures ...")
        captures = _captures(real, Path(tmp), sim_messages)
        book_rows, path_rows = [], []
        with Progress(console=console) as progress:
            task = progress.add_task("benchmarks", total=len(captures))
            for label, exchange, files in captures:
                seq = _book_sequence(exchange, files)
                r = bb.measure(seq, repeats)
                book_rows.append(
                    f"| {label} | {r.messages:,} | {r.level_updates:,} | {r.max_levels:,} | "
                    f"{r.ours_ups:,.0f} | {r.c_ups:,.0f} | {r.ratio:.2f}x |"
                )
                n, passes, secs, rows = whole_path(exchange, files, raw=False)
                n_raw, _, secs_raw, rows_raw = whole_path(exchange, files, raw=True)
                path_rows.append(
                    f"| {label} | {n:,} ({passes} pass{'es' if passes > 1 else ''}) "
                    f"| {n / secs:,.0f} | {rows:,} | {n_raw / secs_raw:,.0f} | {rows_raw:,} |"
                )
                progress.advance(task)
    return [
        "## Order book alone (issue 2)",
        "",
        "Level updates applied per second, with a best bid and best ask read after every",
        "message, replaying the same pre-parsed updates through TickerML's `shared.book."
        "OrderBook` and through the `order-book` C extension from PyPI (the book cryptofeed",
        "uses; float keys, its fastest path). Snapshot loading is not timed. Target: "
        f"≥ {BOOK_TARGET:,} updates/s and never slower than the C extension.",
        "",
        "| capture | messages | level updates | max levels in book | TickerML updates/s "
        "| C extension updates/s | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *book_rows,
        "",
        "## Whole path (issue 2)",
        "",
        "Messages per second through `edge.replay`: JSON parse, validation, sequence or",
        "checksum check, book update, trades and 1-minute candles, a book snapshot every 5 s",
        "of exchange time, and the batched SQLite writer (commit every 1 s) until every row is",
        "committed. A small capture is replayed several times back to back (a fresh feed",
        "each pass; repeated trades are ignored by the store) so start-up is not what is",
        "measured. The last two columns also store every raw message. "
        f"Target: ≥ {PATH_TARGET:,} messages/s.",
        "",
        "| capture | messages | messages/s | rows stored | messages/s with raw capture "
        "| rows stored with raw |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *path_rows,
        "",
        *collect_lines,
        *trading_bench.section(),
        *sync_lines,
        *news_bench.section(real),
        *harvest_bench.section(),
    ]
