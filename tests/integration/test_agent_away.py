"""An agent that stops and comes back, against a real deployment: mosquitto, `tickerml hub
run`, `tickerml edge run` and `tickerml hub command` as processes.

A clean stop (SIGTERM) logs nothing at error level. A command sent while the agent is
away is kept for it by the broker (the agent's persistent session): `hub command` says
at once that it is queued, with the time the hub store last heard from the agent, and
the agent runs it when it is back — unless it expired first.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from hub.store.store import HubStore
from tests.integration.harness import REPO, Agent, Deployment, wait_until

pytestmark = pytest.mark.slow

QUEUED = 4
"""`hub command`'s exit code for a command queued for an offline agent (docs/sync.md)."""


def utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def hub_command(deploy: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "hub", "command", "-c", str(deploy.hub_config),
         *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )


def command_id(output: str) -> str:
    found = re.search(r"^\S+ \S+ ([0-9a-f]{32}): ", output, flags=re.MULTILINE)
    assert found, output
    return found.group(1)


def reader(deploy: Deployment) -> HubStore:
    """The hub store read-only, as a reader beside the running `hub run` must open it."""
    return HubStore(deploy.store_path, readonly=True)


def state(deploy: Deployment, agent: Agent) -> str | None:
    """The agent's state in the hub store (its last status), None before any."""
    with reader(deploy) as store:
        record = store.agent(agent.agent_id)
    return None if record is None else record.state


def started(deploy: Deployment) -> Agent:
    deploy.start_broker()
    deploy.start_simulator()
    deploy.start_hub()
    agent = deploy.add_agent("pi-a")
    deploy.start_agent(agent)
    deploy.wait_syncing(agent)
    return agent


def test_edge_run_stopped_by_sigterm_logs_no_error(deploy: Deployment) -> None:
    """Tried: `edge run` collecting and syncing, connected for longer than its
    connect_timeout_s (2 s), then SIGTERM. Kept: exit 0, its farewell reached the hub
    (state offline), and not one ERROR line in its log. (It used to log "sync: no
    CONNACK ... in 2.0 s" at every clean stop: the connection loop took the disconnect
    it had just been asked for for a connection attempt never answered.)"""
    agent = started(deploy)

    def connected_for_s() -> float:
        with reader(deploy) as store:
            record = store.agent(agent.agent_id)
        status = record.status if record is not None else None
        if status is None or status.state != "online" or status.connected_since_ns is None:
            return 0.0
        return (status.ts_ns - status.connected_since_ns) / 1e9

    wait_until(lambda: connected_for_s() > 3.0, 30, "pi-a connected for over 3 s")
    code = deploy.terminate(agent.agent_id)

    assert code == 0
    wait_until(lambda: state(deploy, agent) == "offline", 10, "pi-a's farewell at the hub")
    log = (deploy.logs / f"{agent.agent_id}.log").read_text(errors="replace")
    assert "stopped" in log
    assert [line for line in log.splitlines() if " ERROR " in line or " CRITICAL " in line] == []


def test_a_command_for_an_offline_agent_is_queued_and_run_when_it_is_back(
    deploy: Deployment,
) -> None:
    """Tried: pi-a stopped (SIGTERM), the hub store showing it offline; then `hub command`
    pause_trading (valid 120 s), resume_trading (valid 1 s) and send_status (valid
    120 s); the second's expiry passes; pi-a starts again. Kept: each `hub command` exits
    4 at once, printing "queued: agent offline since <the time the hub last heard from
    it> UTC"; back, pi-a paused its trading and sent its status (both "done", recorded
    at the hub by `hub run`), while the expired resume never reached it: the broker
    dropped it, so the pause stands. (Agents had clean sessions: the broker kept nothing
    for them, and `hub command` just timed out.)"""
    agent = started(deploy)
    assert deploy.terminate(agent.agent_id) == 0
    wait_until(lambda: state(deploy, agent) == "offline", 10, "pi-a offline at the hub")
    with reader(deploy) as store:
        record = store.agent(agent.agent_id)
    assert record is not None and record.last_seen_ns is not None
    since = utc(record.last_seen_ns)

    sent = [hub_command(deploy, "pi-a", "pause_trading", "--expires-in", "120"),
            hub_command(deploy, "pi-a", "resume_trading", "--expires-in", "1"),
            hub_command(deploy, "pi-a", "send_status", "--expires-in", "120")]

    for done in sent:
        assert done.returncode == QUEUED, done.stdout + done.stderr
        assert f": queued: agent offline since {since} UTC (its last status)" in done.stdout
    pause, resume, status = (command_id(done.stdout) for done in sent)
    with reader(deploy) as store:
        resume_record = store.command(resume)
    assert resume_record is not None and resume_record.issued_ns is not None
    # mosquitto counts expiry in whole seconds from the publish, a little after issued_ns.
    expired_ns = resume_record.issued_ns + 2_500_000_000
    wait_until(lambda: time.time_ns() > expired_ns, 10, "the resume command's expiry passed")

    deploy.start_agent(agent)

    def outcome(command: str) -> str | None:
        with reader(deploy) as store:
            found = store.command(command)
        return None if found is None else found.outcome

    # The broker delivers a session's messages in order: by the time the last command's
    # answer is in, the expired one would have been answered first had it been delivered.
    wait_until(lambda: outcome(status) is not None, 60, "pi-a's answer to send_status")
    assert (outcome(pause), outcome(status)) == ("done", "done")
    assert outcome(resume) is None

    def trading_paused() -> bool:
        with reader(deploy) as store:
            record = store.agent(agent.agent_id)
        status = None if record is None else record.status
        return status is not None and status.state == "online" and status.trading_paused

    wait_until(trading_paused, 10, "pi-a's status at the hub saying its trading is paused")
