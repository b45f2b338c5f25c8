"""The cross-exchange arbitrage detector on hand-built books."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from shared.book import OrderBook
from shared.clock import ManualClock
from shared.trading.arbitrage import ArbitrageDetector

SYM = "BTC/USDT"
NS = 1_000_000_000
NO_FEES = {"binance": Decimal(0), "kraken": Decimal(0)}
FEES = {"binance": Decimal("0.001"), "kraken": Decimal("0.001")}


def book(
    exchange: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], ts_ns: int
) -> OrderBook:
    b = OrderBook(exchange, SYM, price_decimals=2, size_decimals=4)
    b.load_snapshot(
        [(int(Decimal(p) * 100), int(Decimal(s) * 10_000)) for p, s in bids],
        [(int(Decimal(p) * 100), int(Decimal(s) * 10_000)) for p, s in asks],
    )
    b.ts_recv_ns = ts_ns
    return b


def detector(clock: ManualClock, fees: dict[str, Decimal], **kwargs: object) -> ArbitrageDetector:
    return ArbitrageDetector(clock, fees, k=0.0, **kwargs)  # type: ignore[arg-type]


def test_an_opportunity_opens_and_closes_with_its_duration() -> None:
    clock = ManualClock(NS)
    arb = detector(clock, FEES)
    assert arb.on_book(book("binance", [("99.90", "1")], [("100.00", "1")], clock.time_ns())) == []

    clock.set_ns(2 * NS)
    opened = arb.on_book(book("kraken", [("100.50", "2")], [("100.60", "1")], clock.time_ns()))
    (live,) = arb.open_opportunities()
    clock.set_ns(5 * NS)
    closed = arb.on_book(book("kraken", [("100.05", "2")], [("100.60", "1")], clock.time_ns()))

    assert opened == []
    assert (live.buy_exchange, live.sell_exchange, live.start_ns, live.end_ns) == (
        "binance", "kraken", 2 * NS, None,
    )  # fmt: skip
    (record,) = closed
    assert record.duration_ns == 3 * NS and record.end_ns == 5 * NS
    assert record.size == Decimal(1)
    assert record.buy_price == Decimal("100.00") and record.sell_price == Decimal("100.50")
    # 100.50 * 0.999 - 100.00 * 1.001 = 0.2995 per unit
    assert record.profit == Decimal("0.2995")
    assert record.edge_bps == pytest.approx(29.95)
    assert arb.open_opportunities() == []


def test_fees_kill_a_thin_edge() -> None:
    clock = ManualClock(NS)
    books = [
        book("binance", [("99.90", "1")], [("100.00", "1")], NS),
        book("kraken", [("100.15", "1")], [("100.30", "1")], NS),
    ]
    with_fees, free = detector(clock, FEES), detector(clock, NO_FEES)
    for b in books:
        with_fees.on_book(b)
        free.on_book(b)

    # 100.15 * 0.999 = 100.04985 < 100.00 * 1.001 = 100.1
    assert with_fees.open_opportunities() == []
    (thin,) = free.open_opportunities()
    assert thin.edge_bps == pytest.approx(15.0)


def test_the_size_walks_levels_until_the_edge_vanishes() -> None:
    clock = ManualClock(NS)
    arb = detector(clock, NO_FEES)
    arb.on_book(
        book("binance", [("99.00", "1")], [("100.00", "1"), ("100.10", "2"), ("100.40", "5")], NS)
    )
    arb.on_book(
        book("kraken", [("100.50", "1.5"), ("100.30", "1"), ("100.20", "3")], [("101", "1")], NS)
    )

    (opp,) = arb.open_opportunities()

    # 1 @ (100.00 -> 100.50), 0.5 @ (100.10 -> 100.50), 1 @ (100.10 -> 100.30),
    # 0.5 @ (100.10 -> 100.20); then 100.40 -> 100.20 loses.
    assert opp.size == Decimal("3.0")
    assert opp.profit == Decimal("0.95")
    cost = Decimal("100") + Decimal("0.5") * Decimal("100.10") * 2 + Decimal("100.10")
    assert opp.edge_bps == pytest.approx(float(Decimal("0.95") / cost) * 10_000)


def test_the_best_edge_and_size_are_kept_while_it_lasts() -> None:
    clock = ManualClock(NS)
    arb = detector(clock, NO_FEES)
    arb.on_book(book("binance", [("99.00", "1")], [("100.00", "1")], NS))
    arb.on_book(book("kraken", [("100.10", "1")], [("101.00", "1")], NS))
    clock.set_ns(2 * NS)
    arb.on_book(book("kraken", [("100.50", "1")], [("101.00", "1")], 2 * NS))

    (opp,) = arb.open_opportunities()

    assert opp.edge_bps == pytest.approx(10.0) and opp.max_edge_bps == pytest.approx(50.0)
    assert opp.updates == 2


def test_the_latency_haircut_is_k_sigmas_of_the_move_during_the_latency() -> None:
    clock = ManualClock(NS)
    arb = ArbitrageDetector(clock, NO_FEES, latency_ms={"binance": 100.0, "kraken": 400.0}, k=2.0)
    arb.on_book(book("binance", [("99.99", "1")], [("100.01", "1")], NS))
    clock.set_ns(2 * NS)
    arb.on_book(book("binance", [("100.99", "1")], [("101.01", "1")], 2 * NS))

    r = math.log(101.0 / 100.0)  # one return over one second

    assert arb.haircut("binance", "kraken", SYM) == pytest.approx(2.0 * math.sqrt(r * r * 0.1))


def test_a_volatile_market_hides_an_edge_smaller_than_the_haircut() -> None:
    clock = ManualClock(NS)
    arb = ArbitrageDetector(clock, NO_FEES, latency_ms=1_000.0, k=1.0)
    arb.on_book(book("binance", [("99.99", "1")], [("100.01", "1")], NS))
    clock.set_ns(2 * NS)
    arb.on_book(book("binance", [("100.99", "1")], [("101.01", "1")], 2 * NS))

    # A 20 bps cross; the haircut is ~1% (one 1% move per second, 1 s of latency).
    arb.on_book(book("kraken", [("101.21", "1")], [("101.40", "1")], 2 * NS))

    assert arb.open_opportunities() == []


def test_a_book_that_goes_stale_closes_the_opportunity() -> None:
    clock = ManualClock(NS)
    arb = detector(clock, NO_FEES, max_book_age_ms=1_000.0)
    arb.on_book(book("binance", [("99.00", "1")], [("100.00", "1")], NS))
    arb.on_book(book("kraken", [("100.50", "1")], [("101.00", "1")], NS))
    assert arb.on_time() == [] and len(arb.open_opportunities()) == 1

    clock.set_ns(3 * NS)
    (closed,) = arb.on_time()

    assert closed.end_ns == 3 * NS and closed.duration_ns == 2 * NS


def test_close_all_ends_what_is_open_and_rows_are_flat() -> None:
    clock = ManualClock(NS)
    arb = detector(clock, NO_FEES)
    arb.on_book(book("binance", [("99.00", "1")], [("100.00", "1")], NS))
    arb.on_book(book("kraken", [("100.50", "1")], [("101.00", "1")], NS))
    clock.set_ns(4 * NS)

    (closed,) = arb.close_all()

    row = closed.as_row()
    assert row["duration_ns"] == 3 * NS and row["size"] == "1.0000"
    assert row["buy_exchange"] == "binance" and row["sell_exchange"] == "kraken"
    assert arb.open_opportunities() == []


def test_an_exchange_without_a_fee_is_named() -> None:
    clock = ManualClock(NS)
    arb = detector(clock, {"binance": Decimal(0)})
    arb.on_book(book("binance", [("99.00", "1")], [("100.00", "1")], NS))

    with pytest.raises(ValueError, match="kraken"):
        arb.on_book(book("kraken", [("100.50", "1")], [("101.00", "1")], NS))
