"""``tickerml hub agents | command | dead-letters | run`` against a real broker and store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from hub.cli import hub_group
from hub.ingest.service import IngestService
from hub.store.store import HubStore
from shared.config.hub import HubConfig
from shared.sync.messages import FeedHealth, TableBacklog
from tests.hub.agent_client import TestAgent, trade_batch
from tests.waiting import wait_for


@pytest.fixture()
def config_file(tmp_path: Path, hub_config: HubConfig) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(hub_config.model_dump(mode="json")), encoding="utf-8")
    return path


def hub(config_file: Path, *args: str) -> Result:
    return CliRunner().invoke(hub_group, [args[0], "-c", str(config_file), *args[1:]])


def agents_json(config_file: Path) -> dict[str, dict[str, Any]]:
    result = hub(config_file, "agents", "--json")
    assert result.exit_code == 0, result.output
    return {a["agent_id"]: a for a in json.loads(result.output)}


def test_hub_agents_shows_an_online_status_then_the_retained_offline_will(
    ingest: IngestService, store: HubStore, config_file: Path,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: pi-1 sends rows 1-120, publishes a retained online status claiming rows up
    to 150 (acked to 100, the oldest unacked 5 s old), then crashes. Kept: `hub agents
    --json` shows it online with backlog 50, lag 30 rows and ~5 s, versions and book
    health; after the crash its last will makes it offline."""
    agent = make_agent("pi-1")
    agent.send(trade_batch("pi-1", 1, 120))
    agent.wait_acks(1)
    now = time.time_ns()
    agent.status(
        agent_version="0.1.0", model_version="m-7", feature_spec="abc123", dropped_rows=4,
        trading_paused=True, connected_since_ns=now,
        backlog={"trades": TableBacklog(last_id=150, acked_id=100, rows=50,
                                        oldest_ns=now - 5_000_000_000)},
        feeds=(FeedHealth(exchange="kraken", symbol="BTC/USD", synced=True, last_update_ns=now),
               FeedHealth(exchange="kraken", symbol="ETH/USD", synced=False)),
    )
    wait_for(lambda: ingest.stats.statuses == 1, 10, "the online status recorded")

    online = agents_json(config_file)["pi-1"]

    assert online["online"] is True
    assert (online["backlog_rows"], online["lag_rows"]) == (50, 30)
    assert 4.5 < online["lag_s"] < 30
    assert (online["agent_version"], online["model_version"], online["feature_spec"]) == (
        "0.1.0", "m-7", "abc123")
    assert (online["feeds_synced"], online["feeds_total"]) == (1, 2)
    assert online["stale_feeds"] == ["kraken:ETH/USD"]
    assert (online["trading_paused"], online["dropped_rows"]) == (True, 4)
    [trades] = online["tables"]
    assert (trades["agent_last_id"], trades["hub_last_id"]) == (150, 120)

    agent.crash()
    wait_for(lambda: ingest.stats.statuses == 2, 10, "the last will recorded")
    offline = agents_json(config_file)["pi-1"]

    assert (offline["online"], offline["state"]) == (False, "offline")


