"""Timeframes and resampling of 1-minute candles, checked against an exchange's own
5-minute candles of the same market and period (freqtrade's real XRP/ETH files)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.candles import resample, timeframe_ms, timeframe_name
from shared.marketdata import Candle

MIN = 60_000
T = 1_677_628_800_000  # 2023-03-01 00:00 UTC


def load(path: Path) -> list[Candle]:
    """freqtrade's ``[ts_ms, o, h, l, c, v]`` rows (JSON floats read by their shortest repr)."""
    out = []
    for row in json.loads(path.read_text()):
        o, h, low, c, v = (Decimal(str(x)) for x in row[1:6])
        out.append(Candle("x", "XRP/ETH", int(row[0]), o, h, low, c, v, 0))
    return out


def test_resampling_the_real_1m_candles_reproduces_the_exchanges_5m_candles_exactly(
    real_data: Path,
) -> None:
    """Tried: the 3,560 real 1-minute XRP/ETH candles resampled to 5m. Kept: all 712
    equal the exchange's own 5-minute file, the 6 buckets without a trade included
    (an empty minute's repeated close takes no part in the open, high or low)."""
    minutes = load(real_data / "freqtrade/XRP_ETH-1m.json")
    exchange = load(real_data / "freqtrade/XRP_ETH-5m.json")

    resampled = list(resample(minutes, 5 * MIN))

    assert len(resampled) == len(exchange) == 712
    assert resampled == exchange


def minute(offset: int, price: str, volume: str = "1", trades: int = 1) -> Candle:
    p = Decimal(price)
    return Candle("x", "S/T", T + offset * MIN, p, p + 1, p - 1, p, Decimal(volume), trades)


def test_a_bucket_missing_a_minute_is_left_out_rather_than_approximated() -> None:
    """Tried: 15 minutes, the 8th missing (an exchange gap). Kept: the two complete
    5m buckets, exact; the one with the hole is not output at all."""
    minutes = [minute(i, str(100 + i), volume=str(i + 1), trades=2) for i in range(15) if i != 7]

    out = list(resample(minutes, 5 * MIN))

    assert [c.open_time_ms for c in out] == [T, T + 10 * MIN]
    first, third = out
    assert (first.open, first.high, first.low, first.close) == (100, 105, 99, 104)
    assert (first.volume, first.trades) == (Decimal(15), 10)
    assert (third.open, third.close, third.volume) == (110, 114, Decimal(11 + 12 + 13 + 14 + 15))


def test_a_bucket_that_never_traded_is_flat_at_the_last_close_with_no_volume() -> None:
    minutes = [minute(i, "7", volume="0", trades=0) for i in range(5)]

    (flat,) = resample(minutes, 5 * MIN)

    assert (flat.open, flat.close, flat.volume, flat.trades) == (7, 7, Decimal(0), 0)


@pytest.mark.parametrize(
    ("text", "ms", "name"),
    [("1m", MIN, "1m"), ("5m", 5 * MIN, "5m"), ("60m", 60 * MIN, "1h"), ("4H", 240 * MIN, "4h"),
     ("1d", 1440 * MIN, "1d"), ("1440m", 1440 * MIN, "1d"), ("90m", 90 * MIN, "90m")],
)
def test_a_timeframe_has_one_spelling(text: str, ms: int, name: str) -> None:
    assert timeframe_ms(text) == ms
    assert timeframe_name(ms) == name


@pytest.mark.parametrize("text", ["", "5", "m5", "0m", "5x", "1.5h"])
def test_an_unreadable_timeframe_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="1m, 5m, 15m, 1h"):
        timeframe_ms(text)


def test_only_intervals_that_divide_a_day_are_resampled() -> None:
    with pytest.raises(ValueError, match="divide a day"):
        list(resample([minute(0, "1")], 7 * MIN))
