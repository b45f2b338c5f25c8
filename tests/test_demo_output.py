"""``tickerml demo``'s tables in an 80-column terminal, and its ``--json`` summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioning.broker import mosquitto_binary
from shared.sync.tables import TABLES
from tests.terminal import assert_whole, in_terminal, piped

pytestmark = pytest.mark.slow

COUNTS = ("messages", "level_updates", "snapshots", "checksums_ok", "checksums_failed", "gaps",
          "resyncs", "crossed", "trades")


@pytest.fixture(autouse=True)
def _mosquitto() -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (make venv installs it from Debian's packages)")


def test_the_summary_at_80_columns_prints_every_count_whole(tmp_path: Path) -> None:
    """Tried: the demo in an 80-column pty (its replay table has 11 columns), then
    `edge replay --json` of the captures it left. Kept: every replay count, and every
    edge and hub row count of its sync-check.json (as the table writes them, 1,234),
    whole; nothing cut, no line past 80 columns."""
    data = tmp_path / "demo"

    output = in_terminal("demo", "--duration", "6", "--data-dir", str(data), cwd=tmp_path,
                         timeout=180)
    captures = sorted(str(p) for p in data.glob("*/capture.jsonl"))
    replay = json.loads(piped("edge", "replay", *captures, "--json", cwd=tmp_path).stdout)
    checks = json.loads((data / "sync-check.json").read_text())

    values = [v for r in replay for v in (r["symbol"], *(r[k] for k in COUNTS))]
    values += [f"{c[k]:,}" for c in checks if c["edge_rows"] or c["hub_rows"]
               for k in ("edge_rows", "hub_rows")]
    assert "┃ agent " in output.stdout  # tables, boxed where they fit
    assert_whole(output, values, terminal=True)


def test_json_prints_the_summary_tables_as_lists_of_objects(tmp_path: Path) -> None:
    """Tried: `demo --json`, piped. Kept: stdout is one JSON document (the live view
    and progress went to stderr): the replay per symbol, rows stored, paper ledgers,
    news, the hub's commands and the comparison, every synced table identical."""
    data = tmp_path / "demo"

    run = piped("demo", "--duration", "6", "--data-dir", str(data), "--json", cwd=tmp_path,
                timeout=180)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert set(summary) == {"replay", "stored", "paper", "news", "commands", "sync_check"}
    assert {r["exchange"] for r in summary["replay"]} == {"binanceus", "kraken"}
    assert all(r["messages"] > 0 for r in summary["replay"])
    assert [s["agent"] for s in summary["stored"]] == ["pi-demo-1", "pi-demo-2"]
    assert summary["paper"] and all(isinstance(p["fills"], int) for p in summary["paper"])
    assert {(c["agent"], c["table"]) for c in summary["sync_check"]} == {
        (agent, table) for agent in ("pi-demo-1", "pi-demo-2") for table in TABLES}
    assert all(c["match"] for c in summary["sync_check"])
    assert summary["sync_check"] == json.loads((data / "sync-check.json").read_text())
    assert "TickerML demo" in run.stderr