def test_a_new_hub_learns_an_agents_state_from_its_retained_status(
    hub_config: HubConfig, store: HubStore, config_file: Path,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: pi-1 publishes a retained offline status before any hub ever ran. Kept: the
    first hub to start records it (from the broker's retained copy) and shows it offline."""
    agent = make_agent("pi-1", will=False)
    agent.status("offline")
    service = IngestService(hub_config, store=store)
    service.start()
    try:
        wait_for(lambda: service.stats.statuses == 1, 10, "the status recorded")
    finally:
        service.stop()

    assert agents_json(config_file)["pi-1"]["state"] == "offline"


def test_hub_command_round_trip_prints_the_answer_and_records_it(
    ingest: IngestService, store: HubStore, config_file: Path,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: `hub command pi-1 pause_trading --symbol BTC/USD` with a test agent that
    does it. Kept: exit 0, "done" printed, the agent got the symbol, and the command and
    its outcome in the `commands` table."""
    agent = make_agent("pi-1")

    result = hub(config_file, "command", "pi-1", "pause_trading", "--symbol", "BTC/USD",
                 "--wait", "5")

    assert result.exit_code == 0, result.output
    assert "pause_trading" in result.output and ": done" in result.output
    [command] = agent.commands
    assert (command.kind, command.args) == ("pause_trading", {"symbol": "BTC/USD"})
    record = store.command(command.command_id)
    assert record is not None
    assert (record.agent_id, record.kind, record.args, record.outcome) == (
        "pi-1", "pause_trading", {"symbol": "BTC/USD"}, "done")


@pytest.mark.parametrize("outcome", ["refused", "failed"])
def test_a_refused_or_failed_command_exits_non_zero(
    store: HubStore, config_file: Path, make_agent: Callable[..., TestAgent], outcome: str
) -> None:
    """Tried: `hub command pi-1 rollback_model` to an agent that refuses (or fails) it.
    Kept: exit 1, the outcome and the agent's detail printed and recorded."""
    agent = make_agent("pi-1")
    agent.answer = outcome  # type: ignore[assignment]

    result = hub(config_file, "command", "pi-1", "rollback_model", "--wait", "5")

    assert result.exit_code == 1, result.output
    assert f": {outcome} ({outcome} by the test agent)" in result.output
    record = store.command(agent.commands[0].command_id)
    assert record is not None and record.outcome == outcome


def test_an_unanswered_command_exits_3_after_the_wait(
    store: HubStore, config_file: Path, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: a command to an agent that never answers, --wait 0.3. Kept: exit 3, "no
    answer" printed, the command recorded without an outcome."""
    agent = make_agent("pi-1")
    agent.answer = None

    result = hub(config_file, "command", "pi-1", "send_status", "--wait", "0.3")

    assert result.exit_code == 3, result.output
    assert "no answer within 0.3s" in result.output
    record = store.command(agent.commands[0].command_id)
    assert record is not None and record.outcome is None


def test_hub_dead_letters_lists_the_refusals_newest_first(
    ingest: IngestService, config_file: Path, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: a foreign batch then a truncated one. Kept: `hub dead-letters --json` lists
    both, newest first, with reasons and sizes; --limit 1 keeps the newest; the table
    view names the topic."""
    agent = make_agent("pi-1")
    agent.send(trade_batch("pi-2", 1, 10))
    agent.send(trade_batch("pi-1", 1, 10)[:-10])
    agent.wait_acks(2)

    result = hub(config_file, "dead-letters", "--json")
    newest = json.loads(hub(config_file, "dead-letters", "--json", "--limit", "1").output)
    table = hub(config_file, "dead-letters")

    letters = json.loads(result.output)
    assert ["truncated" in letters[0]["reason"], "foreign" in letters[1]["reason"]] == [
        True, True]
    assert letters[0]["payload_bytes"] > 0
    assert [n["id"] for n in newest] == [letters[0]["id"]]
    assert "dead letters (newest 2)" in table.output and "pi-1" in table.output


def test_hub_run_ingests_for_its_duration_and_reports(
    hub_config: HubConfig, config_file: Path, store: HubStore,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: a hub session opened once, a batch sent while no hub runs, then `hub run
    --duration 1.5`. Kept: the batch stored and acknowledged by that run, and its final
    status line printed with the totals."""
    session = IngestService(hub_config, store=store)
    session.start()
    assert session.wait_subscribed(10)
    session.stop()
    agent = make_agent("pi-1")
    agent.send(trade_batch("pi-1", 1, 100))

    result = hub(config_file, "run", "--duration", "1.5")

    assert result.exit_code == 0, result.output
    assert "ingest stopped:" in result.output and "batches=1, rows=100" in result.output
    assert store.count("trades", "pi-1") == 100
    [ack] = agent.wait_acks(1)
    assert (ack.outcome, ack.rows_new) == ("committed", 100)
