"""The news cycle, its scheduler and the ``tickerml news`` commands, against a real
feed server on loopback and real SQLite files. No timing is asserted tightly: the
scheduler tests wait for run counts with generous timeouts."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner

from edge.news.cli import news_group
from edge.news.jobs import CYCLE_JOB, ROLLUP_JOB, NewsJobs, news_cycle
from edge.store.db import connect
from shared.cli import UnavailableCommand, cli
from shared.cli import run as run_cli
from shared.clock import LiveClock, ManualClock
from shared.config.logging import LoggingConfig
from shared.config.news import NewsConfig, NewsFeedConfig
from shared.features.sentiment import HOUR_NS
from shared.logs import setup_logging
from tests.edge.news.feed_server import (
    FeedServer,
    Item,
    Route,
    edge_config,
    open_writer,
    rss_document,
)
from tests.edge.news.test_rollup import NewsDb, at

WAIT_S = 60.0
"""How long a test waits for scheduled runs on a busy machine before failing."""

FEED = rss_document([
    Item("Bitcoin surges to a record as ETF inflows climb", "https://news.test/a"),
    Item("Ethereum developers delay the upgrade again", "https://news.test/b"),
    Item("Exchange hacked, bitcoin plunges", "https://news.test/c"),
])


@pytest.fixture()
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        running.route("/rss", Route(FEED))
        yield running


def test_a_cycle_harvests_scores_and_rolls_up_closed_hours(
    tmp_path: Path, server: FeedServer
) -> None:
    """Tried: a cycle at 0:10 (three new articles), then one at 1:05 (the same feed
    again). Kept: the first stores and scores them but rolls nothing up (hour 0 is
    open); the second finds only duplicates and rolls hour 0 up: a market row with
    three articles, all built-in scored."""
    config = edge_config(tmp_path, [("test", server.url("/rss"))], scorer="builtin")
    writer, db_path = open_writer(config)
    clock = ManualClock(at(0, 10))
    try:
        first = news_cycle(config, writer, db_path, clock)
        clock.set_ns(at(1, 5))
        second = news_cycle(config, writer, db_path, clock)
    finally:
        writer.close()

    assert first.ok and second.ok, (first.errors, second.errors)
    assert first.harvest is not None and first.harvest.new == 3
    assert first.scoring is not None and first.scoring.scored_builtin == 3
    assert first.rollup is not None and first.rollup.rows == 0
    assert second.harvest is not None and second.harvest.new == 0
    assert second.rollup is not None and second.rollup.latest_hour_ns == at(0)
    market = NewsDb(db_path).hourly("*")
    assert [(r.hour_start_ns, r.articles, r.llm_share) for r in market] == [(at(0), 3, 0.0)]
    assert json.dumps(second.as_dict())
    assert second.line().startswith("news cycle: 0 new, 0 source(s) failed")


def test_a_failing_stage_does_not_stop_the_rest(tmp_path: Path, server: FeedServer) -> None:
    """Tried: a cycle whose writer was already closed, so storing the harvest fails.
    Kept: the error is in the report under 'harvest', the cycle returns, and the
    scoring and roll-up stages still ran."""
    config = edge_config(tmp_path, [("test", server.url("/rss"))], scorer="builtin")
    writer, db_path = open_writer(config)
    writer.close()

    report = news_cycle(config, writer, db_path, ManualClock(at(0, 10)))

    assert "harvest" in report.errors
    assert report.scoring is not None
    assert report.rollup is not None


def test_a_stop_request_skips_the_remaining_stages(tmp_path: Path, server: FeedServer) -> None:
    """Tried: a cycle with the stop event already set. Kept: nothing ran, nothing
    was fetched, the report says stopped."""
    config = edge_config(tmp_path, [("test", server.url("/rss"))], scorer="builtin")
    writer, db_path = open_writer(config)
    stop = threading.Event()
    stop.set()
    try:
        report = news_cycle(config, writer, db_path, ManualClock(at(0)), stop=stop)
    finally:
        writer.close()

    assert report.stopped and report.harvest is None and report.rollup is None
    assert server.seen("/rss") == []


def test_the_scheduler_runs_the_cycle_and_the_rollup(tmp_path: Path, server: FeedServer) -> None:
    """Tried: both jobs on sub-second intervals, a scored article already stored in
    hour 0 and the clock in hour 0; then the clock moved to 1:01. Kept: the cycle
    fetched the feed repeatedly; once the hour closed a roll-up wrote its row; the
    roll-up job ran on its own trigger."""
    config = edge_config(tmp_path, [("test", server.url("/rss"))], scorer="builtin")
    writer, db_path = open_writer(config)
    db = NewsDb(db_path)
    db.score(db.article(at(0, 1)), 0.5, symbol="ETH")
    clock = ManualClock(at(0, 30))
    jobs = NewsJobs(
        config, writer, db_path, clock, interval_s=0.5, first_run_s=0.0,
        rollup_trigger=IntervalTrigger(seconds=0.5),
    )
    jobs.start()
    try:
        assert jobs.wait_for_runs(CYCLE_JOB, 2, WAIT_S)
        assert db.hourly("ETH") == []
        clock.set_ns(at(1, 1))
        ran = jobs.runs[ROLLUP_JOB]
        assert jobs.wait_for_runs(ROLLUP_JOB, ran + 2, WAIT_S)
    finally:
        jobs.shutdown()
        writer.close()

    assert len(server.seen("/rss")) >= 2
    assert [r.hour_start_ns for r in db.hourly("ETH")] == [at(0)]
    assert jobs.failures == {}
    assert jobs.last_rollup is not None and jobs.last_cycle is not None


def test_a_job_that_raises_is_logged_and_runs_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: the roll-up job pointed at a database file that does not exist, so
    every run raises. Kept: each failure is logged with the job's name and counted,
    the job keeps its schedule (it ran again), and shutdown is clean."""
    caplog.set_level(logging.ERROR, logger="edge.news.jobs")
    config = edge_config(tmp_path, [], scorer="builtin")
    writer, _ = open_writer(config)
    jobs = NewsJobs(
        config, writer, tmp_path / "missing" / "none.db", ManualClock(at(2)),
        first_run_s=3600.0, rollup_trigger=IntervalTrigger(seconds=0.3),
    )
    jobs.start()
    try:
        assert jobs.wait_for_runs(ROLLUP_JOB, 2, WAIT_S)
    finally:
        jobs.shutdown()
        writer.close()

    assert jobs.failures[ROLLUP_JOB] >= 2
    assert "OperationalError" in jobs.last_error[ROLLUP_JOB]
    assert any(f"news job {ROLLUP_JOB} failed" in r.getMessage() for r in caplog.records)


