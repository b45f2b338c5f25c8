"""The report's rows and formats, over a real candle backtest of real candles."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from edge.trading.price_tape import PriceTape
from edge.trading.report_tables import (
    ReportData,
    all_trade_rows,
    human,
    human_duration,
    ratio_text,
)
from shared.config.trading import StrategyConfig
from shared.marketdata import Candle
from shared.trading.backtest import CANDLE, Backtest, BacktestConfig, Event, candle_close_ns
from shared.trading.memory_ledger import MemoryLedger
from shared.trading.strategy import Intents, Strategy, StrategyParams, StrategyRegistry
from shared.trading.types import Instrument
from tests.shared.trading.test_backtest_reference import candles_of, load_rows

EXCHANGE, SYMBOL = "binanceus", "BTC/USDT"


class BuyOnceParams(StrategyParams):
    pass


class BuyOnce(Strategy[BuyOnceParams]):
    """Buys on its first candle and never sells."""

    kind = "buy_once"
    Params = BuyOnceParams

    def on_candle(self, candle: Candle) -> Intents:
        if not self.ctx.position(candle.symbol) and not self.ctx.open_orders(candle.symbol):
            return [self.market(candle.symbol, "buy", size_fraction=Decimal("0.5"), tag="buy once")]
        return None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(42, "42s"), (300, "5m"), (330, "5m 30s"), (3_900, "1h 05m"), (93_600, "1d 02h")],
)
def test_durations_read_as_people_write_them(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_figures_have_thousands_separators_and_two_decimal_percentages() -> None:
    assert human(8517.0297, "money") == "8,517.03"
    assert human(-0.148297, "pct") == "-14.83%"
    assert human(Decimal("23471.8"), "price") == "23,471.80"
    assert human(Decimal("0.12345678"), "price") == "0.12345678"
    assert human(30_240, "int") == "30,240"
    assert human(None, "ratio") == "—"
    assert ratio_text(1.234, 21) == "1.23"
    assert ratio_text(1.234, 6) == "n/a (needs ≥ 7 days)"


@pytest.mark.real_data
def test_a_trade_still_open_at_the_end_is_marked_at_the_last_price(real_data: Path) -> None:
    """Tried: a strategy that buys on the first real candle and holds a day. Kept: one
    row, exit reason end of backtest, its exit the last event at the last close, its
    P&L the position marked there less the entry fee, its duration entry to end."""
    candles = candles_of(load_rows(real_data))[:1440]
    events: list[Event] = [(candle_close_ns(c), CANDLE, c) for c in candles]
    registry = StrategyRegistry()
    registry.register(BuyOnce)
    config = BacktestConfig(
        strategies=[StrategyConfig(name="hold", kind="buy_once", exchange=EXCHANGE,
                                   symbols=[SYMBOL])],
        instruments={(EXCHANGE, SYMBOL): Instrument(
            EXCHANGE, SYMBOL, Decimal("0.01"), Decimal("0.00001")
        )},
        start_ns=candles[0].open_time_ms * 1_000_000, end_ns=events[-1][0], candle_mode=True,
    )
    ledger = MemoryLedger()
    tape = PriceTape(EXCHANGE, SYMBOL)
    result = Backtest(config, ledger=ledger, registry=registry).run(tape.watch(events))

    (row,) = all_trade_rows(result, ReportData(orders=ledger.orders, prices=tape))

    (buy,) = result.runs["hold"].fills
    last = candles[-1].close
    assert row["exit_reason"] == "end of backtest" and row["entry_tag"] == "buy once"
    assert row["entry_ns"] == buy.ts_ns == candles[1].open_time_ms * 1_000_000
    assert row["exit_ns"] == events[-1][0]
    assert Decimal(row["exit_price"]) == last
    assert Decimal(row["pnl"]) == buy.qty * last - buy.qty * buy.price - buy.fee
    assert row["duration_s"] == (events[-1][0] - buy.ts_ns) / 1e9
    assert row["duration"] == "23h 59m"
