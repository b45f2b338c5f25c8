"""The fleet at a glance: per agent, is it there, how far behind is the hub, is it healthy.

Everything comes from the hub store: the agent's last status (its own view of its
backlog, versions and books) and the hub's newest stored local id per table in the
status's epoch (the agent's current database). Lag in rows compares the two ids
(local ids may skip numbers, so it is an upper bound); lag in seconds is the age of
the oldest row the agent had not yet seen acknowledged, or 0 when the hub already
holds everything the status reported. Each agent also shows its database epochs (a
second one: its database was replaced) and the conflicting rows the hub kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hub.store.records import AgentRecord, EpochRecord, IngestCounts
from hub.store.store import HubStore
from shared.config.hub import IngestConfig
from shared.sync.tables import LEGACY_EPOCH

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class TableLag:
    """One synced table of one agent: the agent's ids against the hub's."""

    table: str
    agent_last_id: int
    agent_acked_id: int
    hub_last_id: int
    backlog_rows: int
    lag_rows: int
    lag_s: float


@dataclass(frozen=True, slots=True)
class FeedView:
    """One book an agent keeps; stale when unsynced or not updated lately."""

    exchange: str
    symbol: str
    synced: bool
    stale: bool
    last_update_ns: int


@dataclass(frozen=True, slots=True)
class EpochView:
    """One of an agent's databases, as the hub heard of it."""

    epoch: str
    first_seen_ns: int
    last_seen_ns: int


@dataclass(frozen=True, slots=True)
class AgentView:
    """One agent as the operator sees it (``hub agents``)."""

    agent_id: str
    online: bool
    state: str
    last_seen_ns: int | None
    last_seen_age_s: float | None
    connected_since_ns: int | None
    agent_version: str
    model_version: str | None
    feature_spec: str | None
    trading_paused: bool
    dropped_rows: int
    store_full_since_ns: int | None
    backlog_rows: int
    lag_rows: int
    lag_s: float
    feeds_synced: int
    feeds_total: int
    stale_feeds: tuple[str, ...]
    dead_letters: int
    tables: tuple[TableLag, ...]
    feeds: tuple[FeedView, ...]
    epoch: str | None = None
    """The epoch of the database its last status came from (None: not said)."""
    epochs: tuple[EpochView, ...] = ()
    """Every database epoch the hub heard of, oldest first."""
    conflicts: int = 0
    """Rows the hub received with other content under a key it holds (kept apart)."""
    refused: int = 0
    """Its messages the hub refused, in all (kept as dead letters or only counted)."""
    dead_letters_dropped: int = 0
    """Refused beyond its dead-letter budget: counted, payload not kept."""
    rate_limited: int = 0
    """Dropped unread: over its rate limit (ingest.rate_limit)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``hub agents --json``)."""
        return asdict(self)


def fleet_status(store: HubStore, config: IngestConfig, *, now_ns: int) -> list[AgentView]:
    """Every agent the hub has heard from, with lag against what the hub stores."""
    dead = store.dead_letter_counts()
    counts = store.ingest_counts()
    conflicts = store.conflict_counts()
    epochs: dict[str, list[EpochRecord]] = {}
    for epoch in store.epochs():
        epochs.setdefault(epoch.agent_id, []).append(epoch)
    return [
        agent_view(record, store.max_local_ids(record.agent_id, _epoch_of(record)), config,
                   now_ns=now_ns, dead_letters=dead.get(record.agent_id, 0),
                   epochs=epochs.get(record.agent_id, []),
                   conflicts=conflicts.get(record.agent_id, 0),
                   counts=counts.get(record.agent_id))
        for record in store.agents()
    ]


def _epoch_of(record: AgentRecord) -> str | None:
    """The epoch of the agent's current database, from its last status."""
    status = record.status
    if status is None:
        return None
    return status.epoch or (LEGACY_EPOCH if status.schema_version == 1 else None)


def agent_view(
    record: AgentRecord, hub_ids: dict[str, int], config: IngestConfig, *, now_ns: int,
    dead_letters: int = 0, epochs: list[EpochRecord] | None = None, conflicts: int = 0,
    counts: IngestCounts | None = None,
) -> AgentView:
    """One agent's view from its record and the hub's newest local id per table (of the
    status's epoch)."""
    status = record.status
    age_s = None if record.last_seen_ns is None else max(0.0, (now_ns - record.last_seen_ns) / _NS)
    fresh = age_s is not None and age_s <= config.offline_after_s
    tables: list[TableLag] = []
    feeds: list[FeedView] = []
    if status is not None:
        for name, backlog in sorted(status.backlog.items()):
            hub_last = hub_ids.get(name, 0)
            lag_rows = max(0, backlog.last_id - hub_last)
            lag_s = 0.0
            if lag_rows and backlog.oldest_ns is not None:
                lag_s = max(0.0, (now_ns - backlog.oldest_ns) / _NS)
            tables.append(TableLag(name, backlog.last_id, backlog.acked_id, hub_last,
                                   backlog.rows, lag_rows, lag_s))
        stale_ns = int(config.stale_feed_after_s * _NS)
        feeds = [
            FeedView(f.exchange, f.symbol, f.synced,
                     not f.synced or now_ns - f.last_update_ns > stale_ns, f.last_update_ns)
            for f in status.feeds
        ]
    return AgentView(
        agent_id=record.agent_id,
        online=record.state == "online" and fresh,
        state=record.state,
        last_seen_ns=record.last_seen_ns,
        last_seen_age_s=age_s,
        connected_since_ns=status.connected_since_ns if status else None,
        agent_version=status.agent_version if status else "",
        model_version=status.model_version if status else None,
        feature_spec=status.feature_spec if status else None,
        trading_paused=status.trading_paused if status else False,
        dropped_rows=status.dropped_rows if status else 0,
        store_full_since_ns=status.store_full_since_ns if status else None,
        backlog_rows=sum(t.backlog_rows for t in tables),
        lag_rows=sum(t.lag_rows for t in tables),
        lag_s=max((t.lag_s for t in tables), default=0.0),
        feeds_synced=sum(f.synced for f in feeds),
        feeds_total=len(feeds),
        stale_feeds=tuple(f"{f.exchange}:{f.symbol}" for f in feeds if f.stale),
        dead_letters=dead_letters,
        tables=tuple(tables),
        feeds=tuple(feeds),
        epoch=_epoch_of(record),
        epochs=tuple(EpochView(e.epoch, e.first_seen_ns, e.last_seen_ns) for e in epochs or ()),
        conflicts=conflicts,
        refused=counts.refused if counts else 0,
        dead_letters_dropped=counts.dropped if counts else 0,
        rate_limited=counts.rate_limited if counts else 0,
    )
