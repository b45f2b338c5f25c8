"""The event router: arbitrage opportunities seen across the agent's books land in SQLite."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from edge.agent.router import EventRouter
from edge.store.writer import StoreWriter
from shared.book import OrderBook
from shared.clock import ManualClock
from shared.config.store import StoreConfig
from shared.trading.arbitrage import ArbitrageDetector
from tests.edge.contract import contract_problems

NS = 1_000_000_000


def _book(exchange: str, bid: int, ask: int, clock: ManualClock) -> OrderBook:
    book = OrderBook(exchange, "BTC/USDT", price_decimals=2, size_decimals=4)
    book.load_snapshot([(bid, 20_000)], [(ask, 20_000)])  # 2 BTC a side
    book.ts_recv_ns = clock.time_ns()
    return book


def test_an_opportunity_between_two_exchanges_is_stored_with_its_duration(
    tmp_path: Path,
) -> None:
    """Kraken's bid rises 1 % above Binance.US's ask for 3 s, then falls back: one
    row, buying on Binance.US and selling on Kraken, lasting 3 s, with a positive
    net edge after 0.1 % taker fees on both legs."""
    clock = ManualClock(1_700_000_000 * NS)
    writer = StoreWriter(tmp_path / "edge.db", StoreConfig(commit_interval_s=0.05))
    fee = Decimal("0.001")
    detector = ArbitrageDetector(clock, {"binanceus": fee, "kraken": fee}, latency_ms=0)
    router = EventRouter(writer, clock, StoreConfig(), arbitrage=detector)

    router.on_book(_book("binanceus", 6_500_000, 6_500_100, clock))  # 65000.00 / 65001.00
    router.on_book(_book("kraken", 6_565_000, 6_565_100, clock))  # bid 65650.00: +1 %
    clock.advance_ns(3 * NS)
    router.on_book(_book("kraken", 6_500_000, 6_500_100, clock))  # gone
    writer.close()

    rows = sqlite3.connect(tmp_path / "edge.db").execute(
        "SELECT buy_exchange, sell_exchange, duration_ns, edge_bps, size "
        "FROM arbitrage_opportunities"
    ).fetchall()
    assert len(rows) == 1
    buy, sell, duration, edge_bps, size = rows[0]
    assert (buy, sell, duration) == ("binanceus", "kraken", 3 * NS)
    assert 70 < edge_bps < 100  # ~100 bps gross less 20 bps of fees
    assert Decimal(size) > 0
    # The hub takes the row as written (shared/sync/tables.py's column types).
    assert contract_problems(tmp_path / "edge.db")[1] == []


def test_no_opportunity_is_stored_when_fees_eat_the_edge(tmp_path: Path) -> None:
    """A 5 bps gap is less than the 20 bps both taker fees cost: nothing is recorded."""
    clock = ManualClock(1_700_000_000 * NS)
    writer = StoreWriter(tmp_path / "edge.db", StoreConfig(commit_interval_s=0.05))
    fee = Decimal("0.001")
    detector = ArbitrageDetector(clock, {"binanceus": fee, "kraken": fee}, latency_ms=0)
    router = EventRouter(writer, clock, StoreConfig(), arbitrage=detector)
    router.on_book(_book("binanceus", 6_500_000, 6_500_100, clock))
    router.on_book(_book("kraken", 6_503_500, 6_503_600, clock))
    clock.advance_ns(NS)
    router.close_arbitrage(everything=True)
    writer.close()

    count = sqlite3.connect(tmp_path / "edge.db").execute(
        "SELECT count(*) FROM arbitrage_opportunities"
    ).fetchone()[0]
    assert count == 0
