"""Retention: delete rows older than each table's configured age.

Deletes run in chunks of ``chunk_rows``, each in its own short ``BEGIN
IMMEDIATE`` transaction, so the store writer (another connection) never waits
for the write lock longer than one chunk takes. Tables with a per-symbol time
index are pruned one (exchange, symbol) at a time so every chunk is an index
range, not a table scan.

Ids are never reset: every table is ``AUTOINCREMENT``, so SQLite keeps the
highest id ever used in ``sqlite_sequence`` and the sync cursor to the hub stays
valid after a prune.

When the agent syncs to the hub, ``prune`` is given each synced table's
acknowledged id and deletes nothing above it: age alone never removes a row the
hub has not got. Unsynced rows only go under the disk budget
(:mod:`edge.sync.budget`), which records every such drop.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.config.store import RetentionConfig

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
DAY_S = 86_400
HOUR_S = 3_600


@dataclass(frozen=True, slots=True)
class TablePolicy:
    """How one table is pruned: its time column, the unit, and its index shape."""

    table: str
    time_column: str
    ns_per_unit: int
    per_symbol: bool
    """True when the time index is (exchange, symbol, time)."""
    keep_s: Callable[[RetentionConfig], float]


POLICIES: tuple[TablePolicy, ...] = (
    TablePolicy("trades", "ts_exchange_ns", 1, True, lambda r: r.trades_days * DAY_S),
    TablePolicy("candles_1m", "open_time_ms", NS_PER_MS, True, lambda r: r.candles_days * DAY_S),
    TablePolicy(
        "book_snapshots", "ts_ns", 1, True, lambda r: r.book_snapshots_days * DAY_S
    ),
    TablePolicy("feed_events", "ts_ns", 1, False, lambda r: r.feed_events_days * DAY_S),
    TablePolicy(
        "raw_messages", "ts_recv_ns", 1, False, lambda r: r.raw_messages_hours * HOUR_S
    ),
)


def cutoffs(retention: RetentionConfig, now_ns: int) -> dict[str, int | None]:
    """Per table, the time (in the table's own unit) below which rows go; None keeps all."""
    out: dict[str, int | None] = {}
    for policy in POLICIES:
        keep_s = policy.keep_s(retention)
        if keep_s <= 0:
            out[policy.table] = None
        else:
            out[policy.table] = (now_ns - int(keep_s * NS_PER_S)) // policy.ns_per_unit
    return out


def _delete_chunks(
    conn: sqlite3.Connection,
    table: str,
    where: str,
    params: tuple[object, ...],
    chunk_rows: int,
    pause_s: float,
) -> int:
    sql = (
        f"DELETE FROM {table} WHERE id IN "
        f"(SELECT id FROM {table} WHERE {where} LIMIT ?)"
    )
    deleted = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            count = conn.execute(sql, (*params, chunk_rows)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        deleted += count
        if count < chunk_rows:
            return deleted
        if pause_s:
            # Leaves a gap for the writer to take the lock between chunks.
            time.sleep(pause_s)


def prune(
    conn: sqlite3.Connection,
    retention: RetentionConfig,
    now_ns: int,
    *,
    chunk_rows: int = 5_000,
    pause_s: float = 0.0,
    synced_up_to: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Delete rows older than ``retention`` allows; returns rows deleted per table.

    ``synced_up_to``: when the agent syncs, each synced table's acknowledged id
    (:func:`edge.store.cursors.read_cursors`); rows above it are kept whatever
    their age. Tables not in it are pruned by age alone.
    ``conn`` must be in autocommit mode (as :func:`edge.store.db.connect` opens it).
    """
    deleted: dict[str, int] = {}
    limits = cutoffs(retention, now_ns)
    for policy in POLICIES:
        cutoff = limits[policy.table]
        if cutoff is None:
            deleted[policy.table] = 0
            continue
        column = policy.time_column
        bound = ""
        upper: tuple[int, ...] = ()
        if synced_up_to is not None and policy.table in synced_up_to:
            bound, upper = " AND id <= ?", (synced_up_to[policy.table],)
        if policy.per_symbol:
            pairs = conn.execute(
                f"SELECT DISTINCT exchange, symbol FROM {policy.table}"
            ).fetchall()
            total = 0
            for exchange, symbol in pairs:
                total += _delete_chunks(
                    conn, policy.table, f"exchange = ? AND symbol = ? AND {column} < ?{bound}",
                    (exchange, symbol, cutoff, *upper), chunk_rows, pause_s,
                )
            deleted[policy.table] = total
        else:
            deleted[policy.table] = _delete_chunks(
                conn, policy.table, f"{column} < ?{bound}", (cutoff, *upper), chunk_rows,
                pause_s,
            )
    return deleted
