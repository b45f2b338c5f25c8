"""What one agent's refused messages may cost the hub, against a real mosquitto and store:
the rate limit, the dead-letter budget, retention, and retained garbage at restarts.
Each shows in `hub agents` and `hub dead-letters`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from hub.cli import hub_group
from hub.store.records import Refusal
from hub.store.store import HubStore
from shared.config.hub import AgentRateConfig, DeadLetterConfig, HubConfig
from shared.topics import agent_data
from tests.hub.agent_client import TestAgent, trade_batch
from tests.hub.conftest import running_ingest
from tests.waiting import wait_for

DAY_NS = 86_400 * 10**9


def with_ingest(config: HubConfig, **changes: Any) -> HubConfig:
    return config.model_copy(update={"ingest": config.ingest.model_copy(update=changes)})


def cli(config: HubConfig, tmp_path: Path, *args: str) -> str:
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    result = CliRunner().invoke(hub_group, [args[0], "-c", str(config_file), *args[1:]])
    assert result.exit_code == 0, result.output
    return result.output


def cli_json(config: HubConfig, tmp_path: Path, *args: str) -> Any:
    return json.loads(cli(config, tmp_path, *args))


def test_beyond_its_rate_limit_an_agents_messages_are_counted_and_dropped_unread(
    tmp_path: Path, hub_config: HubConfig, store: HubStore,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: a rate limit of 5 messages at once (then 1 a minute); pi-2 sends 20 garbage
    messages, pi-1 one batch. Kept: 5 of pi-2's refused as dead letters, 15 dropped
    unread and counted (the store's totals, `hub agents`); pi-1's batch committed."""
    config = with_ingest(hub_config, rate_limit=AgentRateConfig(
        messages_per_s=1 / 60, burst_messages=5, burst_bytes=hub_config.ingest.max_payload_bytes,
    ))
    mallory, honest = make_agent("pi-2"), make_agent("pi-1")

    with running_ingest(config, store) as ingest:
        for _ in range(20):
            mallory.publish_raw(agent_data("pi-2", "trades"), b"garbage" * 100)
        honest.send(trade_batch("pi-1", 1, 10))
        [ack] = honest.wait_acks(1)
        wait_for(lambda: ingest.stats.rate_limited == 15, 10, "15 messages rate-limited")
        wait_for(lambda: store.ingest_counts().get("pi-2") is not None
                 and store.ingest_counts()["pi-2"].rate_limited == 15, 10,
                 "the rate-limited count stored")
    fleet = {a["agent_id"]: a for a in cli_json(config, tmp_path, "agents", "--json")}

    assert ack.outcome == "committed"
    assert store.dead_letter_counts() == {"pi-2": 5}
    counts = store.ingest_counts()["pi-2"]
    assert (counts.refused, counts.rate_limited, counts.rate_limited_bytes) == (5, 15, 15 * 700)
    assert (fleet["pi-2"]["dead_letters"], fleet["pi-2"]["rate_limited"]) == (5, 15)
    assert fleet["pi-1"]["rate_limited"] == 0


def test_beyond_the_dead_letter_budget_refusals_are_counted_with_one_sample_per_reason(
    tmp_path: Path, hub_config: HubConfig, store: HubStore,
    make_agent: Callable[..., TestAgent],
) -> None:
    """Tried: a budget of 3 dead letters per agent per window; pi-2 sends 10 garbage
    payloads, then 4 foreign batches (another reason), then pi-1 a good batch. Kept: 3
    dead letters, then one sample of each reason (5 in all); 9 refusals counted but not
    kept; every refusal still answered `rejected`; `hub dead-letters --counts` and
    `hub agents` show both."""
    config = with_ingest(hub_config, dead_letters=DeadLetterConfig(max_per_window=3))
    mallory, honest = make_agent("pi-2"), make_agent("pi-1")

    with running_ingest(config, store):
        for _ in range(10):
            mallory.publish_raw(agent_data("pi-2", "trades"), b"garbage")
        for first in range(1, 5):
            mallory.send(trade_batch("pi-3", first, 1))
        acks = mallory.wait_acks(14)
        honest.send(trade_batch("pi-1", 1, 10))
        [committed] = honest.wait_acks(1)
    counts = {c["agent_id"]: c for c in cli_json(config, tmp_path, "dead-letters", "--counts",
                                                  "--json")}
    fleet = {a["agent_id"]: a for a in cli_json(config, tmp_path, "agents", "--json")}
    listing = " ".join(cli(config, tmp_path, "dead-letters").split())

    assert [a.outcome for a in acks] == ["rejected"] * 14
    assert committed.outcome == "committed"
    reasons = [d.reason for d in reversed(store.dead_letters())]
    assert len(reasons) == 5
    assert ["not a TickerML batch" in r for r in reasons] == [True] * 4 + [False]
    assert "foreign batch" in reasons[4]
    assert {k: counts["pi-2"][k] for k in ("refused", "kept", "dropped")} == {
        "refused": 14, "kept": 5, "dropped": 9}
    assert (fleet["pi-2"]["dead_letters"], fleet["pi-2"]["dead_letters_dropped"],
            fleet["pi-2"]["refused"]) == (5, 9, 14)
    assert "refused in all: 14, kept now: 5, not kept (over the dead-letter budget): 9" in listing


def test_a_retained_garbage_message_is_dead_lettered_once_across_hub_restarts(
    hub_config: HubConfig, store: HubStore, make_agent: Callable[..., TestAgent]
) -> None:
    """Tried: pi-2 publishes garbage retained on its data topic and on its status topic;
    a hub starts, stops, and two more start after it (each subscription gets the retained
    messages again). Kept: two dead letters in all and one rejected ack to pi-2; each
    later start counts the two as retained repeats."""
    mallory = make_agent("pi-2", will=False)
    mallory.publish_raw(agent_data("pi-2", "trades"), b"retained garbage", retain=True)
    mallory.publish_raw("tickerml/v1/agent/pi-2/status", b"{not json", retain=True)

    for start in range(3):
        with running_ingest(hub_config, store) as ingest:
            wait_for(lambda: ingest.stats.dead_letters + ingest.stats.retained_repeats == 2,
                     10, f"start {start}: both retained messages handled")
            repeats = ingest.stats.retained_repeats
        assert repeats == (0 if start == 0 else 2)

    assert len(store.dead_letters()) == 2
    assert len(mallory.acks) == 1 and mallory.acks[0].outcome == "rejected"
    assert store.ingest_counts()["pi-2"].retained_repeats == 4


def test_the_hub_prunes_dead_letters_past_their_age_and_past_the_total_size(
    hub_config: HubConfig, store: HubStore
) -> None:
    """Tried: a store holding 3 dead letters 2 days old and 4 fresh ones of 1,000 bytes;
    a hub started with max_age_s 1 day and max_total_bytes 2,500. Kept: at its start,
    the old ones gone and the two oldest fresh ones (the newest 2,000 bytes stay)."""
    now = time.time_ns()
    letters = [Refusal("pi-2", "t", f"old {i}", b"x" * 10, now - 2 * DAY_NS) for i in range(3)]
    letters += [Refusal("pi-2", "t", f"new {i}", b"y" * 1000, now - 10 + i) for i in range(4)]
    store.keep_refusals(letters, {}, now_ns=now)
    config = with_ingest(hub_config, dead_letters=DeadLetterConfig(
        max_age_s=86_400, max_total_bytes=2_500))

    with running_ingest(config, store):
        pass

    assert [d.reason for d in store.dead_letters()] == ["new 3", "new 2"]
