"""A strategy's paper portfolio: average cost, fees apart, marks, and books that balance."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.trading.portfolio import NS_PER_DAY, LedgerError, Portfolio
from shared.trading.types import Fill, Liquidity, Side

BTC = ("binanceus", "BTC/USDT")
ETH = ("binanceus", "ETH/USDT")
D = Decimal


def fill(
    side: Side, qty: str | Decimal, price: str | Decimal, fee: str | Decimal = "0",
    key: tuple[str, str] = BTC, ts: int = 1, strategy: str = "s1",
) -> Fill:
    return Fill(
        1, strategy, key[0], key[1], side, D(price), D(qty), D(fee), Liquidity.TAKER, ts
    )


def test_average_cost_realizes_pnl_gross_of_fees() -> None:
    p = Portfolio("s1", D(10_000))

    p.apply(fill("buy", "1", "100", "0.1"))
    p.apply(fill("buy", "1", "110", "0.11"))
    p.apply(fill("sell", "0.5", "120", "0.06"))

    assert p.positions[BTC].qty == D("1.5")
    assert p.positions[BTC].avg_cost == D(105)
    assert p.realized == D("7.5")  # 0.5 * (120 - 105)
    assert p.fees == D("0.27")
    assert p.cash == D(10_000) - 100 - 110 + 60 - D("0.27")
    assert p.unrealized() == D("1.5") * (120 - 105)  # marked at the last fill


def test_closing_a_position_removes_it_and_keeps_exact_cost() -> None:
    p = Portfolio("s1", D(1_000))
    p.apply(fill("buy", "3", "10"))
    p.apply(fill("sell", "1", "11"))
    p.apply(fill("sell", "2", "12"))

    assert BTC not in p.positions
    assert p.realized == D(1) + D(4)
    assert p.cash == D(1_005)
    assert p.equity() == D(1_005)


def test_selling_more_than_held_is_refused_as_a_ledger_error() -> None:
    p = Portfolio("s1", D(1_000))
    p.apply(fill("buy", "1", "10"))

    with pytest.raises(LedgerError, match=r"s1.*exceeds the 1 held"):
        p.apply(fill("sell", "1.5", "10"))
    with pytest.raises(LedgerError, match="long only"):
        p.apply(fill("sell", "1", "10", key=ETH))


def test_a_fill_for_another_strategy_or_with_bad_numbers_is_refused() -> None:
    p = Portfolio("s1", D(1_000))

    with pytest.raises(LedgerError, match="fill for s2"):
        p.apply(fill("buy", "1", "10", strategy="s2"))
    with pytest.raises(LedgerError, match="qty"):
        p.apply(fill("buy", "NaN", "10"))
    with pytest.raises(LedgerError, match="price"):
        p.apply(fill("buy", "1", "0"))


def test_marks_drive_unrealized_equity_drawdown_and_exposure() -> None:
    p = Portfolio("s1", D(1_000))
    p.apply(fill("buy", "2", "100"))
    p.observe(10)

    p.update_mark(BTC, D(150))
    p.observe(20)
    p.update_mark(BTC, D(75))

    assert p.unrealized() == D(-50)
    assert p.equity() == D(950)
    assert p.peak_equity == D(1_100)
    assert p.drawdown() == (D(1_100) - D(950)) / D(1_100)
    assert p.exposure() == D(150) / D(950)


def test_the_daily_start_equity_rolls_at_utc_midnight() -> None:
    p = Portfolio("s1", D(1_000))
    p.apply(fill("buy", "1", "100", ts=NS_PER_DAY + 5))
    p.update_mark(BTC, D(90))
    p.observe(NS_PER_DAY + 10)
    assert p.daily_pnl() == D(-10)

    p.observe(2 * NS_PER_DAY)

    assert p.day_start_equity == D(990)
    assert p.daily_pnl() == 0


def test_a_fill_stamped_before_midnight_but_booked_after_it_keeps_the_new_day() -> None:
    """Tried: the day rolled at midnight (a timer tick), then a fill stamped 23:59 of the
    day before is booked (a candle backtest books the 23:59 bar at its close, 00:00,
    stamped at its open). Kept: the day stays the new one, its start equity is not
    reset again, and the next tick of the new day does not reset it either."""
    p = Portfolio("s1", D(1_000))
    p.observe(NS_PER_DAY - 120 * 10**9)
    p.observe(2 * NS_PER_DAY)  # midnight: the new day starts from 1,000

    p.apply(fill("buy", "1", "100", fee="1", ts=2 * NS_PER_DAY - 60 * 10**9))
    p.observe(2 * NS_PER_DAY + 60 * 10**9)

    assert p.day == 2
    assert p.day_start_equity == D(1_000)
    assert p.daily_pnl() == D(-1)


def test_state_reports_every_figure() -> None:
    p = Portfolio("s1", D(1_000))
    p.apply(fill("buy", "1", "100", "1"))
    p.update_mark(BTC, D(110))

    state = p.state(42)

    assert state.ts_ns == 42 and state.strategy == "s1"
    assert state.cash == D(899)
    assert state.positions_value == D(110)
    assert state.equity == D(1_009)
    assert (state.realized, state.unrealized, state.fees) == (0, D(10), D(1))
    assert state.exposure == D(110) / D(1_009)
    assert state.open_positions == 1


def test_books_that_stop_balancing_raise_naming_the_strategy_and_fill() -> None:
    p = Portfolio("alpha", D(1_000))
    p.apply(fill("buy", "1", "100", strategy="alpha"))
    p.cash += D("0.000001")  # a corrupted account, as a bug elsewhere would leave it

    with pytest.raises(LedgerError, match=r"alpha: books do not balance after fill of order 1"):
        p.apply(fill("buy", "1", "100", strategy="alpha"))


# -- the invariant over random order streams --------------------------------------------

amounts = st.integers(1, 10**12).map(lambda n: D(n).scaleb(-8))
prices = st.integers(1, 10**11).map(lambda n: D(n).scaleb(-6))
fees = st.integers(0, 10**9).map(lambda n: D(n).scaleb(-9))
keys = st.sampled_from([BTC, ETH, ("kraken", "BTC/USD")])
ops = st.one_of(
    st.tuples(st.just("buy"), keys, amounts, prices, fees),
    st.tuples(st.just("sell"), keys, st.integers(1, 1000), prices, fees),
    st.tuples(st.just("mark"), keys, prices),
)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(1, 10**9).map(D), stream=st.lists(ops, max_size=60))
def test_random_order_streams_keep_the_books_balanced(start: Decimal, stream: list[tuple]) -> None:  # type: ignore[type-arg]
    p = Portfolio("fuzz", start)
    cash = start
    for ts, op in enumerate(stream):
        if op[0] == "mark":
            p.update_mark(op[1], op[2])
        else:
            side, key, amount, price, fee = op
            if side == "sell":
                held = p.qty(key)
                qty = (held * amount / 1000).quantize(D("1e-8"), rounding="ROUND_FLOOR")
                if qty <= 0:
                    continue
                if amount == 1000:
                    qty = held
                cash += qty * price - fee
            else:
                qty = amount
                cash -= qty * price + fee
            p.apply(fill(side, qty, price, fee, key=key, ts=ts, strategy="fuzz"))
        # Assert: the identity, exactly, and cash as an independent sum.
        p.check_invariant()
        assert p.realized + p.unrealized() - p.fees == p.equity() - start
        assert p.cash == cash
        assert all(pos.qty > 0 and pos.cost >= 0 for pos in p.positions.values())
