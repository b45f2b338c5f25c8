"""Backfill through a real ccxt.binanceus against a loopback server serving real
Binance.US BTC/USDT minutes (iaqf_analysis, 2023-03-01 .. 2023-03-21)."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from edge.history.backfill import Backfiller, Gap, missing_ranges
from edge.history.metadata import public_exchange
from edge.store.db import open_store
from shared.config.feeds import BackoffConfig
from shared.errors import OperationalError, TemporaryError

from .conftest import IAQF_BTCUSDT, BinanceServer

MIN = 60_000
START = 1_677_628_800_000  # 2023-03-01 00:00 UTC
END = START + 30_240 * MIN  # 2023-03-22 00:00 UTC, exclusive
HOLE = START + 10 * 1440 * MIN + 12 * 60 * MIN  # 2023-03-11 12:00 UTC
NAME, SYMBOL = "binanceus", "BTC/USDT"


def make_backfiller(
    server: BinanceServer, db: Path, *, retries: int = 2, sleeps: list[float] | None = None
) -> Backfiller:
    exchange = public_exchange(NAME, base_url=server.base_url)
    # Keep ccxt's throttle on but short: the loopback server has no limit to respect.
    exchange.rateLimit = 1
    conn = open_store(db)
    sink = sleeps if sleeps is not None else []
    return Backfiller(
        conn, exchange, page_limit=1000, retries=retries,
        backoff=BackoffConfig(initial_s=0.01, max_s=0.02), sleep=sink.append,
    )


def stored(backfiller: Backfiller) -> list[tuple[Any, ...]]:
    return backfiller.conn.execute(
        "SELECT open_time_ms, open, high, low, close, volume, source FROM candles_1m "
        "WHERE exchange = ? AND symbol = ? ORDER BY open_time_ms", (NAME, SYMBOL)
    ).fetchall()


def test_a_full_backfill_stores_every_real_minute_exactly_and_reports_the_exchange_gap(
    binance_server: BinanceServer, real_data: Path, tmp_path: Path
) -> None:
    binance_server.state.punch_hole("BTCUSDT", HOLE, 10)
    backfiller = make_backfiller(binance_server, tmp_path / "edge.db")

    report = backfiller.run(SYMBOL, START, END)

    assert report.rows_added == 30_240 - 10
    assert report.resumed_from_ms == START
    assert report.gaps_found == [Gap(HOLE, HOLE + 10 * MIN)]
    assert report.gap_rows_added == 0
    assert report.exchange_gaps == [Gap(HOLE, HOLE + 10 * MIN)]
    rows = stored(backfiller)
    with (real_data / IAQF_BTCUSDT).open(newline="") as fh:
        expected = {
            int(datetime.fromisoformat(r["open_time"]).timestamp() * 1000): r
            for r in csv.DictReader(fh)
        }
    assert len(rows) == 30_230
    for ts, o, h, lo, c, v, source in rows:
        want = expected[ts]
        assert [Decimal(x) for x in (o, h, lo, c, v)] == [
            Decimal(want[k]) for k in ("open", "high", "low", "close", "volume")
        ]
        assert source == "backfill"
    assert all(not HOLE <= row[0] < HOLE + 10 * MIN for row in rows)


def test_prices_are_stored_as_exact_decimal_strings(
    binance_server: BinanceServer, tmp_path: Path
) -> None:
    backfiller = make_backfiller(binance_server, tmp_path / "edge.db")

    backfiller.run(SYMBOL, START, START + 3 * MIN)

    assert [row[:6] for row in stored(backfiller)] == [
        (START, "23140.48", "23150.77", "23128.52", "23142.31", "2.131777"),
        (START + MIN, "23143.89", "23148.8", "23137.61", "23137.77", "0.881378"),
        (START + 2 * MIN, "23141.8", "23156.46", "23136.83", "23153.44", "0.702146"),
    ]


def test_an_interrupted_backfill_resumes_from_the_last_stored_minute_without_duplicates(
    binance_server: BinanceServer, tmp_path: Path
) -> None:
    state = binance_server.state
    state.fail_klines_after = 5  # the exchange goes down after five pages
    first = make_backfiller(binance_server, tmp_path / "edge.db", retries=2)

    with pytest.raises(TemporaryError, match="binanceus: fetch_ohlcv BTC/USDT from 2023-03-04"):
        first.run(SYMBOL, START, END)
    assert len(stored(first)) == 5_000
    state.fail_klines_after = None
    requests_before = len(state.kline_requests)
    second = make_backfiller(binance_server, tmp_path / "edge.db")

    report = second.run(SYMBOL, START, END)

    assert report.resumed_from_ms == START + 5_000 * MIN
    assert int(state.kline_requests[requests_before]["startTime"]) == START + 5_000 * MIN
    assert report.rows_added == 30_240 - 5_000
    assert report.exchange_gaps == []
    count, distinct = second.conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT open_time_ms) FROM candles_1m"
    ).fetchone()
    assert count == distinct == 30_240


def test_a_failed_page_is_retried_with_backoff(
    binance_server: BinanceServer, tmp_path: Path
) -> None:
    binance_server.state.fail_klines_after = 1
    binance_server.state.fail_klines_times = 2
    sleeps: list[float] = []
    backfiller = make_backfiller(binance_server, tmp_path / "edge.db", retries=3, sleeps=sleeps)

    report = backfiller.run(SYMBOL, START, START + 3_000 * MIN)

    assert report.rows_added == 3_000
    assert report.retries == 2
    assert len(sleeps) == 2 and all(0 <= s <= 0.02 for s in sleeps)


def test_missing_stored_minutes_are_found_and_fetched_again_once(
    binance_server: BinanceServer, tmp_path: Path
) -> None:
    backfiller = make_backfiller(binance_server, tmp_path / "edge.db")
    backfiller.run(SYMBOL, START, START + 1440 * MIN)
    lost = START + 600 * MIN
    backfiller.conn.execute(
        "DELETE FROM candles_1m WHERE open_time_ms >= ? AND open_time_ms < ?",
        (lost, lost + 30 * MIN),
    )
    requests_before = len(binance_server.state.kline_requests)

    report = backfiller.run(SYMBOL, START, START + 1440 * MIN)

    assert report.resumed_from_ms == START + 1440 * MIN
    assert report.gaps_found == [Gap(lost, lost + 30 * MIN)]
    assert report.gap_rows_added == report.rows_added == 30
    assert report.exchange_gaps == []
    assert len(binance_server.state.kline_requests) - requests_before == 1
    assert missing_ranges(backfiller.conn, NAME, SYMBOL, START, START + 1440 * MIN) == []


def test_minutes_before_the_exchange_has_data_are_exchange_gaps(
    binance_server: BinanceServer, tmp_path: Path
) -> None:
    backfiller = make_backfiller(binance_server, tmp_path / "edge.db")

    report = backfiller.run(SYMBOL, START - 120 * MIN, START + 60 * MIN)

    assert report.rows_added == 60
    assert report.exchange_gaps == [Gap(START - 120 * MIN, START)]


def test_a_minute_stored_by_the_live_collector_is_kept(
    binance_server: BinanceServer, tmp_path: Path
) -> None:
    backfiller = make_backfiller(binance_server, tmp_path / "edge.db")
    backfiller.conn.execute(
        "INSERT INTO candles_1m (exchange, symbol, open_time_ms, open, high, low, close, volume,"
        " trades, source) VALUES (?, ?, ?, '1', '1', '1', '1', '0', 0, 'live')",
        (NAME, SYMBOL, START + MIN),
    )

    report = backfiller.run(SYMBOL, START, START + 3 * MIN)

    assert report.rows_added == 2
    assert [(r[0], r[6]) for r in stored(backfiller)] == [
        (START, "backfill"), (START + MIN, "live"), (START + 2 * MIN, "backfill")
    ]


def test_an_unknown_symbol_names_the_exchange_and_the_symbol(
    binance_server: BinanceServer, tmp_path: Path
) -> None:
    backfiller = make_backfiller(binance_server, tmp_path / "edge.db")

    with pytest.raises(OperationalError, match="binanceus: no market 'DOGE/USDT'"):
        backfiller.run("DOGE/USDT", START, END)


def test_an_empty_range_is_refused(binance_server: BinanceServer, tmp_path: Path) -> None:
    backfiller = make_backfiller(binance_server, tmp_path / "edge.db")

    with pytest.raises(OperationalError, match="empty range"):
        backfiller.run(SYMBOL, END, START)


def test_the_ccxt_error_types_the_backfill_relies_on() -> None:
    # A 5xx from the exchange is a NetworkError (retried), not a plain ExchangeError.
    assert issubclass(ccxt.ExchangeNotAvailable, ccxt.NetworkError)
    assert issubclass(ccxt.RequestTimeout, ccxt.NetworkError)
