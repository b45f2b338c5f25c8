"""Hub commands over the real broker: each kind, refusals, redeliveries. The agent's
own handlers are tested in tests/edge/agent/test_commands.py."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.sync.client import SyncClient
from edge.sync.commands import NO_MODEL, CommandHandlers, CommandRefused
from provisioning.broker import Broker
from shared.clock import LiveClock
from tests.edge.sync.helpers import Hub, command, edge_config, new_writer, result_of


@pytest.fixture()
def hub(plain_broker: Broker) -> Iterator[Hub]:
    test_hub = Hub(plain_broker.port)
    yield test_hub
    test_hub.close()


def test_every_command_kind_is_answered_with_its_outcome(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: each kind with handlers that record their calls, resync of an unknown symbol,
    rollback with no model, an unknown kind, malformed JSON, and a command redelivered.
    Kept: done / refused with the reason / the first result again without re-running."""
    calls: list[str] = []

    def resync(symbol: str, exchange: str | None) -> str:
        if symbol != "BTC/USDT":
            raise CommandRefused(f"no book of {symbol}")
        calls.append(f"resync {symbol}")
        return "resyncing"

    def pause() -> str:
        calls.append("pause")
        return "paused 2"

    handlers = CommandHandlers(
        resync=resync, pause_trading=pause, resume_trading=lambda: "resumed 2",
        trading_paused=lambda: "pause" in calls,
    )
    db = tmp_path / "edge.db"
    writer = new_writer(db)
    client = SyncClient(edge_config(tmp_path, plain_broker.port), writer, db, LiveClock(),
                        commands=handlers)
    client.start()
    try:
        assert hub.wait(lambda h: any(s.state == "online" for s in h.statuses))
        hub.command(command("c1", "resync", symbol="BTC/USDT"))
        hub.command(command("c2", "resync", symbol="DOGE/USDT"))
        hub.command(command("c3", "pause_trading"))
        hub.command(command("c4", "resume_trading"))
        hub.command(command("c5", "rollback_model"))
        statuses_before = len(hub.statuses)
        hub.command(command("c6", "send_status"))
        hub.command(b'{"agent_id": "pi-test", "command_id": "c7", "kind": "reboot", '
                    b'"issued_ns": 1}')
        hub.command(b"{not json")
        hub.command(command("c3", "pause_trading"))

        outcomes = {cid: result_of(hub, cid)[0] for cid in ("c1", "c2", "c4", "c5", "c6", "c7")}
        redelivered = result_of(hub, "c3", count=2)
        assert hub.wait(lambda h: any(r.command_id == "" for r in h.results))
        assert hub.wait(lambda h: len(h.statuses) > statuses_before)
    finally:
        client.stop()
        writer.close()

    assert outcomes["c1"].outcome == "done" and outcomes["c1"].kind == "resync"
    assert (outcomes["c2"].outcome, outcomes["c2"].detail) == ("refused", "no book of DOGE/USDT")
    assert outcomes["c4"].outcome == "done"
    assert (outcomes["c5"].outcome, outcomes["c5"].detail) == ("refused", NO_MODEL)
    assert outcomes["c6"].outcome == "done"
    assert outcomes["c7"].outcome == "refused" and "unknown command kind 'reboot'" in (
        outcomes["c7"].detail
    )
    malformed = next(r for r in hub.results if r.command_id == "")
    assert malformed.outcome == "refused" and "not a valid Command" in malformed.detail
    assert redelivered[0] == redelivered[1] and redelivered[0].outcome == "done"
    assert calls == ["resync BTC/USDT", "pause"]
    assert [s for s in hub.statuses if s.state == "online"][-1].trading_paused is True


def test_a_command_past_its_expiry_is_answered_expired_and_not_run(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: pause_trading whose expires_ns passed 30 s ago (a command kept for an agent
    that was away, delivered late or by a hub whose clock runs ahead), sent twice, then
    one that expires in a minute. Kept: the stale one is answered "expired" with how
    late it was, both times, and never run; the fresh one is done."""
    calls: list[str] = []

    def pause() -> str:
        calls.append("pause")
        return "paused 2"

    db = tmp_path / "edge.db"
    writer = new_writer(db)
    client = SyncClient(edge_config(tmp_path, plain_broker.port), writer, db, LiveClock(),
                        commands=CommandHandlers(pause_trading=pause))
    now = time.time_ns()
    stale = command("late", "pause_trading").model_copy(update={"expires_ns": now - 30 * 10**9})
    fresh = command("fresh", "pause_trading").model_copy(update={"expires_ns": now + 60 * 10**9})
    client.start()
    try:
        assert hub.wait(lambda h: any(s.state == "online" for s in h.statuses))
        hub.command(stale)
        hub.command(stale)
        hub.command(fresh)
        late = result_of(hub, "late", count=2)
        done = result_of(hub, "fresh")[0]
    finally:
        client.stop()
        writer.close()

    assert [r.outcome for r in late] == ["expired", "expired"]
    assert re.fullmatch(r"arrived 3\d\.\d s after it expired; not run", late[0].detail)
    assert done.outcome == "done"
    assert calls == ["pause"]


def test_a_command_sent_while_the_agent_is_away_is_run_when_it_is_back(
    tmp_path: Path, plain_broker: Broker, hub: Hub
) -> None:
    """Tried: the agent connects once and stops (SIGTERM-like clean stop); the hub sends
    pause_trading while it is away; the agent starts again. Kept: its persistent session
    held the command at the broker, the agent ran it on its return and the hub got
    "done". (With the clean session agents had, the broker dropped it: never answered.)"""
    calls: list[str] = []

    def pause() -> str:
        calls.append("pause")
        return "paused 2"

    db = tmp_path / "edge.db"
    config = edge_config(tmp_path, plain_broker.port)
    writer = new_writer(db)
    try:
        first = SyncClient(config, writer, db, LiveClock())
        first.start()
        assert hub.wait(lambda h: any(s.state == "online" for s in h.statuses))
        first.stop()
        assert hub.wait(lambda h: h.statuses[-1].state == "offline")

        hub.command(command("away", "pause_trading"))
        back = SyncClient(config, writer, db, LiveClock(),
                          commands=CommandHandlers(pause_trading=pause))
        back.start()
        try:
            answer = result_of(hub, "away")[0]
        finally:
            back.stop()
    finally:
        writer.close()

    assert (answer.outcome, answer.detail) == ("done", "paused 2")
    assert calls == ["pause"]
