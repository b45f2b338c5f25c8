"""``tickerml edge replay`` prints every count whole, piped and at 80 columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.terminal import Run, assert_whole, in_terminal, piped

COUNTS = ("messages", "level_updates", "snapshots", "checksums_ok", "checksums_failed", "gaps",
          "resyncs", "crossed", "malformed", "trades")


@pytest.mark.parametrize("run", [piped, in_terminal], ids=["piped", "terminal-80"])
def test_edge_replay_prints_every_count_of_its_json_whole(tmp_path: Path, run: Run) -> None:
    """Tried: a simulated Kraken capture of 20,000 messages replayed, piped and in an
    80-column pty (13 columns: was `2000…` and `cksu…`). Kept: every count of --json
    whole for every symbol; at 80 columns each symbol is a block of `header  value`
    lines, piped one plain line each."""
    capture = tmp_path / "kraken.jsonl"
    made = piped("edge", "simulate", "--capture", str(capture), "--exchange", "kraken",
                 "--messages", "20000", "--seed", "3", cwd=tmp_path)
    assert made.returncode == 0, made.stderr

    output = run("edge", "replay", str(capture), cwd=tmp_path)
    rows = json.loads(piped("edge", "replay", str(capture), "--json", cwd=tmp_path).stdout)

    assert sum(r["messages"] for r in rows) > 10_000
    assert_whole(output, [v for r in rows for v in (r["symbol"], *(r[k] for k in COUNTS))],
                 terminal=run is in_terminal)
