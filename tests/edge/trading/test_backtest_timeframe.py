"""``tickerml backtest --timeframe``: candle backtests at 5m over real stored data.

Stores are filled as a user fills them, with ``tickerml data import``: three days of
real Binance.US BTC/USDT 1-minute candles (iaqf_analysis), or freqtrade's real
5-minute XRP/ETH file alone (which goes to ``candles_tf``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest

from edge.store.db import connect
from edge.trading import sources
from edge.trading.cli import _backtest_config
from shared.candles import resample
from shared.cli_options import TIME, TIME_END
from shared.marketdata import Candle
from shared.readers.events import candle_events
from shared.readers.timeframes import timeframe_candle_events
from shared.trading.backtest import Backtest

pytestmark = [pytest.mark.real_data]

TICKERML = Path(sys.executable).parent / "tickerml"
IAQF = "iaqf_analysis/BTCUSDT_1m_20230301_20230321.csv"


def tickerml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TICKERML), *args], capture_output=True, text=True, cwd=cwd, check=False,
        timeout=240,
    )


@pytest.fixture(scope="module")
def minutes_store(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("store")
    lines = (real_data / IAQF).read_text().splitlines()[: 1 + 3 * 1440]
    csv = folder / "btc.csv"
    csv.write_text("\n".join(lines) + "\n")
    db = folder / "edge.db"
    imported = tickerml("data", "import", str(csv), "--exchange", "binanceus", "--symbol",
                        "BTCUSDT", "--db", str(db), cwd=folder)
    assert imported.returncode == 0, imported.stderr
    return db


def library_run(db: Path, exchange: str, symbol: str, frm: str, to: str) -> tuple[Backtest, int]:
    """The same backtest through the library: 5m candle events from the store."""
    start, end = TIME.convert(frm, None, None), TIME_END.convert(to, None, None)
    conn = connect(db, readonly=True)
    try:
        events = list(sources.store_events(
            conn, "candles", exchange, symbol, start, end, timeframe="5m"
        ))
        config, _ = _backtest_config(
            None, conn, ("trend",), exchange, symbol, start, end, candle_mode=True,
            params={}, balance=Decimal(10_000), fee=None, slippage_bps=None, timeframe="5m",
        )
    finally:
        conn.close()
    backtest = Backtest(config)
    backtest.run(iter(events))
    return backtest, len(events)


def test_a_5m_backtest_runs_on_the_stored_1m_candles_resampled_exactly(
    minutes_store: Path, tmp_path: Path
) -> None:
    """Tried: --timeframe 5m on a store holding only 1-minute candles. Kept: the
    strategy sees one candle per complete 5 minutes, each the exact resample of its
    minutes at its close, and the command's figures are the library's."""
    result = tickerml(
        "backtest", "--strategy", "trend", "--exchange", "binanceus", "--symbol", "BTC/USDT",
        "--from", "2023-03-01", "--to", "2023-03-03", "--db", str(minutes_store),
        "--timeframe", "5m", "--source", "candles", "--json", "--no-plot",
        "--out", str(tmp_path / "out"), cwd=tmp_path,
    )
    one_minute = tickerml(
        "backtest", "--strategy", "trend", "--exchange", "binanceus", "--symbol", "BTC/USDT",
        "--from", "2023-03-01", "--to", "2023-03-03", "--db", str(minutes_store),
        "--source", "candles", "--json", "--no-plot", "--out", str(tmp_path / "out1"),
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert any("Candles: 5m" in note for note in doc["notes"])
    expected, count = library_run(minutes_store, "binanceus", "BTC/USDT", "2023-03-01",
                                  "2023-03-03")
    assert doc["events"] == count == 3 * 288  # the last bucket closes at --to's midnight
    assert json.loads(one_minute.stdout)["events"] == 3 * 1440
    assert doc["strategies"]["trend"]["final_equity"] == str(
        expected.result().runs["trend"].final.equity
    )
    conn = connect(minutes_store, readonly=True)
    try:
        start, end = TIME.convert("2023-03-01", None, None), TIME_END.convert("2023-03-01", None,
                                                                              None)
        minutes = [cast(Candle, c) for _, _, c in candle_events(
            conn, "binanceus", "BTC/USDT", start, end + 10 * 60 * 10**9)]
        fives = [(ts, cast(Candle, c)) for ts, _, c in timeframe_candle_events(
            conn, "binanceus", "BTC/USDT", start, end, timeframe="5m")]
    finally:
        conn.close()
    assert [c for _, c in fives] == list(resample(minutes, 300_000))[: len(fives)]
    assert all(ts == c.open_time_ms * 1_000_000 + 300 * 10**9 for ts, c in fives)


def test_a_backtest_runs_on_an_imported_5m_file_at_its_own_timeframe(
    real_data: Path, tmp_path: Path
) -> None:
    """Tried: a store with only freqtrade's real 5m XRP/ETH file (candles_tf). Kept:
    --timeframe 5m runs on those candles as stored; at the default 1m it is refused,
    naming what is missing (there are no 1-minute candles to run on)."""
    db = tmp_path / "edge.db"
    imported = tickerml("data", "import", str(real_data / "freqtrade/XRP_ETH-5m.json"),
                        "--exchange", "binance", "--symbol", "XRP/ETH", "--db", str(db),
                        cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    args = ("backtest", "--strategy", "trend", "--exchange", "binance", "--symbol", "XRP/ETH",
            "--from", "2019-10-11", "--to", "2019-10-13", "--db", str(db), "--json",
            "--no-plot", "--out", str(tmp_path / "out"))

    five = tickerml(*args, "--timeframe", "5m", cwd=tmp_path)
    one = tickerml(*args, cwd=tmp_path)

    assert five.returncode == 0, five.stderr
    doc = json.loads(five.stdout)
    expected, count = library_run(db, "binance", "XRP/ETH", "2019-10-11", "2019-10-13")
    assert doc["mode"] == "candles" and doc["events"] == count == 712
    assert doc["strategies"]["trend"]["final_equity"] == str(
        expected.result().runs["trend"].final.equity
    )
    conn = connect(db, readonly=True)
    try:
        start, end = TIME.convert("2019-10-11", None, None), TIME_END.convert("2019-10-13", None,
                                                                              None)
        stored = [c for _, _, c in timeframe_candle_events(
            conn, "binance", "XRP/ETH", start, end, timeframe="5m")]
    finally:
        conn.close()
    rows = json.loads((real_data / "freqtrade/XRP_ETH-5m.json").read_text())
    o, h, low, c, v = (Decimal(str(x)) for x in rows[0][1:6])
    assert stored[0] == Candle("binance", "XRP/ETH", rows[0][0], o, h, low, c, v, 0)
    assert one.returncode != 0 and "no raw messages, book snapshots or candles" in one.stderr
