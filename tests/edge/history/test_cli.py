"""The history commands end to end: config file, loopback exchange, real SQLite."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from shared.cli import cli

from .conftest import IAQF_BTCUSDT, BinanceServer
from .test_metadata import closed_port_url

T = 1_677_628_800_000
MIN = 60_000


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="tickerml")


def write_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump({
        "agent_id": "pi-test",
        "data_dir": str(tmp_path / "var"),
        "exchanges": [{"name": "binanceus", "symbols": ["BTC/USDT", "ETH/BTC"]}],
        "history": {
            "rest_base_urls": {"binanceus": base_url},
            "rest_timeout_s": 2,
            "backfill_retries": 0,
        },
    }))
    return path


def test_markets_shows_the_configured_symbols_then_uses_the_cache_when_offline(
    markets_server: BinanceServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, markets_server.base_url)

    shown = run("edge", "markets", "-c", str(config), "--json")

    assert shown.exit_code == 0, shown.output
    assert '"tick_size": "0.01"' in shown.output and '"symbol": "ETH/BTC"' in shown.output
    offline = write_config(tmp_path, closed_port_url())
    stale = run("edge", "markets", "-c", str(offline), "--refresh")
    assert stale.exit_code == 0, stale.output
    assert "binanceus: using cached metadata" in stale.output and "STALE" in stale.output


def test_backfill_prints_rows_added_and_gaps(binance_server: BinanceServer, tmp_path: Path) -> None:
    binance_server.state.punch_hole("BTCUSDT", T + 100 * MIN, 3)
    config = write_config(tmp_path, binance_server.base_url)

    result = run("edge", "backfill", "-c", str(config), "--symbol", "BTC/USDT",
                 "--since", "2023-03-01", "--until", "2023-03-01T06:00")

    assert result.exit_code == 0, result.output
    assert "binanceus BTC/USDT: 357 rows added" in result.output
    assert "exchange gaps (no candle on the exchange): 1 (3 min)" in result.output
    assert "2023-03-01 01:40 .. 2023-03-01 01:42 (3 min)" in result.output
    db = sqlite3.connect(tmp_path / "var" / "edge.db")
    assert db.execute("SELECT COUNT(*) FROM candles_1m WHERE source = 'backfill'").fetchone() == (
        357,)


def test_backfill_rejects_an_unreadable_time(tmp_path: Path) -> None:
    config = write_config(tmp_path, closed_port_url())

    result = run("edge", "backfill", "-c", str(config), "--since", "last tuesday")

    assert result.exit_code == 2
    assert "--since" in result.output


def test_data_import_reports_rows_and_is_idempotent(real_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "edge.db"
    path = real_data / "freqtrade/XRP_ETH-trades.json.gz"

    first = run("data", "import", str(path), "--exchange", "binance", "--symbol", "XRP/ETH",
                "--db", str(db))
    again = run("data", "import", str(path), "--exchange", "binance", "--symbol", "XRP/ETH",
                "--db", str(db))

    assert first.exit_code == 0, first.output
    assert "trades-json, 12477 rows read, 12477 trades added, 0 bad rows" in first.output
    assert "candles built from trades: 3560 (3560 added" in first.output
    assert "12477 rows read, 0 trades added" in again.output
    assert "(0 added" in again.output


def test_data_import_exits_1_and_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"{T},1,2,0.5,1.5,10\n{T + MIN},1,2,0.5,oops,10\n")

    result = run("data", "import", str(path), "--exchange", "binance", "--symbol", "S/T",
                 "--db", str(tmp_path / "edge.db"))

    assert result.exit_code == 1
    assert f"{path}:2: not a number: 'oops'" in result.output
    assert "1 rows read, 1 candles added, 1 bad rows" in result.output


@pytest.mark.parametrize("fmt", ["binance-klines", "kraken-trades"])
def test_data_import_with_a_format_that_does_not_fit_stops_with_the_file_named(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text("[]")

    result = run("data", "import", str(path), "--exchange", "binance", "--symbol", "S/T",
                 "--format", fmt, "--db", str(tmp_path / "edge.db"))

    assert result.exit_code != 0
    assert "does not match" in str(result.exception)


TICKERML = Path(sys.executable).parent / "tickerml"


def tickerml(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TICKERML), *args], capture_output=True, text=True, timeout=120, check=False,
    )


def series(db: Path, table: str = "candles_1m") -> list[tuple[str, str, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            f"SELECT exchange, symbol, COUNT(*) FROM {table} GROUP BY exchange, symbol"
        ).fetchall()
    finally:
        conn.close()


def test_data_import_stores_every_spelling_of_a_market_as_one_series(
    real_data: Path, tmp_path: Path
) -> None:
    """Tried: the same real Binance.US minutes imported as binanceus BTCUSDT, Binance.US
    btc-usdt, BINANCE_US BTC_USDT and binanceus btc/usdt (each used to be a series of
    its own). Kept: one series, binanceus BTC/USDT; the later imports add nothing."""
    lines = (real_data / IAQF_BTCUSDT).read_text().splitlines()[:101]
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(lines) + "\n")
    db = tmp_path / "edge.db"

    runs = [
        tickerml("data", "import", str(path), "--exchange", exchange, "--symbol", symbol,
                 "--db", str(db))
        for exchange, symbol in (("binanceus", "BTCUSDT"), ("Binance.US", "btc-usdt"),
                                 ("BINANCE_US", "BTC_USDT"), ("binanceus", "btc/usdt"))
    ]

    assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stderr for r in runs]
    assert "importing as binanceus BTC/USDT" in runs[1].stdout
    assert "100 candles added" in runs[0].stdout
    assert all("0 candles added" in r.stdout for r in runs[1:])
    assert series(db) == [("binanceus", "BTC/USDT", 100)]


def test_data_import_reads_krakens_xbt_as_btc(tmp_path: Path) -> None:
    path = tmp_path / "XBTUSD_1.csv"
    path.write_text("".join(f"{T // 1000 + 60 * i},1.5,2,1,1.5,3,7\n" for i in range(4)))
    db = tmp_path / "edge.db"

    result = tickerml("data", "import", str(path), "--exchange", "Kraken", "--symbol", "XBT/USD",
                      "--db", str(db))

    assert result.returncode == 0, result.stderr
    assert series(db) == [("kraken", "BTC/USD", 4)]


def test_data_import_refuses_an_unknown_exchange_naming_the_known_ones_unless_unlisted(
    tmp_path: Path,
) -> None:
    """Tried: --exchange ftx (no feed for it), then with --exchange-unlisted. Kept: the
    first exits 2 with one error listing the known exchanges and writes nothing; the
    second stores the rows under ftx."""
    path = tmp_path / "c.csv"
    path.write_text(f"{T},1,2,0.5,1.5,10\n{T + MIN},1,2,0.5,1.5,10\n")
    db = tmp_path / "edge.db"

    refused = tickerml("data", "import", str(path), "--exchange", "ftx", "--symbol", "BTC-PERP",
                       "--db", str(db))
    accepted = tickerml("data", "import", str(path), "--exchange", "FTX", "--exchange-unlisted",
                        "--symbol", "BTC/USD", "--db", str(db))

    assert refused.returncode == 2
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "binance, binanceus, coinbase, kraken, kucoin" in errors[0]
    assert "--exchange-unlisted" in errors[0]
    assert accepted.returncode == 0, accepted.stderr
    assert series(db) == [("ftx", "BTC/USD", 2)]


def test_data_import_takes_a_5m_file_into_candles_tf_and_says_so(
    real_data: Path, tmp_path: Path
) -> None:
    db = tmp_path / "edge.db"

    result = tickerml("data", "import", str(real_data / "freqtrade/XRP_ETH-5m.json"),
                      "--exchange", "binance", "--symbol", "XRPETH", "--db", str(db))

    assert result.returncode == 0, result.stderr
    assert "ohlcv-json, 712 rows read, 5m candles, 712 added (candles_tf)" in result.stdout
    assert series(db) == [] and series(db, "candles_tf") == [("binance", "XRP/ETH", 712)]
