"""``tickerml news harvest`` through click, against feeds on a loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from edge.news.harvest_cli import harvest_command
from tests.edge.news.feed_server import FeedServer, Route, feed_file


def write_config(tmp_path: Path, feeds: list[dict[str, str]]) -> Path:
    path = tmp_path / "edge.yaml"
    config = {
        "agent_id": "cli-test",
        "data_dir": str(tmp_path / "data"),
        "news": {"feeds": feeds, "timeout_s": 20, "newsapi": {"key_env": "NO_SUCH_KEY_SET"}},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_json_report_lists_every_source_and_the_stored_ids(
    server: FeedServer, tmp_path: Path
) -> None:
    """Tried: one good feed and one 404, --json. Kept: per-source status, counts and
    error (naming the source and URL), totals, and the ids of the stored articles."""
    good = server.route("/rss", Route(feed_file("crypto_rss2.xml")))
    gone = server.url("/gone")
    feeds = [{"name": "ledger", "url": good}, {"name": "gone", "url": gone}]
    config = write_config(tmp_path, feeds)

    result = CliRunner().invoke(harvest_command, ["-c", str(config), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    ledger, missing = report["sources"]
    assert (ledger["name"], ledger["status"], ledger["new"]) == ("ledger", "ok", 6)
    assert missing["status"] == "error" and missing["error"].startswith(f"gone ({gone}): HTTP 404")
    assert report["totals"]["new"] == 6 and report["totals"]["errors"] == 1
    assert len(report["article_ids"]) == 6


def test_table_report_and_a_second_run_that_finds_only_duplicates(
    server: FeedServer, tmp_path: Path
) -> None:
    """Tried: the same feed harvested twice by two invocations (no validators served).
    Kept: a table naming the source; the second run stores nothing new."""
    url = server.route("/rss", Route(feed_file("crypto_atom.xml")))
    config = write_config(tmp_path, [{"name": "blocks", "url": url}])
    runner = CliRunner()

    first = runner.invoke(harvest_command, ["-c", str(config)])
    second = runner.invoke(harvest_command, ["-c", str(config), "--json"])

    assert first.exit_code == 0, first.output
    assert "blocks" in first.output and "4 new" in first.output
    assert json.loads(second.output)["totals"] == {
        "sources": 1, "new": 0, "duplicates": 4, "not_modified": 0, "skipped": 0, "errors": 0,
    }


def test_exit_code_is_1_when_every_source_tried_failed(
    server: FeedServer, tmp_path: Path
) -> None:
    """Tried: the only feed answering 500. Kept: exit code 1 and the error in the table."""
    url = server.route("/err", Route(b"", status=500, content_type="text/plain"))
    config = write_config(tmp_path, [{"name": "broken", "url": url}])

    result = CliRunner().invoke(harvest_command, ["-c", str(config)])

    assert result.exit_code == 1
    assert "broken" in result.output and "500" in result.output
