"""``tickerml news show | score | harvest`` print every number whole, piped (plain
lines) and in an 80-column terminal, and their --json carries the same values."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.edge.news.feed_server import FeedServer, Route, feed_file
from tests.edge.news.test_harvest_cli import write_config as harvest_config
from tests.edge.news.test_jobs import stored_news
from tests.edge.news.test_jobs import write_config as news_config
from tests.terminal import Run, assert_whole, in_terminal, piped

BIG = 115_000_000
RUNS = [piped, in_terminal]
IDS = ["piped", "terminal-80"]


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_news_show_prints_115_million_articles_an_hour_whole(
    tmp_path: Path, run: Run
) -> None:
    """Tried: hours rolled up, the market-wide ones then given 115,000,000 articles,
    `news show` piped and at 80 columns. Kept: every hour, count and score of --json
    whole (scores as the table rounds them, +0.27)."""
    config = news_config(tmp_path)
    stored_news(tmp_path)
    assert piped("news", "rollup", "-c", str(config), cwd=tmp_path).returncode == 0
    conn = sqlite3.connect(tmp_path / "edge.db")
    with conn:
        conn.execute("UPDATE news_sentiment_hourly SET articles = ? WHERE symbol = '*'", (BIG,))
    conn.close()

    output = run("news", "show", "-c", str(config), cwd=tmp_path)
    shown = json.loads(piped("news", "show", "-c", str(config), "--json", cwd=tmp_path).stdout)

    assert BIG in {r["articles"] for r in shown["rows"]}
    values = [v for r in shown["rows"] for v in (
        r["symbol"], r["articles"], f"{r['mean']:+.2f}", f"{r['weighted']:+.2f}",
        f"{r['dispersion']:.2f}", r["regime"], f"{r['regime_score']:+.2f}")]
    assert_whole(output, values, terminal=run is in_terminal)


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_news_score_prints_scores_and_labels_whole(tmp_path: Path, run: Run) -> None:
    """Tried: two headlines scored by the built-in scorer, piped and at 80 columns.
    Kept: each score, label and confidence of --json whole; piped, the headlines whole
    on their line (in the terminal they are text: they wrap between words)."""
    headlines = ["Bitcoin surges to a record high as ETF inflows climb past 10,002,345.678",
                 "Ethereum exchange hacked, 115,000,000 dollars gone"]
    args = ("news", "score", "--scorer", "builtin", *headlines)

    output = run(*args, cwd=tmp_path)
    scored = json.loads(piped(*args, "--json", cwd=tmp_path).stdout)["results"]

    values = [v for r in scored for v in (r["scorer"], f"{r['score']:+.2f}", r["label"],
                                           f"{r['confidence']:.2f}")]
    values += [f"{sym} {v['score']:+.2f}" for r in scored for sym, v in r["per_symbol"].items()]
    if run is piped:
        values += headlines
    else:  # a wrapped headline keeps its words, numbers included
        values += [word for h in headlines for word in h.split()]
    assert_whole(output, values, terminal=run is in_terminal)


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_news_harvest_prints_http_statuses_and_counts_whole(
    server: FeedServer, tmp_path: Path, run: Run
) -> None:
    """Tried: a good feed and a 404, harvested piped and at 80 columns, then again
    with --json. Kept: the sources, statuses, HTTP codes and counts whole; the second
    run's --json finds the same entries, all duplicates."""
    good = server.route("/rss", Route(feed_file("crypto_rss2.xml")))
    config = harvest_config(tmp_path, [{"name": "ledger", "url": good},
                                       {"name": "gone", "url": server.url("/gone")}])

    output = run("news", "harvest", "-c", str(config), cwd=tmp_path)
    again = json.loads(piped("news", "harvest", "-c", str(config), "--json",
                             cwd=tmp_path).stdout)

    ledger = next(s for s in again["sources"] if s["name"] == "ledger")
    assert ledger["duplicates"] == ledger["entries"] > 0
    assert_whole(output, ["ledger", "gone", "ok", "error", "200", "404",
                          f" {ledger['entries']} "],
                 terminal=run is in_terminal, echoed=["6 new"])
