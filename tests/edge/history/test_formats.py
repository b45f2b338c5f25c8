"""Each supported file layout, from small hand-made files in the exchange's documented
layout, through detection, parsing and import (and a re-import that adds nothing)."""

from __future__ import annotations

import gzip
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from edge.history.formats import (
    TradeRecord,
    detect_positional,
    is_header,
    open_records,
)
from edge.history.importer import ImportReport, import_files
from edge.store.db import open_store
from shared.errors import OperationalError
from shared.times import parse_time_ns

T = 1_677_628_800_000  # 2023-03-01 00:00 UTC, ms
MIN = 60_000


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return open_store(tmp_path / "edge.db")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def candles(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT open_time_ms, open, high, low, close, volume, trades, source FROM candles_1m "
        "ORDER BY open_time_ms"
    ).fetchall()


def trades(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT trade_id, price, size, side, ts_exchange_ns, source FROM trades ORDER BY id"
    ).fetchall()


def import_twice(conn: sqlite3.Connection, path: Path, fmt: str = "auto") -> ImportReport:
    first = import_files(conn, [path], exchange="x", symbol="BTC/USDT", fmt=fmt)
    again = import_files(conn, [path], exchange="x", symbol="BTC/USDT", fmt=fmt)
    assert (again.trades_added, again.candles_added, again.bad_rows) == (0, 0, 0)
    return first


# data.binance.vision spot klines: open_time, o, h, l, c, volume, close_time,
# quote_volume, count, taker_buy_base, taker_buy_quote, ignore.
KLINE_ROWS = [
    f"{T},23140.48000000,23150.77000000,23128.52000000,23142.31000000,2.13177700,"
    f"{T + MIN - 1},49331.10839920,120,1.00000000,23140.00000000,0",
    f"{T + MIN},23143.89000000,23148.80000000,23137.61000000,23137.77000000,0.88137800,"
    f"{T + 2 * MIN - 1},20394.12000000,47,0.30000000,6941.00000000,0",
]


