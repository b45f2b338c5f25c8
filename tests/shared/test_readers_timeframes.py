"""Candles of a longer timeframe from a real agent database: stored ones first, the
rest resampled from 1-minute candles, each bucket once, at its close."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from edge.history.importer import import_files
from edge.store.db import open_store
from shared.marketdata import Candle
from shared.readers.sources import available
from shared.readers.timeframes import replay_end_ns, stored_timeframe_count, timeframe_candle_events

T = 1_677_628_800_000  # 2023-03-01 00:00 UTC
MIN = 60_000
NS = 1_000_000


def test_stored_candles_of_the_timeframe_stand_and_1m_candles_fill_the_other_buckets(
    tmp_path: Path,
) -> None:
    """Tried: 15 stored minutes (three 5m buckets) and an imported 5m file holding the
    middle bucket with other figures. Kept: three 5m candles; the middle one is the
    stored one, the others resampled from the minutes; all at open + 5 minutes."""
    minutes = tmp_path / "1m.csv"
    minutes.write_text("".join(f"{T + i * MIN},10,12,9,11,1\n" for i in range(15)))
    fives = tmp_path / "5m.csv"
    fives.write_text("".join(
        f"{T + i * 5 * MIN},20,22,19,21,7\n" for i in (1, 3, 4, 5)  # 3 steps: read as 5m
    ))
    conn = open_store(tmp_path / "edge.db")
    import_files(conn, [minutes], exchange="binance", symbol="S/T")
    import_files(conn, [fives], exchange="binance", symbol="S/T")

    events = list(timeframe_candle_events(  # to the last ns before a 4th bucket
        conn, "binance", "S/T", T * NS, (T + 15 * MIN) * NS - 1, timeframe="5m"
    ))

    assert [ts for ts, _, _ in events] == [(T + k * 5 * MIN) * NS for k in (1, 2, 3)]
    first, middle, last = (cast(Candle, c) for _, _, c in events)
    assert (first.open, first.close, first.volume) == (10, 11, 5)
    assert (middle.open, middle.close, middle.volume) == (20, 21, 7)
    assert (last.open, last.high, last.volume) == (10, 12, 5)
    assert stored_timeframe_count(
        conn, "binance", "S/T", T * NS, (T + 15 * MIN) * NS, "5m") == 2


def test_a_hub_store_without_candles_tf_resamples_its_minutes(tmp_path: Path) -> None:
    """A store that has no candles_tf table (the hub's) is read as having none."""
    minutes = tmp_path / "1m.csv"
    minutes.write_text("".join(f"{T + i * MIN},10,12,9,11,1\n" for i in range(60)))
    conn = open_store(tmp_path / "edge.db")
    import_files(conn, [minutes], exchange="binance", symbol="S/T")
    conn.execute("DROP TABLE candles_tf")

    events = list(timeframe_candle_events(
        conn, "binance", "S/T", T * NS, (T + 60 * MIN) * NS, timeframe="60m"
    ))

    assert [(ts, cast(Candle, c).volume) for ts, _, c in events] == [((T + 60 * MIN) * NS, 60)]


def test_a_window_of_whole_days_takes_every_candle_opening_in_it_the_last_at_midnight(
    tmp_path: Path,
) -> None:
    """Tried: --from 2023-03-01 --to 2023-03-01 (TIME/TIME_END: the day's first and last
    nanosecond) over the minutes from 23:58 the day before to 00:01 the day after, at
    1m and at 5m. Kept: the day's 1,440 minutes (288 five-minute buckets), the 23:59
    one at midnight, after the window's last nanosecond, and the replay end reaches it;
    the minute opening at 23:59 the day before (closing at the start) is left out."""
    from shared.cli_options import TIME, TIME_END

    start, end = TIME.convert("2023-03-01", None, None), TIME_END.convert("2023-03-01", None,
                                                                          None)
    minutes = tmp_path / "1m.csv"
    minutes.write_text("".join(f"{T + i * MIN},10,12,9,11,1\n" for i in range(-2, 1442)))
    conn = open_store(tmp_path / "edge.db")
    import_files(conn, [minutes], exchange="binance", symbol="S/T")

    ones = list(timeframe_candle_events(conn, "binance", "S/T", start, end))
    fives = list(timeframe_candle_events(conn, "binance", "S/T", start, end,
                                                 timeframe="5m"))

    assert len(ones) == 1440 and len(fives) == 288
    assert cast(Candle, ones[0][2]).open_time_ms == T
    assert ones[-1][0] == (T + 1440 * MIN) * NS == end + 1
    assert fives[-1][0] == (T + 1440 * MIN) * NS
    assert available(conn, "binance", "S/T", start, end)["candles"] == 1440
    assert replay_end_ns(end) >= ones[-1][0]
    assert replay_end_ns(end, "5m") >= fives[-1][0]
