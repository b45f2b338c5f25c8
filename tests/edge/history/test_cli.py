"""The history commands end to end: config file, loopback exchange, real SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from shared.cli import cli

from .conftest import BinanceServer
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

    first = run("data", "import", str(path), "--exchange", "x", "--symbol", "XRP/ETH",
                "--db", str(db))
    again = run("data", "import", str(path), "--exchange", "x", "--symbol", "XRP/ETH",
                "--db", str(db))

    assert first.exit_code == 0, first.output
    assert "trades-json, 12477 rows read, 12477 trades added, 0 bad rows" in first.output
    assert "candles built from trades: 3560 (3560 added" in first.output
    assert "12477 rows read, 0 trades added" in again.output
    assert "(0 added" in again.output


def test_data_import_exits_1_and_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"{T},1,2,0.5,1.5,10\n{T + MIN},1,2,0.5,oops,10\n")

    result = run("data", "import", str(path), "--exchange", "x", "--symbol", "S/T",
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

    result = run("data", "import", str(path), "--exchange", "x", "--symbol", "S/T",
                 "--format", fmt, "--db", str(tmp_path / "edge.db"))

    assert result.exit_code != 0
    assert "does not match" in str(result.exception)
