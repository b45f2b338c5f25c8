"""``kill -9`` in the middle of heavy writes: the database survives and collection resumes.

Both the agent (``tickerml edge run``) and the loopback exchange run as
real subprocesses; nothing is shut down politely.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import yaml

from tests.conftest import REPO
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

TABLES = ("trades", "book_snapshots", "feed_events", "raw_messages")


def tickerml_command() -> list[str]:
    script = Path(sys.executable).parent / "tickerml"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from shared.cli import main; main()"]


def counts(db: Path) -> dict[str, tuple[int, int]]:
    """(rows, max id) per table, read on a read-only connection."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            t: conn.execute(f"SELECT COUNT(*), COALESCE(MAX(id), 0) FROM {t}").fetchone()
            for t in TABLES
        }
    finally:
        conn.close()


def rows_in(db: Path, table: str) -> int:
    """Rows committed in ``table`` so far (0 before the file or its schema exists)."""
    if not db.exists():
        return 0
    try:
        return counts(db)[table][0]
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet


def collect_lines(stream: IO[str]) -> list[str]:
    """Every line ``stream`` yields, gathered by a thread as they come."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(stream), daemon=True).start()
    return lines


@pytest.fixture
def exchange_server() -> Iterator[tuple[str, str]]:
    """The loopback Binance server as its own process, producing heavy traffic."""
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "tests.edge.loopback", "--symbols",
            "BTC/USDT,ETH/USDT,SOL/USDT,ADA/USDT", "--interval", "0.005", "--trades", "4",
        ],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        ws_url, rest_url = proc.stdout.readline().split()
        yield ws_url, rest_url
    finally:
        proc.terminate()
        proc.wait(10)


def test_kill_9_mid_write_leaves_a_sound_database_and_collection_resumes(
    tmp_path: Path, exchange_server: tuple[str, str]
) -> None:
    ws_url, rest_url = exchange_server
    config = tmp_path / "edge.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "agent_id": "kill9",
                "data_dir": str(tmp_path),
                "exchanges": [
                    {
                        "name": "binanceus", "ws_url": ws_url, "rest_url": rest_url,
                        "symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT"],
                        "depth": 100,
                    }
                ],
                "store": {
                    "commit_interval_s": 0.2, "snapshot_interval_s": 0.2, "raw_capture": True,
                },
                "logging": {"file": None, "level": "WARNING"},
            }
        )
    )
    db = tmp_path / "edge.db"
    command = [*tickerml_command(), "edge", "run", "-c", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    # Arrange: collect until rows are pouring in, then kill without warning.
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: rows_in(db, "trades") >= 5_000, 30, "5,000 trades committed")
        # One more commit seen: the writer is mid-stream (the next batch is being
        # gathered, or committed) when the kill lands.
        seen = rows_in(db, "trades")
        wait_for(lambda: rows_in(db, "trades") > seen, 10, "another commit after 5,000")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL

    # Assert: the file is sound after WAL recovery.
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    before = counts(db)
    assert before["trades"][0] >= 5_000

    # Act: restart; it must pick up where the file left off.
    second = subprocess.run(
        [*command, "--duration", "4"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "commits" in second.stdout

    after = counts(db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for table in TABLES:
        rows_before, max_before = before[table]
        rows_after, max_after = after[table]
        assert rows_after > rows_before, table
        assert max_after > max_before, table
        # Rows of the second run all carry ids above everything the first run committed.
        new_ids = conn.execute(
            f"SELECT COUNT(*) FROM {table} WHERE id > ?", (max_before,)
        ).fetchone()[0]
        assert new_ids == rows_after - rows_before, table
    conn.close()


def test_sigterm_stops_collection_and_commits_what_was_received(
    tmp_path: Path, exchange_server: tuple[str, str]
) -> None:
    ws_url, rest_url = exchange_server
    config = tmp_path / "edge.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "agent_id": "term",
                "data_dir": str(tmp_path),
                "exchanges": [
                    {"name": "binanceus", "ws_url": ws_url, "rest_url": rest_url,
                     "symbols": ["BTC/USDT"], "depth": 100}
                ],
                # A commit interval far longer than the run: only the drain at
                # shutdown can have written the rows.
                "store": {"commit_interval_s": 600, "commit_max_rows": 1_000_000},
                "logging": {"file": None, "level": "INFO"},
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [*tickerml_command(), "edge", "run", "-c", str(config), "--status-every", "0.2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None and proc.stdout is not None
    log = collect_lines(proc.stderr)
    # The status line: the book synced and hundreds of rows waiting for the commit that
    # only the shutdown's drain will make.
    pending = re.compile(r"books 1/1 synced, .*queue ([0-9]+)")
    wait_for(lambda: any(int(m.group(1)) > 500 for m in map(pending.search, list(log)) if m),
             30, "a status line with the book synced and over 500 rows queued")
    proc.send_signal(signal.SIGTERM)
    out = proc.stdout.read()
    proc.wait(30)
    err = "".join(log)

    assert proc.returncode == 0, err[-2000:]
    rows = counts(tmp_path / "edge.db")
    assert rows["trades"][0] > 100
    assert f"trades {rows['trades'][0]}" in out
