"""A harvest killed part-way, then run again: nothing lost, nothing counted twice.

The killed harvest runs in its own process and dies by ``os._exit`` (no cleanup,
no flush: as close to a power cut as a test can get) at the two places that
matter: between committing the articles and saving the sources' validators, and
in the middle of handing articles to the writer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from edge.news.harvest import Harvester
from edge.store.db import connect
from shared.clock import ManualClock
from tests.edge.news.feed_server import (
    NOW_NS,
    FeedServer,
    Item,
    Route,
    edge_config,
    open_writer,
    rss_document,
)

REPO = Path(__file__).resolve().parents[3]
KILLED = 137

# Runs in a child process: the same config, a Harvester whose chosen step ends the
# process on the spot.
CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from edge.news.harvest import Harvester
    from shared.clock import ManualClock
    from tests.edge.news.feed_server import edge_config, open_writer

    tmp, where, now, *urls = sys.argv[1:]
    NOW_NS = int(now)
    feeds = [(f"feed{i}", url) for i, url in enumerate(urls)]
    config = edge_config(Path(tmp), feeds)
    writer, db = open_writer(config)

    class Killed(Harvester):
        def _save_states(self, states):
            if where == "before-state":
                os._exit(137)
            super()._save_states(states)

    if where == "mid-articles":
        put = writer.put
        count = 0
        def dying_put(table, row, extra_bytes=0):
            global count
            count += 1
            if table == "news_articles" and count > 25:
                os._exit(137)
            put(table, row, extra_bytes)
        writer.put = dying_put

    Killed(config, writer, db, ManualClock(NOW_NS)).harvest_once()
    writer.close()
    """
)


def serve_feeds(server: FeedServer) -> list[str]:
    """Two feeds of 30 items each, with ETags (so a saved state would mean 304)."""
    urls = []
    for feed in range(2):
        items = [
            Item(f"Bitcoin story {feed}-{i}", f"https://r.example/{feed}/{i}") for i in range(30)
        ]
        urls.append(server.route(f"/f{feed}", Route(rss_document(items), etag=f'"f{feed}"')))
    return urls


def run_child(tmp_path: Path, where: str, urls: list[str]) -> int:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), where, str(NOW_NS), *urls],
        cwd=REPO, capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == KILLED, result.stderr
    return result.returncode


def table_counts(tmp_path: Path) -> tuple[int, int, int]:
    conn = connect(tmp_path / "edge.db", readonly=True)
    try:
        articles = conn.execute(
            "SELECT count(*), count(DISTINCT url) FROM news_articles"
        ).fetchone()
        sources = conn.execute("SELECT count(*) FROM news_sources").fetchone()[0]
    finally:
        conn.close()
    return int(articles[0]), int(articles[1]), int(sources)


def harvest_again(tmp_path: Path, urls: list[str]) -> tuple[int, int]:
    config = edge_config(tmp_path, [(f"feed{i}", url) for i, url in enumerate(urls)])
    writer, db = open_writer(config)
    try:
        report = Harvester(config, writer, db, ManualClock(NOW_NS + 10**12)).harvest_once()
    finally:
        writer.close()
    return report.new, report.duplicates


def test_killed_after_the_articles_commit_but_before_the_source_state(
    server: FeedServer, tmp_path: Path
) -> None:
    """Tried: kill -9 between the articles' commit and the ETag save, then harvest
    again. Kept: all 60 articles once; the re-run fetched in full (no ETag was saved),
    found 60 duplicates and stored none; the third harvest gets 304s."""
    urls = serve_feeds(server)

    run_child(tmp_path, "before-state", urls)
    assert table_counts(tmp_path) == (60, 60, 0)  # articles in, no validators saved

    new, duplicates = harvest_again(tmp_path, urls)
    assert (new, duplicates) == (0, 60)
    assert all("if-none-match" not in r.headers for r in server.seen("/f0")[:2])
    assert table_counts(tmp_path) == (60, 60, 2)

    harvest_again(tmp_path, urls)
    assert server.seen("/f0")[-1].headers["if-none-match"] == '"f0"'
    assert table_counts(tmp_path) == (60, 60, 2)


def test_killed_while_handing_articles_to_the_writer(server: FeedServer, tmp_path: Path) -> None:
    """Tried: kill -9 after 25 of 60 articles were queued (some maybe committed, most
    not), then harvest again. Kept: all 60 articles exactly once: the first run saved
    no validators, so the re-run fetched everything and stored only what was missing."""
    urls = serve_feeds(server)

    run_child(tmp_path, "mid-articles", urls)
    stored_before, _, sources = table_counts(tmp_path)
    assert stored_before <= 25 and sources == 0

    new, duplicates = harvest_again(tmp_path, urls)

    assert new == 60 - stored_before and duplicates == stored_before
    assert table_counts(tmp_path) == (60, 60, 2)


def test_a_normal_restart_neither_loses_nor_repeats(server: FeedServer, tmp_path: Path) -> None:
    """Tried: a clean harvest, a new process (new writer, new harvester), a feed that
    gained items meanwhile. Kept: only the new items stored by the second run."""
    urls = serve_feeds(server)
    config = edge_config(tmp_path, [(f"feed{i}", url) for i, url in enumerate(urls)])
    writer, db = open_writer(config)
    Harvester(config, writer, db, ManualClock(NOW_NS)).harvest_once()
    writer.close()
    items = [Item(f"Ether story {i}", f"https://r.example/new/{i}") for i in range(5)]
    server.route("/f1", Route(rss_document(items), etag='"f1-v2"'))

    new, duplicates = harvest_again(tmp_path, urls)

    assert (new, duplicates) == (5, 0)  # f0 answered 304, f1 only new items
    assert table_counts(tmp_path)[:2] == (65, 65)
