"""Tick, lot and minimum rules: rounding never more aggressive, checks give reasons."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.trading.instrument import (
    ceil_to_step,
    check_notional,
    check_price,
    check_qty,
    floor_to_step,
    is_on_step,
    round_price,
    round_qty,
)
from shared.trading.types import Instrument

ETH = Instrument(
    "test", "ETH/USD", tick_size=Decimal("0.05"), lot_size=Decimal("0.001"),
    min_notional=Decimal("10"), min_qty=Decimal("0.01"),
)


def test_a_buy_limit_rounds_down_to_the_tick_and_a_sell_up() -> None:
    assert round_price(ETH, Decimal("2000.07"), "buy") == Decimal("2000.05")
    assert round_price(ETH, Decimal("2000.07"), "sell") == Decimal("2000.10")
    assert round_price(ETH, Decimal("2000.05"), "sell") == Decimal("2000.05")


def test_a_quantity_rounds_down_to_the_lot() -> None:
    assert round_qty(ETH, Decimal("1.23456")) == Decimal("1.234")
    assert round_qty(ETH, Decimal("0.0009")) == 0


@pytest.mark.parametrize(
    ("qty", "reason"),
    [
        (Decimal("NaN"), "nan_qty"),
        (Decimal("-Infinity"), "nan_qty"),
        (Decimal("0"), "non_positive_qty"),
        (Decimal("-0.5"), "non_positive_qty"),
        (Decimal("0.0125"), "qty_off_lot"),
        (Decimal("0.005"), "below_min_qty"),
        (0.5, "invalid_order"),
    ],
)
def test_quantities_a_venue_would_refuse_come_back_with_a_reason(qty: object, reason: str) -> None:
    problem = check_qty(ETH, qty)

    assert problem is not None and problem.reason == reason
    assert str(qty) in problem.detail or reason == "invalid_order"


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        (None, "missing_price"),
        (Decimal("sNaN"), "nan_price"),
        (Decimal("0"), "non_positive_price"),
        (Decimal("2000.01"), "price_off_tick"),
        ("2000", "invalid_order"),
    ],
)
def test_prices_a_venue_would_refuse_come_back_with_a_reason(price: object, reason: str) -> None:
    problem = check_price(ETH, price)

    assert problem is not None and problem.reason == reason


def test_valid_values_and_the_minimum_notional() -> None:
    assert check_qty(ETH, Decimal("0.01")) is None
    assert check_price(ETH, Decimal("2000.05")) is None
    assert check_notional(ETH, Decimal("999.95"), Decimal("0.01")) is not None
    assert check_notional(ETH, Decimal("1000"), Decimal("0.01")) is None


_steps = st.sampled_from([Decimal("0.01"), Decimal("0.05"), Decimal("0.25"), Decimal("1e-8"),
                          Decimal("0.03")])
_values = st.decimals(min_value=0, max_value=10**7, places=10, allow_nan=False,
                      allow_infinity=False)


@given(_values, _steps)
def test_rounding_lands_on_the_grid_within_one_step_on_the_right_side(
    value: Decimal, step: Decimal
) -> None:
    down, up = floor_to_step(value, step), ceil_to_step(value, step)

    assert is_on_step(down, step) and is_on_step(up, step)
    assert down <= value <= up
    assert up - down in (0, step)
    assert (up == down) == is_on_step(value, step)