# -- the CLI -----------------------------------------------------------------------------


def write_config(tmp_path: Path, feed_url: str | None = None) -> Path:
    feeds = [{"name": "test", "url": feed_url}] if feed_url else []
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump({
        "agent_id": "news-cli",
        "data_dir": str(tmp_path),
        "store": {"commit_interval_s": 0.05},
        "news": {"feeds": feeds, "scorer": "builtin", "interval_s": 3600},
    }))
    return path


def stored_news(tmp_path: Path) -> NewsDb:
    """Scored articles two and three hours ago (wall clock: the CLI runs live)."""
    db = NewsDb(tmp_path / "edge.db")
    hour = time.time_ns() // HOUR_NS * HOUR_NS
    for back, value in ((3, 0.6), (3, 0.4), (2, -0.2)):
        article = db.article(hour - back * HOUR_NS + 60 * 10**9)
        db.score(article, value)
        db.score(article, value, symbol="BTC")
    return db


def test_the_group_lists_every_command_and_loads_the_lazy_ones() -> None:
    """Tried: `tickerml news --help` through the root command. Kept: all five
    commands, and harvest/score resolve to the real commands, not stand-ins."""
    result = CliRunner().invoke(cli, ["news", "--help"])

    assert result.exit_code == 0, result.output
    for name in ("harvest", "score", "rollup", "run", "show"):
        assert name in result.output


    context = click.Context(news_group)
    for name in ("harvest", "score"):
        assert not isinstance(news_group.get_command(context, name), UnavailableCommand)


def test_a_lazy_command_that_cannot_import_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: the harvest entry pointed at a module that does not exist. Kept: the
    group still loads, help marks it unavailable with the reason, running it fails
    with that reason: an `error:` line and exit 2 (it could not run)."""
    from edge.news import cli as news_cli

    monkeypatch.setitem(news_cli.LAZY_COMMANDS, "harvest", ("edge.news.gone", "harvest_command"))

    listing = CliRunner().invoke(cli, ["news", "--help"])
    code = run_cli(["news", "harvest", "-c", "x.yaml"])

    assert listing.exit_code == 0
    assert "unavailable" in listing.output
    assert code == 2
    assert capsys.readouterr().err.startswith("error: `tickerml news harvest` cannot load: ")


def test_rollup_writes_the_closed_hours_once(tmp_path: Path) -> None:
    """Tried: `news rollup --json` twice over news from two past hours. Kept: four
    rows (BTC and market, two hours) the first time, none the second."""
    config = write_config(tmp_path)
    stored_news(tmp_path)

    first = CliRunner().invoke(cli, ["news", "rollup", "-c", str(config), "--json"])
    second = CliRunner().invoke(cli, ["news", "rollup", "-c", str(config)])

    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["rows"] == 4
    assert second.exit_code == 0, second.output
    assert "nothing to roll up" in second.output


def test_show_lists_rows_and_the_current_regime(tmp_path: Path) -> None:
    """Tried: `news show` after a roll-up, as JSON for BTC and as a table. Kept: two
    BTC rows; the regime over the three articles is (0.6+0.4−0.2)/3 ≈ 0.27, bullish;
    the table names the market row too."""
    config = write_config(tmp_path)
    stored_news(tmp_path)
    CliRunner().invoke(cli, ["news", "rollup", "-c", str(config)])

    shown = CliRunner().invoke(
        cli, ["news", "show", "-c", str(config), "--symbol", "btc", "--json"]
    )
    table = CliRunner().invoke(cli, ["news", "show", "-c", str(config), "--hours", "6"])

    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert [r["articles"] for r in data["rows"]] == [2, 1]
    assert data["regimes"]["BTC"]["regime"] == "bullish"
    assert data["regimes"]["BTC"]["regime_score"] == pytest.approx(0.8 / 3)
    assert table.exit_code == 0, table.output
    assert "market: bullish" in table.output


def test_show_without_a_database_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: `news show` before anything was stored. Kept: exit 2 (an operational error,
    as `edge stats` gives), one `error:` line naming the file and the fix; no file made."""
    code = run_cli(["news", "show", "-c", str(write_config(tmp_path))])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'edge.db'}: no database yet (run `tickerml news harvest` first)\n"
    )
    assert not (tmp_path / "edge.db").exists()