def test_binance_klines_without_header_in_milliseconds(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = write(tmp_path, "BTCUSDT-1m-2023-03-01.csv", "\n".join(KLINE_ROWS) + "\n")

    report = import_twice(conn, path)

    assert report.files[0].format == "binance-klines"
    assert candles(conn) == [
        (T, "23140.48000000", "23150.77000000", "23128.52000000", "23142.31000000",
         "2.13177700", 120, "import"),
        (T + MIN, "23143.89000000", "23148.80000000", "23137.61000000", "23137.77000000",
         "0.88137800", 47, "import"),
    ]


def test_binance_klines_in_microseconds_since_2025(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    t_us = 1_735_689_600_000_000  # 2025-01-01 00:00 UTC
    row = f"{t_us},1.0,2.0,0.5,1.5,10.0,{t_us + 59_999_999},15.0,3,5.0,7.5,0\n"
    path = write(tmp_path, "BTCUSDT-1m-2025-01-01.csv", row)

    import_twice(conn, path)

    assert [c[0] for c in candles(conn)] == [1_735_689_600_000]


def test_binance_klines_with_the_futures_header(conn: sqlite3.Connection, tmp_path: Path) -> None:
    header = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
              "taker_buy_volume,taker_buy_quote_volume,ignore\n")
    path = write(tmp_path, "klines.csv", header + KLINE_ROWS[0] + "\n")

    report = import_twice(conn, path)

    assert report.files[0].format == "ohlcv-csv (header)"
    assert candles(conn)[0][6] == 120


def test_binance_spot_trades_take_the_side_from_is_buyer_maker(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    # id, price, qty, quote_qty, time, is_buyer_maker, is_best_match
    path = write(tmp_path, "BTCUSDT-trades-2023-03-01.csv",
                 f"1001,23140.48,0.00100000,23.14048,{T + 123},True,True\n"
                 f"1002,23141.00,0.00200000,46.282,{T + 456},False,True\n")

    report = import_twice(conn, path)

    assert report.files[0].format == "binance-trades"
    assert trades(conn) == [
        ("1001", "23140.48", "0.00100000", "sell", (T + 123) * 1_000_000, "import"),
        ("1002", "23141.00", "0.00200000", "buy", (T + 456) * 1_000_000, "import"),
    ]
    assert candles(conn) == [
        (T, "23140.48", "23141.00", "23140.48", "23141.00", "0.00300000", 2, "import")
    ]


def test_binance_futures_trades_with_header(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-trades.csv",
                 "id,price,qty,quote_qty,time,is_buyer_maker\n"
                 f"7,23140.5,0.010,231.405,{T + 1},true\n")

    import_twice(conn, path)

    assert trades(conn)[0][:4] == ("7", "23140.5", "0.010", "sell")


def test_binance_aggregate_trade_ids_never_collide_with_trade_ids(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    # agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time,
    # is_buyer_maker, is_best_match
    path = write(tmp_path, "BTCUSDT-aggTrades-2023-03-01.csv",
                 f"26129,23140.48,4.70443515,27781,27781,{T + 5},True,True\n"
                 f"26130,23140.50,0.10000000,27782,27784,{T + 9},False,True\n")

    report = import_twice(conn, path)

    assert report.files[0].format == "binance-aggtrades"
    assert [(t[0], t[3]) for t in trades(conn)] == [("agg-26129", "sell"), ("agg-26130", "buy")]


def test_kraken_trade_history_builds_candles_but_stores_no_sideless_trades(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    # Kraken's downloadable trade history: unix seconds, price, volume; no id, no side.
    path = write(tmp_path, "XBTUSD.csv",
                 f"{T // 1000}.1234,23140.5,0.01\n"
                 f"{T // 1000 + 30},23150.0,0.02\n"
                 f"{T // 1000 + 125},23145.0,0.5\n")

    report = import_twice(conn, path)

    assert report.files[0].format == "kraken-trades"
    assert report.files[0].trades_not_stored == 3
    assert trades(conn) == []
    assert candles(conn) == [
        (T, "23140.5", "23150.0", "23140.5", "23150.0", "0.03", 2, "import"),
        (T + MIN, "23150.0", "23150.0", "23150.0", "23150.0", "0", 0, "import"),
        (T + 2 * MIN, "23145.0", "23145.0", "23145.0", "23145.0", "0.5", 1, "import"),
    ]


def test_kraken_ohlcvt(conn: sqlite3.Connection, tmp_path: Path) -> None:
    path = write(tmp_path, "XBTUSD_1.csv",
                 f"{T // 1000},23140.5,23160.0,23130.0,23150.0,1.5,12\n"
                 f"{T // 1000 + 60},23150.0,23150.0,23149.0,23149.0,0.25,2\n")

    report = import_twice(conn, path)

    assert report.files[0].format == "kraken-ohlcvt"
    assert [(c[0], c[4], c[6]) for c in candles(conn)] == [(T, "23150.0", 12),
                                                           (T + MIN, "23149.0", 2)]


def test_ccxt_trades_csv_without_header(conn: sqlite3.Connection, tmp_path: Path) -> None:
    # ccxt's trade fields in order: timestamp, id, type, side, price, amount, cost.
    path = write(tmp_path, "trades.csv", f"{T + 138},1206419187,,buy,1666.8,26.062,43440.1416\n")

    report = import_twice(conn, path)

    assert report.files[0].format == "trades-csv"
    assert trades(conn) == [("1206419187", "1666.8", "26.062", "buy", (T + 138) * 1_000_000,
                             "import")]


def test_ccxt_ohlcv_csv_without_header_and_gzipped(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "ohlcv.csv.gz"
    path.write_bytes(gzip.compress(f"{T},1,2,0.5,1.5,10\n{T + MIN},1.5,1.6,1.4,1.6,3\n".encode()))

    report = import_twice(conn, path)

    assert report.files[0].format == "ohlcv-csv"
    assert len(candles(conn)) == 2


def test_ohlcv_json_and_ccxt_trade_dicts(conn: sqlite3.Connection, tmp_path: Path) -> None:
    ohlcv = write(tmp_path, "c.json", json.dumps([[T, 1.0, 2.0, 0.5, 1.5, 10.0]]))
    dicts = write(tmp_path, "t.json", json.dumps([
        {"timestamp": T + 2 * MIN, "id": "9", "side": "sell", "price": 0.1, "amount": 3.0}
    ]))

    assert import_twice(conn, ohlcv).files[0].format == "ohlcv-json"
    assert import_twice(conn, dicts).files[0].format == "trades-json"

    assert trades(conn) == [("9", "0.1", "3.0", "sell", (T + 2 * MIN) * 1_000_000, "import")]


def test_an_explicit_format_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", json.dumps([[T, 1.0, 2.0, 0.5, 1.5, 10.0]]))

    with pytest.raises(OperationalError, match="format binance-klines does not match"):
        open_records(path, "binance-klines")


def test_an_unknown_layout_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.csv", "\n1,2,3,4\n")

    with pytest.raises(OperationalError, match=r"odd\.csv:2: unrecognised layout: no known"):
        open_records(path)


@pytest.mark.parametrize(
    ("text", "expected_ns"),
    [
        ("1677628800", 1_677_628_800_000_000_000),
        ("1677628800.1234", 1_677_628_800_123_400_000),
        ("1677628800000", 1_677_628_800_000_000_000),
        ("1677628800000123", 1_677_628_800_000_123_000),
        ("1677628800000123456", 1_677_628_800_000_123_456),
        ("2023-03-01 00:00:00+00:00", 1_677_628_800_000_000_000),
        ("2023-03-01T01:00:00+01:00", 1_677_628_800_000_000_000),
        ("2021-12-31 23:01:00.000000", 1_640_991_660_000_000_000),
        ("2021-01-08T00:00:00.278000Z", 1_610_064_000_278_000_000),
        ("2021-01-08T00:00:00.278000123Z", 1_610_064_000_278_000_123),
        ("2023-03-01", 1_677_628_800_000_000_000),
        ("2023-03-01T06:00", 1_677_650_400_000_000_000),
    ],
)
def test_times_in_every_unit_and_iso_form(text: str, expected_ns: int) -> None:
    assert parse_time_ns(text) == expected_ns


def test_header_rows_and_data_rows_are_told_apart() -> None:
    assert is_header(["", "timestamp", "id", "type", "side", "price", "amount", "cost", "date"])
    assert is_header(["open_time", "open", "high", "low", "close", "volume"])
    assert not is_header(["2023-03-01 00:00:00+00:00", "23140.48", "1", "1", "1", "1"])
    assert not is_header(["1675329600138", "1206419187", "", "buy", "1666.8", "1", "1"])


@pytest.mark.parametrize(
    ("row", "layout"),
    [
        (["1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "0"], "binance-klines"),
        (["1", "2", "", "sell", "1", "1", "1"], "trades-csv"),
        (["1", "1", "1", "1", "1", "True", "True"], "binance-trades"),
        (["1", "1", "1", "1", "1", "false"], "binance-trades"),
        (["1", "1", "1", "1", "1", "1", "True", "True"], "binance-aggtrades"),
        (["1", "1", "1", "1", "1", "1", "true"], "binance-aggtrades"),
        (["1", "1", "1", "1", "1", "1", "12"], "kraken-ohlcvt"),
        (["1", "1", "1", "1", "1", "1"], "ohlcv-csv"),
        (["1.5", "1", "1"], "kraken-trades"),
    ],
)
def test_header_less_layouts_are_recognised_by_width_and_contents(
    row: list[str], layout: str
) -> None:
    assert detect_positional(row) == layout


def test_trade_values_keep_their_exact_decimal_text(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", f"{T},1,,buy,0.00141342,23.0,0.03250866\n")

    _, kind, records, _, close = open_records(path)
    record = next(records)
    close()

    assert kind == "trades"
    assert isinstance(record, TradeRecord)
    assert (record.price, record.size) == (Decimal("0.00141342"), Decimal("23.0"))
