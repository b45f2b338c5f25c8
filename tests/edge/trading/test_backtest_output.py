"""``tickerml backtest``'s terminal summary prints every figure whole, piped and at 80
columns, over the real candles of the README's store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edge.trading.report import FIGURES, figure
from edge.trading.report_tables import human
from shared.trading.metrics import Metrics
from tests.terminal import Run, assert_whole, in_terminal, piped

pytestmark = [pytest.mark.real_data]

BALANCE = "10002345.678"
STRATEGIES = ("trend", "mean_reversion", "fallback", "imbalance", "market_maker")
ARGS = ("backtest", *(a for kind in STRATEGIES for a in ("--strategy", kind)), "--exchange",
        "binanceus", "--symbol", "BTC/USDT", "--from", "2023-03-01", "--to", "2023-03-10",
        "--balance", BALANCE, "--no-plot")


@pytest.mark.parametrize("run", [piped, in_terminal], ids=["piped", "terminal-80"])
def test_the_summary_prints_an_equity_of_10_million_whole(
    readme_store: Path, tmp_path: Path, run: Run
) -> None:
    """Tried: five strategies side by side on ten days of real candles with a starting
    balance of 10,002,345.678, piped and in an 80-column pty (was: `10,002,…`, six
    columns of 12-character figures shrunk to fit). Kept: every
    figure of every strategy as --json gives it, formatted for people (final equity
    10,0xx,xxx.xx, fees, percentages), and buy and hold's return, whole."""
    db = ("--db", str(readme_store))
    output = run(*ARGS, *db, "--out", str(tmp_path / "t"), cwd=tmp_path)
    doc = json.loads(piped(*ARGS, *db, "--json", "--out", str(tmp_path / "j"),
                           cwd=tmp_path).stdout)

    values: list[str] = []
    for name, strategy in doc["strategies"].items():
        metrics = Metrics(**{k: v for k, v in strategy["metrics"].items()
                             if k in Metrics.__dataclass_fields__})
        values += [name, *(figure(metrics, key, kind) for key, _, kind in FIGURES)]
    values.append(human(doc["buy_and_hold"]["total_return"], "pct"))
    assert any(re.fullmatch(r"\d{1,3},\d{3},\d{3}\.\d\d", v) for v in values), values
    # The file lines after the tables are paths, printed whole for the terminal to wrap.
    assert_whole(output, values, terminal=run is in_terminal, echoed=["trades_csv:", "html:"])
