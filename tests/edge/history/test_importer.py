"""Importing the real recorded files (read from ../shared at test time: the freqtrade
data is GPL-3.0 and the nautilus data LGPL-3.0, so none of it is copied here)."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from edge.history.importer import import_files
from edge.store.db import open_store
from shared.errors import OperationalError

T = 1_677_628_800_000
MIN = 60_000


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return open_store(tmp_path / "edge.db")


def test_freqtrade_trades_rebuild_freqtrades_1m_candles_exactly(
    conn: sqlite3.Connection, real_data: Path
) -> None:
    report = import_files(conn, [real_data / "freqtrade/XRP_ETH-trades.json.gz"],
                          exchange="unknown", symbol="XRP/ETH")

    assert report.trades_added == 12_477
    assert report.candles_built == report.built_candles_added == 3_560
    assert report.late_trades == 0
    stored = conn.execute(
        "SELECT open_time_ms, open, high, low, close, volume, trades FROM candles_1m "
        "WHERE source = 'import' ORDER BY open_time_ms"
    ).fetchall()
    expected = json.loads((real_data / "freqtrade/XRP_ETH-1m.json").read_text())
    assert len(stored) == len(expected) == 3_560
    empty = 0
    previous_close = None
    for row, want in zip(stored, expected, strict=True):
        assert row[0] == want[0]
        assert [Decimal(x) for x in row[1:6]] == [Decimal(repr(float(x))) for x in want[1:6]]
        if row[6] == 0:
            empty += 1
            assert Decimal(row[5]) == 0
            assert {row[1], row[2], row[3], row[4]} == {previous_close}
        previous_close = row[4]
    assert empty == 1_091


def test_freqtrade_trades_keep_ids_sides_and_exact_prices(
    conn: sqlite3.Connection, real_data: Path
) -> None:
    import_files(conn, [real_data / "freqtrade/XRP_ETH-trades.json.gz"],
                 exchange="unknown", symbol="XRP/ETH")

    first = conn.execute(
        "SELECT trade_id, price, size, side, ts_exchange_ns FROM trades ORDER BY id LIMIT 1"
    ).fetchone()
    ids = [int(r[0]) for r in conn.execute("SELECT trade_id FROM trades ORDER BY id")]

    assert first == ("13519807", "0.00141342", "23.0", "sell", 1_570_752_011_620_000_000)
    assert ids == list(range(13_519_807, 13_532_284))


@pytest.mark.parametrize(
    ("relative", "fmt", "kind", "rows"),
    [
        ("freqtrade/XRP_ETH-trades.json.gz", "trades-json", "trades", 12_477),
        ("freqtrade/XRP_ETH-1m.json", "ohlcv-json", "candles", 3_560),
        ("freqtrade/orderflow/public_trades_list.csv", "trades-csv (header)", "trades", 1_000),
        ("iaqf_analysis/BTCUSDT_1m_20230301_20230321.csv", "ohlcv-csv (header)", "candles",
         30_240),
        ("nautilus_trader/btc-perp-20211231-20220201_1m.csv", "ohlcv-csv (header)", "candles",
         45_031),
        ("nautilus_trader/binance/btcusdt-trades.from-parquet.csv", "trades-csv (header)",
         "trades", 2_001),
    ],
)
def test_every_real_file_imports_without_a_bad_row_and_reimports_nothing(
    conn: sqlite3.Connection, real_data: Path, relative: str, fmt: str, kind: str, rows: int
) -> None:
    path = real_data / relative

    first = import_files(conn, [path], exchange="x", symbol="S/T")
    again = import_files(conn, [path], exchange="x", symbol="S/T")

    report = first.files[0]
    assert (report.format, report.kind, report.rows_read, report.bad_rows) == (fmt, kind, rows, 0)
    added = report.trades_added if kind == "trades" else report.candles_added
    assert added == rows
    assert (again.trades_added, again.candles_added) == (0, 0)
    total = conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] + conn.execute(
        "SELECT COUNT(*) FROM candles_1m").fetchone()[0]
    assert total == first.trades_added + first.candles_added


def test_the_nautilus_binance_trades_take_their_side_from_buyer_maker(
    conn: sqlite3.Connection, real_data: Path
) -> None:
    import_files(conn, [real_data / "nautilus_trader/binance/btcusdt-trades.from-parquet.csv"],
                 exchange="binance", symbol="BTC/USDT")

    rows = conn.execute(
        "SELECT trade_id, price, size, side, ts_exchange_ns FROM trades ORDER BY id LIMIT 2"
    ).fetchall()

    # 2021-01-08T00:00:00.278Z, buyer_maker True -> the taker sold.
    assert rows == [
        ("553287559", "39432.48", "0.000263", "sell", 1_610_064_000_278_000_000),
        ("553287560", "39439.44", "0.004376", "buy", 1_610_064_000_310_000_000),
    ]


def test_five_minute_candles_go_to_candles_tf_under_their_timeframe_not_to_candles_1m(
    conn: sqlite3.Connection, real_data: Path
) -> None:
    """Tried: freqtrade's real 5-minute XRP/ETH file, twice. Kept: its interval read off
    the open times, all 712 candles in candles_tf as 5m, none in candles_1m (they were
    refused before); the second import adds nothing."""
    path = real_data / "freqtrade/XRP_ETH-5m.json"

    first = import_files(conn, [path], exchange="binance", symbol="XRP/ETH")
    again = import_files(conn, [path], exchange="binance", symbol="XRP/ETH")

    assert (first.files[0].timeframe, first.candles_added, again.candles_added) == ("5m", 712, 0)
    assert conn.execute("SELECT COUNT(*) FROM candles_1m").fetchone()[0] == 0
    assert conn.execute(
        "SELECT timeframe, COUNT(*), MIN(source) FROM candles_tf"
    ).fetchone() == ("5m", 712, "import")
    first_row = json.loads(path.read_text())[0]
    assert conn.execute(
        "SELECT open_time_ms, open, high, low, close FROM candles_tf ORDER BY open_time_ms"
    ).fetchone() == (first_row[0], *(str(v) for v in first_row[1:5]))


def test_an_hourly_kraken_style_file_is_read_as_1h(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "XBTUSD_60.csv"
    path.write_text("".join(
        f"{T // 1000 + i * 3600},1.5,2,1,1.5,3,7\n" for i in (0, 1, 2, 5)
    ))

    report = import_files(conn, [path], exchange="kraken", symbol="BTC/USD")

    assert (report.files[0].format, report.files[0].timeframe) == ("kraken-ohlcvt", "1h")
    assert conn.execute("SELECT COUNT(*), SUM(trades) FROM candles_tf "
                        "WHERE timeframe = '1h'").fetchone() == (4, 28)


def test_a_stated_timeframe_the_open_times_contradict_is_refused_before_anything_is_written(
    conn: sqlite3.Connection, real_data: Path
) -> None:
    with pytest.raises(OperationalError, match="candles are 5m apart, not 15m"):
        import_files(conn, [real_data / "freqtrade/XRP_ETH-5m.json"], exchange="binance",
                     symbol="XRP/ETH", timeframe="15m")

    assert conn.execute("SELECT COUNT(*) FROM candles_tf").fetchone()[0] == 0


def test_a_candle_off_the_files_grid_after_the_first_batch_is_a_bad_row(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "5m.csv"
    opens = [T + i * 5 * MIN for i in range(6)] + [T + 31 * MIN, T + 35 * MIN]
    path.write_text("".join(f"{t},1,2,0.5,1.5,10\n" for t in opens))

    report = import_files(conn, [path], exchange="binance", symbol="S/T", batch_rows=4)

    assert (report.files[0].timeframe, report.candles_added, report.bad_rows) == ("5m", 7, 1)
    assert report.files[0].problems == [f"{path}:7: open time off the file's 5m grid"]


def corrupt_file(tmp_path: Path) -> Path:
    path = tmp_path / "broken.csv"
    path.write_text(
        "open_time,open,high,low,close,volume\n"
        f"{T},1,2,0.5,1.5,10\n"
        f"{T + MIN},1.5,abc,1.4,1.6,3\n"
        f"{T + 2 * MIN},1.5\n"
        f"{T + 3 * MIN},1.5,1.4,1.6,1.5,3\n"
        f"{T + 4 * MIN},1.6,1.7,1.5,1.6,2\n"
    )
    return path


def test_bad_rows_are_reported_by_file_and_line_and_counted(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = corrupt_file(tmp_path)

    report = import_files(conn, [path], exchange="x", symbol="S/T").files[0]

    assert (report.rows_read, report.candles_added, report.bad_rows) == (2, 2, 3)
    assert report.problems == [
        f"{path}:3: not a number: 'abc'",
        f"{path}:4: 2 columns, too few for the layout",
        f"{path}:5: inconsistent candle: low 1.6 high 1.4 open 1.5 close 1.5",
    ]


def test_strict_mode_stops_at_the_first_bad_row(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = corrupt_file(tmp_path)

    with pytest.raises(OperationalError, match=rf"{path}:3: not a number: 'abc'"):
        import_files(conn, [path], exchange="x", symbol="S/T", strict=True)


def test_a_bad_json_item_is_named_by_its_position(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = tmp_path / "trades.json"
    path.write_text(json.dumps([
        [T, "1", None, "buy", 1.0, 2.0, 2.0],
        [T + 1, "2", None, "hold", 1.0, 2.0, 2.0],
    ]))

    report = import_files(conn, [path], exchange="x", symbol="S/T").files[0]

    assert report.bad_rows == 1
    assert report.problems == [f"{path}: item 2: side must be buy or sell, got 'hold'"]


def test_consecutive_files_share_their_boundary_minute(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    day1 = tmp_path / "a.csv"
    day2 = tmp_path / "b.csv"
    day1.write_text(f"{T + 10},1,,buy,100,1,100\n{T + 20},2,,buy,101,1,101\n")
    day2.write_text(f"{T + 30},3,,sell,99,2,198\n{T + MIN + 5},4,,buy,100,1,100\n")

    report = import_files(conn, [day1, day2], exchange="x", symbol="S/T")

    assert report.trades_added == 4
    rows = conn.execute(
        "SELECT open_time_ms, open, high, low, close, volume, trades FROM candles_1m "
        "ORDER BY open_time_ms"
    ).fetchall()
    assert rows == [(T, "100", "101", "99", "99", "4", 3), (T + MIN, "100", "100", "100", "100",
                                                            "1", 1)]


def test_a_missing_file_and_an_empty_file_are_named(conn: sqlite3.Connection,
                                                    tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")

    with pytest.raises(OperationalError, match=r"nope\.csv: cannot read"):
        import_files(conn, [tmp_path / "nope.csv"], exchange="x", symbol="S/T")
    with pytest.raises(OperationalError, match=r"empty\.csv: empty file"):
        import_files(conn, [empty], exchange="x", symbol="S/T")
