"""Fleet status: online/offline, backlog and lag from an agent's status and the store."""

from __future__ import annotations

from typing import Any

from hub.fleet import agent_view
from hub.store.records import AgentRecord
from shared.config.hub import IngestConfig
from shared.sync.messages import AgentStatus, FeedHealth, TableBacklog

S = 1_000_000_000
CONFIG = IngestConfig(offline_after_s=90, stale_feed_after_s=60)


def record(last_seen_ns: int = 1000 * S, **status: Any) -> AgentRecord:
    """An online agent last seen at ``last_seen_ns`` with these status fields."""
    parsed = AgentStatus(agent_id="a", state="online", ts_ns=last_seen_ns, **status)
    return AgentRecord("a", "online", 0, last_seen_ns, parsed, last_seen_ns)


def test_an_online_agent_not_heard_from_for_offline_after_s_shows_offline() -> None:
    """Tried: an online status last seen 91 s ago (limit 90), and 89 s ago. Kept: offline,
    then online; the reported state stays 'online' in both."""
    stale = agent_view(record(), {}, CONFIG, now_ns=1091 * S)
    fresh = agent_view(record(), {}, CONFIG, now_ns=1089 * S)

    assert (stale.online, stale.state, stale.last_seen_age_s) == (False, "online", 91.0)
    assert fresh.online is True


def test_lag_is_zero_when_the_hub_holds_everything_the_status_reported() -> None:
    """Tried: a status whose backlog (rows up to 500, oldest 30 s old) the hub has since
    stored. Kept: backlog 50 as reported, lag 0 rows and 0 s."""
    status = record(backlog={"trades": TableBacklog(last_id=500, acked_id=450, rows=50,
                                                    oldest_ns=970 * S)})

    view = agent_view(status, {"trades": 500}, CONFIG, now_ns=1000 * S)

    assert (view.backlog_rows, view.lag_rows, view.lag_s) == (50, 0, 0.0)


def test_lag_sums_rows_over_tables_and_takes_the_oldest_age() -> None:
    """Tried: two tables behind by 100 and 20 rows, oldest rows 30 s and 10 s old. Kept:
    lag 120 rows, 30 s; per-table figures."""
    status = record(backlog={
        "trades": TableBacklog(last_id=200, acked_id=100, rows=100, oldest_ns=970 * S),
        "fills": TableBacklog(last_id=40, acked_id=20, rows=20, oldest_ns=990 * S),
    })

    view = agent_view(status, {"trades": 100, "fills": 20}, CONFIG, now_ns=1000 * S)

    assert (view.lag_rows, view.lag_s) == (120, 30.0)
    assert [(t.table, t.lag_rows) for t in view.tables] == [("fills", 20), ("trades", 100)]


def test_a_book_is_stale_when_unsynced_or_not_updated_within_the_limit() -> None:
    """Tried: three books: synced and fresh, synced but 61 s old, unsynced. Kept: 2 of 3
    synced; the old and the unsynced ones named stale."""
    feeds = (
        FeedHealth(exchange="k", symbol="A", synced=True, last_update_ns=999 * S),
        FeedHealth(exchange="k", symbol="B", synced=True, last_update_ns=939 * S),
        FeedHealth(exchange="k", symbol="C", synced=False, last_update_ns=999 * S),
    )

    view = agent_view(record(feeds=feeds), {}, CONFIG, now_ns=1000 * S)

    assert (view.feeds_synced, view.feeds_total) == (2, 3)
    assert view.stale_feeds == ("k:B", "k:C")


def test_an_agent_without_a_status_yet_shows_offline_with_empty_figures() -> None:
    """Tried: an agent known only from its batches. Kept: offline, zero lag, no versions."""
    bare = AgentRecord("a", "unknown", 0, 1000 * S, None, None)

    view = agent_view(bare, {"trades": 10}, CONFIG, now_ns=1000 * S)

    assert (view.online, view.lag_rows, view.agent_version, view.feeds_total) == (
        False, 0, "", 0)


def test_an_agent_whose_disk_is_full_shows_since_when_in_the_fleet() -> None:
    """Tried: a status saying the agent's disk has been full since t=900 s, then one from
    after it recovered. Kept: the fleet view carries the time while full, None after."""
    full = agent_view(record(store_full_since_ns=900 * S, trading_paused=True), {}, CONFIG,
                      now_ns=1000 * S)
    recovered = agent_view(record(), {}, CONFIG, now_ns=1000 * S)

    assert (full.store_full_since_ns, full.trading_paused) == (900 * S, True)
    assert recovered.store_full_since_ns is None
    assert full.to_dict()["store_full_since_ns"] == 900 * S
