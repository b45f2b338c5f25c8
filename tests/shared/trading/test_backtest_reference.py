"""The engine against an independent reference (issue 3, point 7).

Three weeks of real Binance.US BTC/USDT 1-minute candles go through the real
engine in candle mode (the shipped ``trend`` strategy, ATR stop off, fees and
slippage on). A separate numpy implementation of the same rules, written here
from docs/strategies.md and the broker's candle-fill rules, must give the same
trades and the same final equity within 1e-9.

The reference shares no code with the engine: EMAs are a ``ufunc.accumulate``
of the documented recurrence, signals are array comparisons, fill prices are
integer ticks, cash is a float.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from shared.config.trading import BrokerConfig, RiskConfig, StrategyConfig
from shared.marketdata import Candle
from shared.trading.backtest import CANDLE, Backtest, BacktestConfig, Event, candle_close_ns
from shared.trading.types import Instrument

EXCHANGE, SYMBOL = "binanceus", "BTC/USDT"
TICK, LOT = Decimal("0.01"), Decimal("0.00001")
FEE = Decimal("0.001")
SLIPPAGE_BPS = 2
FAST, SLOW = 12, 26
BALANCE = Decimal(10_000)
FRACTION = 0.25
CSV = Path("iaqf_analysis") / "BTCUSDT_1m_20230301_20230321.csv"


def load_rows(real_data: Path) -> list[dict[str, str]]:
    with (real_data / CSV).open(newline="") as handle:
        return list(csv.DictReader(handle))


def candles_of(rows: list[dict[str, str]]) -> list[Candle]:
    out = []
    for row in rows:
        open_ms = int(datetime.fromisoformat(row["open_time"]).timestamp() * 1000)
        out.append(Candle(
            EXCHANGE, SYMBOL, open_ms, Decimal(row["open"]), Decimal(row["high"]),
            Decimal(row["low"]), Decimal(row["close"]), Decimal(row["volume"]), 0,
        ))
    return out


def run_engine(candles: list[Candle]) -> Backtest:
    events: list[Event] = [(candle_close_ns(c), CANDLE, c) for c in candles]
    config = BacktestConfig(
        strategies=[StrategyConfig(
            name="trend", kind="trend", exchange=EXCHANGE, symbols=[SYMBOL],
            starting_balance=BALANCE,
            params={"fast_period": FAST, "slow_period": SLOW, "atr_stop_mult": None},
        )],
        instruments={(EXCHANGE, SYMBOL): Instrument(
            EXCHANGE, SYMBOL, TICK, LOT, maker_fee=FEE, taker_fee=FEE,
        )},
        start_ns=events[0][0] - 60_000_000_000,
        end_ns=events[-1][0],
        broker=BrokerConfig(latency_ms=0, candle_slippage_bps=SLIPPAGE_BPS),
        # Sizing is the only risk rule in play: no daily-loss or drawdown stops.
        risk=RiskConfig(max_position_fraction=FRACTION, daily_loss_limit=1.0, max_drawdown=1.0),
        candle_mode=True,
    )
    backtest = Backtest(config)
    backtest.run(events)
    return backtest


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """``ema[0] = x[0]``, ``ema[t] = a*x[t] + (1-a)*ema[t-1]``, ``a = 2/(n+1)`` (float64)."""
    a = 2.0 / (period + 1)
    step = np.frompyfunc(lambda prev, x: a * x + (1.0 - a) * prev, 2, 1)
    return step.accumulate(values.astype(object)).astype(np.float64)


def reference(rows: list[dict[str, str]]) -> tuple[list[tuple[str, int, float, float]], float]:
    """(trades as (side, fill bar, price, qty), final equity) by the documented rules."""
    close = np.array([float(r["close"]) for r in rows])
    ticks = {k: np.array([int(Decimal(r[k]) / TICK) for r in rows], dtype=np.int64)
             for k in ("open", "high", "low")}
    d = ema(close, FAST) - ema(close, SLOW)
    t = np.arange(len(d))
    prev = np.concatenate([[0.0], d[:-1]])
    usable = (t >= SLOW) & (t + 1 < len(d))  # a signal needs a next bar to fill on
    golden = np.flatnonzero(usable & (prev <= 0) & (d > 0))
    death = np.flatnonzero(usable & (prev >= 0) & (d < 0))
    # Market fills at the next open moved by the slippage, rounded against the
    # order to the tick and kept inside the bar: integer ticks, exact.
    buy_px = np.minimum(-(-ticks["open"] * (10_000 + SLIPPAGE_BPS) // 10_000), ticks["high"])
    sell_px = np.maximum(ticks["open"] * (10_000 - SLIPPAGE_BPS) // 10_000, ticks["low"])
    tick, fee, lot = float(TICK), float(FEE), float(LOT)
    signals = sorted([(int(i), "buy") for i in golden] + [(int(i), "sell") for i in death])
    cash, qty = float(BALANCE), 0.0
    trades = []
    for i, side in signals:
        if side == "buy" and qty == 0:
            # Risk sizing when flat: the largest position, 25 % of equity (= cash),
            # at the decision candle's close, floored to the lot.
            size = math.floor(FRACTION * cash / close[i] / lot) * lot
            size = float(Decimal(repr(size)).quantize(LOT))
            price = buy_px[i + 1] * tick
            cash -= size * price + size * price * fee
            qty = size
            trades.append(("buy", i + 1, price, size))
        elif side == "sell" and qty > 0:
            price = sell_px[i + 1] * tick
            cash += qty * price - qty * price * fee
            trades.append(("sell", i + 1, price, qty))
            qty = 0.0
    return trades, cash + qty * close[-1]


@pytest.mark.real_data
def test_trend_over_real_candles_matches_the_numpy_reference(real_data: Path) -> None:
    rows = load_rows(real_data)
    candles = candles_of(rows)
    expected_trades, expected_equity = reference(rows)

    backtest = run_engine(candles)
    fills = backtest.ledger.fills
    bar_of = {c.open_time_ms * 1_000_000: i for i, c in enumerate(candles)}  # at its open
    got = [(f.side, bar_of[f.ts_ns], float(f.price), float(f.qty)) for f in fills]

    assert len(expected_trades) > 20, "the reference should trade a lot over three weeks"
    assert [(s, b) for s, b, _, _ in got] == [(s, b) for s, b, _, _ in expected_trades]
    for (_, _, price, qty), (_, _, ref_price, ref_qty) in zip(got, expected_trades, strict=True):
        assert price == pytest.approx(ref_price, abs=1e-9)
        assert qty == pytest.approx(ref_qty, abs=1e-12)
    final = float(backtest.portfolios["trend"].equity())
    assert abs(final - expected_equity) < 1e-9
    assert sum(f.fee for f in fills) > 0
