"""The SQLite paper ledger: one broker step per commit, and an exact reload, even after kill -9.

Run as a module (``python -m tests.edge.trading.test_ledger DB``) it is the
subprocess of the kill -9 test: a stream of orders and fills through the real
store writer until it is killed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from edge.store.db import connect
from edge.store.writer import StoreWriter
from edge.trading.ledger import SqliteLedger, load_ledger
from shared.clock import ManualClock
from shared.config.store import StoreConfig
from shared.trading.portfolio import LedgerError, Portfolio
from shared.trading.types import (
    Bracket,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Rejection,
    TimeInForce,
)
from tests.conftest import REPO
from tests.waiting import wait_for

D = Decimal
EX = "binanceus"
SYMBOLS = ("BTC/USDT", "ETH/USDT")


def order(order_id: int, strategy: str, side: str, qty: str, price: str, ts: int) -> Order:
    return Order(
        order_id, strategy, EX, SYMBOLS[order_id % 2], side, OrderType.LIMIT, D(qty),  # type: ignore[arg-type]
        D(price), None, TimeInForce.GTC, False, ts, ts + 50, status=OrderStatus.OPEN,
        queue_ahead=D("1.25"), bracket=Bracket(D(price) - 5, None), tag=f"t{order_id}",
        updated_ns=ts,
    )


def fill_for(o: Order, qty: str, ts: int) -> Fill:
    assert o.price is not None
    fee = (D(qty) * o.price * D("0.001")).quantize(D("1e-8"))
    return Fill(o.id, o.strategy, o.exchange, o.symbol, o.side, o.price, D(qty), fee,
                Liquidity.MAKER, ts)


def execute(o: Order, qty: str, ts: int) -> OrderUpdate:
    """The broker's step for a (partial) fill: the order's new state and the fill, together."""
    f = fill_for(o, qty, ts)
    total = o.filled_qty + f.qty
    assert o.price is not None
    o.avg_price = o.price
    o.filled_qty = total
    o.fees += f.fee
    o.status = OrderStatus.FILLED if total == o.qty else OrderStatus.PARTIALLY_FILLED
    o.updated_ns = ts
    return OrderUpdate(orders=[o], fills=[f])


def run_stream(
    db: Path, steps: int | None, config: StoreConfig
) -> tuple[dict[str, Portfolio], set[int]]:
    """Trade a deterministic stream through ledger and portfolios, as the engine does."""
    clock = ManualClock(1_700_000_000_000_000_000)
    portfolios = {name: Portfolio(name, D(100_000)) for name in ("alpha", "beta")}
    open_ids: set[int] = set()
    with StoreWriter(db, config) as writer:
        ledger = SqliteLedger(writer, clock, portfolios, state_interval_s=0.001)
        i = 0
        while steps is None or i < steps:
            i += 1
            clock.advance_ns(1_000_000)
            ts = clock.time_ns()
            name = "alpha" if i % 3 else "beta"
            p = portfolios[name]
            buy = order(i, name, "buy", "0.5", f"{100 + i % 7}.25", ts)
            rejected = [Rejection(name, EX, buy.symbol, "stale_book", "book 6s old", ts)]
            ledger.record(OrderUpdate(orders=[buy], rejections=rejected if i % 4 == 0 else []))
            # Built one at a time: each step records the order as that step left it.
            for qty, at in (("0.2", ts + 1), ("0.3", ts + 2)):
                update = execute(buy, qty, at)
                ledger.record(update)
                p.apply(update.fills[0])
            if i % 5 == 0:
                held = p.qty((EX, buy.symbol))
                sell = order(100_000 + i, name, "sell", str(held / 2), f"{101 + i % 5}.5", ts)
                sell.symbol = buy.symbol
                ledger.record(OrderUpdate(orders=[sell]))
                update = execute(sell, str(held / 2), ts + 3)
                ledger.record(update)
                p.apply(update.fills[0])
            if i % 6 == 0:
                resting = order(200_000 + i, name, "buy", "0.1", "90", ts)
                ledger.record(OrderUpdate(orders=[resting]))
                open_ids.add(resting.id)
            ledger.on_time(ts)
    return portfolios, open_ids


def test_one_broker_step_lands_in_one_commit(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    clock = ManualClock(1_000)
    p = Portfolio("alpha", D(1_000))
    o = order(1, "alpha", "buy", "2", "100", 1_000)
    update = execute(o, "2", 1_001)
    update.rejections.append(Rejection("alpha", EX, o.symbol, "nan_qty", "size is NaN", 1_001))

    # commit_max_rows=2 would split these four rows if they were queued one by one.
    with StoreWriter(db, StoreConfig(commit_max_rows=2, commit_interval_s=0.01)) as writer:
        ledger = SqliteLedger(writer, clock, {"alpha": p})
        writer.flush()
        before = writer.stats().commits
        ledger.record(update)
        writer.flush()
        assert writer.stats().commits == before + 1

    conn = connect(db)
    assert conn.execute("SELECT order_id, status, filled_qty, fees, queue_ahead, "
                        "bracket_stop, tag FROM order_events").fetchall() == [
        (1, "filled", "2", "0.20000000", "1.25", "95", "t1")
    ]
    assert conn.execute("SELECT order_id, price, qty, fee, liquidity FROM fills").fetchall() == [
        (1, "100", "2", "0.20000000", "maker")
    ]
    assert conn.execute("SELECT reason, detail FROM risk_rejections").fetchall() == [
        ("nan_qty", "size is NaN")
    ]


def test_reload_reproduces_portfolios_and_open_orders_exactly(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"

    portfolios, open_ids = run_stream(db, 40, StoreConfig(commit_interval_s=0.01))
    recovered = load_ledger(db)

    assert recovered.portfolios.keys() == portfolios.keys()
    for name, live in portfolios.items():
        again = recovered.portfolios[name]
        assert (again.cash, again.realized, again.fees, again.start) == (
            live.cash, live.realized, live.fees, live.start
        )
        assert again.positions == live.positions
        assert again.marks == live.marks
        assert again.equity() == live.equity()
    assert {o.id for o in recovered.open_orders} == open_ids
    first = recovered.open_orders[0]
    assert first == order(first.id, first.strategy, "buy", "0.1", "90", first.created_ns)
    assert recovered.next_order_id == max(open_ids) + 1
    assert recovered.fills == sum(p.fills_applied for p in portfolios.values())
    states = connect(db).execute("SELECT COUNT(*) FROM portfolio_state").fetchone()[0]
    assert states >= 40


def test_a_fill_without_its_order_is_an_inconsistent_ledger(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    with StoreWriter(db, StoreConfig()) as writer:
        SqliteLedger(writer, ManualClock(1), {"alpha": Portfolio("alpha", D(1_000))})
        writer.put("fills", (9, "alpha", EX, "BTC/USDT", "buy", "1", "1", "0", "maker", 5))

    with pytest.raises(LedgerError, match="no event for order 9"):
        load_ledger(db)


def test_an_empty_or_missing_store_recovers_to_nothing(tmp_path: Path) -> None:
    recovered = load_ledger(tmp_path / "absent.db")

    assert (recovered.portfolios, recovered.open_orders, recovered.next_order_id) == ({}, [], 1)


# -- kill -9 ---------------------------------------------------------------------------------


def _fill_count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0  # not created or not migrated yet


@pytest.mark.slow
def test_kill_9_mid_stream_reloads_a_consistent_ledger(tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.edge.trading.test_ledger", str(db)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE,
    )
    try:
        def stored(count: int) -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return _fill_count(db) >= count

        wait_for(lambda: stored(600), 60, "600 fills stored (the stream got going)")
        # One more commit seen: the stream is mid-batch when the kill lands.
        seen = _fill_count(db)
        wait_for(lambda: stored(seen + 1), 10, "another commit of fills")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    # Act: reload. Replaying fills checks the books balance after every one.
    recovered = load_ledger(db)

    # Assert: no step was cut in half: every order's last event agrees with its fills.
    conn = connect(db)
    last = dict(conn.execute(
        "SELECT order_id, filled_qty FROM order_events WHERE id IN "
        "(SELECT MAX(id) FROM order_events GROUP BY order_id)"
    ).fetchall())
    filled: dict[int, Decimal] = {}
    for order_id, qty in conn.execute("SELECT order_id, qty FROM fills"):
        filled[order_id] = filled.get(order_id, D(0)) + D(qty)
    assert filled.keys() <= last.keys()
    assert all(D(last[i]) == filled.get(i, D(0)) for i in last)
    assert recovered.fills == len(conn.execute("SELECT id FROM fills").fetchall()) >= 600
    for p in recovered.portfolios.values():
        p.check_invariant()
        assert p.cash > 0
    open_in_db = {
        i for (i,) in conn.execute(
            "SELECT order_id FROM order_events WHERE id IN (SELECT MAX(id) FROM order_events "
            "GROUP BY order_id) AND status IN ('pending', 'open', 'partially_filled')"
        )
    }
    assert {o.id for o in recovered.open_orders} == open_in_db != set()


if __name__ == "__main__":
    # Small, frequent commits so the kill lands between and inside batches.
    run_stream(Path(sys.argv[1]), None, StoreConfig(commit_interval_s=0.005, commit_max_rows=7))
