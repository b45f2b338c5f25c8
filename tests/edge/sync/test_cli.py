"""``tickerml edge sync`` and ``tickerml edge sync-status`` on a real database and broker."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from provisioning.broker import Broker
from shared.cli import cli
from tests.edge.sync.helpers import AGENT, Hub, new_writer, put_events, put_trades


def write_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump({
        "agent_id": AGENT, "data_dir": str(tmp_path), "logging": {"file": None},
        "sync": {"mqtt": {"host": "127.0.0.1", "port": port}, "batch_interval_s": 0.05,
                 "tables": ["feed_events", "trades"]},
    }))
    return path


def status(config: Path) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(cli, ["edge", "sync-status", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    return {row["table"]: row for row in json.loads(result.output)}


def test_sync_until_drained_empties_the_backlog_that_sync_status_shows(
    tmp_path: Path, plain_broker: Broker
) -> None:
    """Tried: 300 events and 40 trades stored, sync-status, `edge sync --until-drained`,
    sync-status again. Kept: a backlog of 300 and 40 with an age, then none, acked ids at
    the last ids, and every row at the hub."""
    config = write_config(tmp_path, plain_broker.port)
    writer = new_writer(tmp_path / "edge.db")
    put_events(writer, 0, 300)
    put_trades(writer, 0, 40)
    writer.close()
    hub = Hub(plain_broker.port)

    before = status(config)
    result = CliRunner().invoke(
        cli, ["edge", "sync", "-c", str(config), "--until-drained", "--duration", "20"]
    )
    after = status(config)
    hub.close()

    assert result.exit_code == 0, result.output
    assert before["feed_events"]["backlog_rows"] == 300 and before["trades"]["backlog_rows"] == 40
    assert before["feed_events"]["acked_id"] == 0
    assert before["feed_events"]["oldest_unsynced_age_s"] is not None
    assert after["feed_events"] == {"table": "feed_events", "last_id": 300, "acked_id": 300,
                                    "backlog_rows": 0, "oldest_unsynced_age_s": None}
    assert after["trades"]["acked_id"] == 40
    assert len(hub.rows("feed_events")) == 300 and len(hub.rows("trades")) == 40


def test_sync_until_drained_fails_when_no_hub_acknowledges(
    tmp_path: Path, plain_broker: Broker
) -> None:
    """Tried: a broker but no hub, --until-drained with a 1 s duration. Kept: exit code 1
    with the reason; the cursor untouched."""
    config = write_config(tmp_path, plain_broker.port)
    writer = new_writer(tmp_path / "edge.db")
    put_events(writer, 0, 10)
    writer.close()

    result = CliRunner().invoke(
        cli, ["edge", "sync", "-c", str(config), "--until-drained", "--duration", "1"]
    )

    assert result.exit_code == 1
    assert "not drained" in result.output
    assert status(config)["feed_events"]["acked_id"] == 0