@pytest.mark.slow
def test_run_harvests_on_its_own_until_the_duration(tmp_path: Path, server: FeedServer) -> None:
    """Tried: `news run --duration 15` against the loopback feed (the first cycle
    starts after a few seconds). Kept: exit 0, the cycle ran at least once and
    stored the three articles, both jobs report their counts."""
    config = write_config(tmp_path, server.url("/rss"))

    result = CliRunner().invoke(cli, ["news", "run", "-c", str(config), "--duration", "15"])

    assert result.exit_code == 0, result.output
    assert f"{ROLLUP_JOB}:" in result.output
    assert f"{CYCLE_JOB}: 0 run(s)" not in result.output
    count = NewsDb(tmp_path / "edge.db").conn.execute(
        "SELECT COUNT(*) FROM news_articles"
    ).fetchone()[0]
    assert count == 3


@pytest.mark.slow
def test_the_agent_runs_the_news_jobs_when_news_is_enabled(
    tmp_path: Path, server: FeedServer
) -> None:
    """Tried: `edge run`'s service against the Binance loopback with news enabled
    and the loopback feed. Kept: the first cycle stored the feed's articles and their
    scores while collecting; the jobs stopped with the service, before its writer."""
    from edge.agent import AgentService
    from tests.edge.agent.test_service import SYMBOLS, collect, make_config
    from tests.edge.loopback import BinanceLoopback
    from tests.waiting import wait_for_async

    news = NewsConfig(
        enabled=True, scorer="builtin", feeds=[NewsFeedConfig(name="t", url=server.url("/rss"))]
    )

    def scored() -> int:
        db = tmp_path / "edge.db"
        if not db.exists():
            return 0
        conn = connect(db, readonly=True)
        try:
            return int(conn.execute("SELECT COUNT(DISTINCT article_id) FROM news_scores")
                       .fetchone()[0])
        finally:
            conn.close()

    async def main() -> AgentService:
        async with BinanceLoopback(SYMBOLS, interval_s=0.05) as exchange:
            config = make_config(tmp_path, exchange).model_copy(update={"news": news})
            service = AgentService(config, clock=LiveClock())
            await collect(service, lambda: wait_for_async(
                lambda: scored() == 3, WAIT_S, "the three articles scored"))
            return service

    service = asyncio.run(main())

    assert service.news is not None
    assert service.news.runs[CYCLE_JOB] >= 1 and service.news.failures == {}


def test_the_schedulers_own_lines_stay_out_of_the_agents_log(tmp_path: Path) -> None:
    """Tried: the news jobs started and run under the agent's logging (INFO, to a file).
    Kept: the jobs' own start line is in the log; APScheduler's "Adding job tentatively",
    "Added job" and per-run "Running job" INFO lines are not (its warnings still are)."""
    config = edge_config(tmp_path, [], scorer="builtin")
    writer, db_path = open_writer(config)
    root, scheduler_log = logging.getLogger(), logging.getLogger("apscheduler")
    saved = (list(root.handlers), root.level, scheduler_log.level)
    log_path = setup_logging(LoggingConfig(file=str(tmp_path / "agent.log")))
    assert log_path is not None
    jobs = NewsJobs(
        config, writer, db_path, ManualClock(at(2)), first_run_s=3600.0,
        rollup_trigger=IntervalTrigger(seconds=0.2),
    )
    try:
        jobs.start()
        assert jobs.wait_for_runs(ROLLUP_JOB, 2, WAIT_S)
    finally:
        jobs.shutdown()
        writer.close()
        for handler in list(root.handlers):
            if handler not in saved[0]:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved[1])
        scheduler_log.setLevel(saved[2])

    text = log_path.read_text(encoding="utf-8")
    assert "INFO edge.news.jobs news jobs: cycle every" in text
    assert "apscheduler" not in text, text
