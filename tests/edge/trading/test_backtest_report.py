"""The README's backtest as a user runs it (``tickerml backtest`` in a subprocess over
the real three weeks of candles), and what its report folder and figures say."""

from __future__ import annotations

import csv
import json
import math
import re
from decimal import Decimal
from pathlib import Path

import pytest

from edge.store.db import connect
from edge.trading import sources
from edge.trading.cli import _backtest_config
from shared.cli_options import TIME, TIME_END
from shared.trading.backtest import Backtest
from shared.trading.exits import EXIT_REASONS
from tests.edge.trading.conftest import IAQF, README_ARGS, tickerml

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def readme_run(readme_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:  # type: ignore[type-arg]
    folder = tmp_path_factory.mktemp("run")
    out = folder / "report"
    result = tickerml(*README_ARGS, "--db", str(readme_store), "--json", "--out", str(out),
                      cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), out


def test_the_readme_window_replays_the_last_days_2359_candle(readme_run: tuple) -> None:  # type: ignore[type-arg]
    """Tried: --from 2023-03-01 --to 2023-03-21 over a file of exactly those 21 days.
    Kept: all 30,240 candles, the last (23:59 on the 21st) at its close, midnight."""
    doc, _ = readme_run

    assert doc["events"] == 21 * 1440
    assert doc["last_event"] == "2023-03-22T00:00:00Z"
    assert (doc["from"], doc["to"]) == ("2023-03-01T00:00:00Z", "2023-03-21T23:59:59Z")


def test_sharpe_and_sortino_are_annualized_daily_ratios_as_quantstats_computes_them(
    readme_run: tuple, readme_store: Path,  # type: ignore[type-arg]
) -> None:
    """Tried: the README backtest (which printed a Sharpe of -64 from per-minute returns).
    Kept: Sharpe and Sortino of its equity resampled to UTC day closes with pandas (a
    sample at midnight closing the day before), annualized by sqrt(365), 21 days."""
    pd = pytest.importorskip("pandas")
    doc, _ = readme_run
    start = TIME.convert("2023-03-01", None, None)
    end = TIME_END.convert("2023-03-21", None, None)
    conn = connect(readme_store, readonly=True)
    try:
        config, _ = _backtest_config(
            None, conn, ("trend",), "binanceus", "BTC/USDT", start, end, candle_mode=True,
            params={}, balance=Decimal(10_000), fee=None, slippage_bps=None,
        )
        run = Backtest(config).run(
            sources.store_events(conn, "candles", "binanceus", "BTC/USDT", start, end)
        ).runs["trend"]
    finally:
        conn.close()
    stamps = pd.to_datetime(run.times_ns, utc=True) - pd.Timedelta(1, "ns")
    closes = pd.Series(run.equity, index=stamps).resample("1D").last()
    returns = closes.pct_change().dropna()
    sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(365)
    sortino = returns.mean() / math.sqrt((returns.clip(upper=0) ** 2).mean()) * math.sqrt(365)

    metrics = doc["strategies"]["trend"]["metrics"]

    assert len(returns) == metrics["ratio_days"] == 21
    assert metrics["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    assert metrics["sortino"] == pytest.approx(sortino, rel=1e-9)
    assert -30 < metrics["sharpe"] < 0


def test_buy_and_hold_is_the_window_s_first_open_to_its_last_close(
    readme_run: tuple, real_data: Path,  # type: ignore[type-arg]
) -> None:
    """Tried: the README backtest. Kept: a buy-and-hold baseline from the file's first
    open to its last close, with its drawdown and a daily Sharpe, beside the strategy
    on the page."""
    doc, out = readme_run
    with (real_data / IAQF).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first, last = float(rows[0]["open"]), float(rows[-1]["close"])

    base = doc["buy_and_hold"]

    assert (base["first_price"], base["last_price"]) == (first, last)
    assert base["total_return"] == pytest.approx(last / first - 1, rel=1e-12)
    assert 0 < base["max_drawdown"] < 1 and base["ratio_days"] == 21
    page = (out / "report.html").read_text()
    versus = page[page.index("Against buy and hold"):page.index("Equity curve")]
    assert f"<td>buy and hold</td><td>{last / first - 1:.2%}</td>" in versus
    assert f"<td>trend</td><td>{doc['strategies']['trend']['metrics']['total_return']:.2%}" in (
        versus
    )


def test_trades_csv_gives_each_round_trip_its_exit_reason_and_duration(readme_run: tuple) -> None:  # type: ignore[type-arg]
    """Tried: the README backtest (EMA exits, ATR stops, a breaker that trips). Kept: a
    row per round trip with entry and exit time, prices, qty, P&L, a duration that is
    exit minus entry (also as 1h 05m) and why it ended: stops are the bracket's,
    signals carry the strategy's own tag."""
    doc, out = readme_run
    with (out / "trades.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    trend = doc["strategies"]["trend"]

    assert len(rows) == trend["metrics"]["trades"] + int(trend["open_trade"])
    reasons = {row["exit_reason"] for row in rows}
    assert {"stop", "signal"} <= reasons <= set(EXIT_REASONS)
    assert trend["exit_reasons"] == {
        reason: sum(r["exit_reason"] == reason for r in rows) for reason in reasons
    }
    for row in rows:
        assert re.fullmatch(r"(\d+d \d\dh|\d+h \d\dm|\d+m( \d\ds)?|\d+s)", row["duration"]), row
        for key in ("entry", "exit", "qty", "entry_price", "exit_price", "pnl"):
            assert row[key], (key, row)
        if row["exit_reason"] == "stop":
            assert row["exit_tag"] == "bracket"
        if row["exit_reason"] == "signal":
            assert row["exit_tag"].startswith("trend: ")
    hour = next(r for r in rows if float(r["duration_s"]) >= 3600)
    minutes = int(float(hour["duration_s"])) // 60
    assert hour["duration"] == f"{minutes // 60}h {minutes % 60:02d}m"


def test_the_page_shows_the_price_chart_breaker_rejections_and_how_sharpe_is_computed(
    readme_run: tuple,  # type: ignore[type-arg]
) -> None:
    """Tried: the README backtest, whose strategy loses 15 % and trips the circuit
    breaker, which then refuses every entry. Kept: the price chart (a PNG beside the
    page and embedded in it), the breaker's trip with its reason, the rejections by
    reason with their count, the method line, and figures written for people."""
    doc, out = readme_run
    page = (out / "report.html").read_text()
    rejected = doc["strategies"]["trend"]["rejections"]["circuit_breaker"]

    assert (out / "price.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.count("data:image/png;base64,") == 2
    assert "Price, entries and exits" in page
    (event,) = doc["breaker_events"]
    assert event["strategy"] == "trend" and event["time"].startswith("2023-03-")
    assert "drawdown" in event["detail"]
    assert "circuit breaker tripped" in page and event["detail"] in page
    assert f"<td class=\"text\">circuit_breaker</td><td>{rejected:,}</td>" in page
    assert "daily returns" in page and "√365" in page
    final = float(doc["strategies"]["trend"]["final_equity"])
    assert f"<td>{final:,.2f}</td>" in page  # thousands separators
    assert re.search(r"<td>\d+h \d\dm</td>", page)


def test_the_terminal_summary_formats_figures_for_people(
    readme_store: Path, tmp_path: Path
) -> None:
    """Tried: the README command as typed, no --json. Kept: percentages with two
    decimals, Sharpe with two, money with thousands separators, buy and hold beside
    the strategy, and the line saying how Sharpe is computed."""
    result = tickerml(*README_ARGS, "--db", str(readme_store), "--no-plot", "--out",
                      str(tmp_path / "o"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert re.search(r"Sharpe\s+(│\s+)?-\d+\.\d\d\s", text)
    assert re.search(r"total return\s+(│\s+)?-\d+\.\d\d%", text)
    assert re.search(r"final equity\s+(│\s+)?\d,\d{3}\.\d\d", text)
    assert "buy and hold" in text and "daily returns" in text
    assert not (tmp_path / "o" / "price.png").exists()


def test_under_a_week_sharpe_and_sortino_say_they_need_seven_days(
    readme_store: Path, tmp_path: Path
) -> None:
    """Tried: three days of the README's data. Kept: no Sharpe or Sortino figure (null
    in --json, three daily returns counted), and the page says n/a (needs ≥ 7 days)."""
    result = tickerml(
        "backtest", "--strategy", "trend", "--exchange", "binanceus", "--symbol", "BTC/USDT",
        "--from", "2023-03-01", "--to", "2023-03-03", "--db", str(readme_store), "--json",
        "--out", str(tmp_path / "o"), cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)["strategies"]["trend"]["metrics"]
    assert (metrics["sharpe"], metrics["sortino"], metrics["ratio_days"]) == (None, None, 3)
    page = (tmp_path / "o" / "report.html").read_text()
    assert page.count("n/a (needs ≥ 7 days)") >= 3  # Sharpe, Sortino, and beside buy and hold
