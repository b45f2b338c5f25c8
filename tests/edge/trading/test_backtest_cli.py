"""``tickerml backtest`` as a user runs it: a subprocess over a real SQLite store.

The store holds real data: three days of Binance.US BTC/USDT 1-minute candles
(candle mode) and a real Binance.US WebSocket capture replayed by the agent's
own event router with raw capture on (trades, candles, snapshots and raw messages).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from edge.agent.router import EventRouter
from edge.replay import replay_exchange
from edge.store.db import connect, open_store
from edge.store.writer import StoreWriter
from edge.trading import sources
from edge.trading.cli import _backtest_config
from shared.cli_options import TIME, TIME_END
from shared.clock import ManualClock
from shared.config.store import StoreConfig
from shared.readers.events import snapshot_events
from shared.trading.backtest import BOOK, Backtest
from tests.shared.trading.test_backtest_reference import candles_of, load_rows

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

FROM, TO = "2023-03-01", "2023-03-03"


@pytest.fixture(scope="module")
def store(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "edge.db"
    conn = open_store(path)
    rows = load_rows(real_data)[: 3 * 1440]
    conn.executemany(
        "INSERT INTO candles_1m (exchange, symbol, open_time_ms, open, high, low, close, "
        "volume, trades, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'import')",
        [
            (c.exchange, c.symbol, c.open_time_ms, str(c.open), str(c.high), str(c.low),
             str(c.close), str(c.volume), c.trades)
            for c in candles_of(rows)
        ],
    )
    conn.close()
    cf = real_data / "cryptofeed"
    config = StoreConfig(raw_capture=True)
    writer = StoreWriter(path, config)
    sink = EventRouter(writer, ManualClock(), config)
    replay_exchange(
        "binanceus", [cf / "BINANCE_US.ws.1.0", cf / "BINANCE_US.http.0.0"],
        sink=sink, raw_writer=writer,
    )
    writer.close()
    return path


def tickerml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from shared.cli import main; main()", *args],
        capture_output=True, text=True, cwd=cwd, check=False, timeout=240,
    )


def test_a_candle_backtest_prints_its_figures_and_writes_png_and_html(
    store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"

    result = tickerml(
        "backtest", "--strategy", "trend", "--symbol", "BTC/USDT", "--exchange", "binanceus",
        "--from", FROM, "--to", TO, "--db", str(store), "--param", "atr_stop_mult=null",
        "--slippage-bps", "2", "--json", "--out", str(out), cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["mode"] == "candles" and doc["candle_only"] is True
    assert "next candle's open plus 2 bps slippage" in doc["notes"][0]
    trend = doc["strategies"]["trend"]
    metrics = trend["metrics"]
    assert trend["fills"] > 10 and metrics["trades"] > 5
    assert metrics["total_return"] == pytest.approx(float(trend["final_equity"]) / 10_000 - 1)
    assert metrics["fees_paid"] == pytest.approx(float(trend["fees"]))
    assert 0 <= metrics["max_drawdown"] < 1 and 0 <= metrics["win_rate"] <= 1
    for key in ("sharpe", "sortino", "cagr", "profit_factor", "exposure", "turnover"):
        assert key in metrics
    assert (out / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "Candle-only backtest" in page
    assert (out / "trades.csv").read_text().count("\n") == metrics["trades"] + 1 + int(
        trend["open_trade"]
    )
    # The command's figures are the library's figures for the same store and window.
    conn = connect(store, readonly=True)
    start, end = TIME.convert(FROM, None, None), TIME_END.convert(TO, None, None)
    events = sources.store_events(conn, "candles", "binanceus", "BTC/USDT", start, end)
    config, _ = _backtest_config(
        None, conn, ("trend",), "binanceus", "BTC/USDT", start, end, candle_mode=True,
        params={"atr_stop_mult": None}, balance=Decimal(10_000),
        fee=None, slippage_bps=2.0,
    )
    expected = Backtest(config).run(events)
    conn.close()
    assert trend["final_equity"] == str(expected.runs["trend"].final.equity)


def test_auto_takes_the_raw_messages_and_replays_exact_books(store: Path, tmp_path: Path) -> None:
    conn = connect(store, readonly=True)
    symbol, first_ns = conn.execute(
        "SELECT symbol, MIN(ts_recv_ns) FROM trades GROUP BY symbol ORDER BY COUNT(*) DESC"
    ).fetchone()
    conn.close()
    day = datetime.fromtimestamp(first_ns / 1e9, tz=UTC).strftime("%Y-%m-%d")

    result = tickerml(
        "backtest", "--strategy", "imbalance", "--strategy", "market_maker",
        "--symbol", symbol, "--exchange", "binanceus", "--from", day, "--to", day,
        "--db", str(store), "--json", "--out", str(tmp_path / "raw"), "--no-plot", cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["source"] == "raw" and doc["mode"] == "book" and not doc["candle_only"]
    assert doc["events"] > 0
    assert set(doc["strategies"]) == {"imbalance", "market_maker"}
    assert (tmp_path / "raw" / "report.html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "missing.db"], "missing.db: no such store (--db)"),
        (["--strategy", "nosuch"], "unknown kind 'nosuch'"),
        (["--param", "fast_period=oops"], "fast_period"),
        (["--from", "yesterday"], "'yesterday' is not a date or time"),
    ],
)
def test_errors_name_the_file_or_the_key(
    store: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    base = {
        "--strategy": "trend", "--symbol": "BTC/USDT", "--exchange": "binanceus",
        "--from": FROM, "--to": TO, "--db": str(store),
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [part for pair in base.items() for part in pair]

    result = tickerml("backtest", *argv, "--out", str(tmp_path / "o"), cwd=tmp_path)

    assert result.returncode != 0
    assert message in result.stderr


def test_stored_snapshots_come_back_as_the_books_that_were_stored(tmp_path: Path) -> None:
    from shared.book import OrderBook

    book = OrderBook("binanceus", "ETH/USDT", price_decimals=2, size_decimals=4)
    book.load_snapshot([(150_000, 12_500), (149_999, 30_000)], [(150_002, 5_000)])
    writer = StoreWriter(tmp_path / "s.db", StoreConfig())
    writer.put_book_snapshot(book, 7_000_000_000, 10)
    writer.close()
    conn = connect(tmp_path / "s.db", readonly=True)

    (ts, kind, got), = snapshot_events(conn, "binanceus", "ETH/USDT", 0, 10**10)

    assert (ts, kind) == (7_000_000_000, BOOK)
    assert isinstance(got, OrderBook)
    assert got.snapshot_levels() == book.snapshot_levels()
    assert got.ts_recv_ns == 7_000_000_000
    conn.close()
