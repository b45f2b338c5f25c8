"""The agent's one database writer: a thread fed by a bounded in-memory queue.

Every producer (feeds, candle builder, snapshots, events) hands rows to
:class:`StoreWriter`; one thread batches them and commits every
``commit_interval_s`` or as soon as ``commit_max_rows`` are waiting, each batch
in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` with ``executemany`` per table.
Committing per message would cost one WAL append and fsync-able page write per
row: on a Pi's SD card that is both the bottleneck and the wear.

Rows that must stand or fall together (one step of the paper-trading ledger)
go in as one group with :meth:`StoreWriter.put_many`; a group never straddles
two commits.

The queue is bounded by rows and by (approximate) bytes so a stalled disk
cannot eat the Pi's memory; a producer that finds it full waits briefly, then
the row is dropped and counted (and logged): the event loop must not freeze
for longer than that, or every socket would time out too.

A failure inside the writer is logged with the table it was writing, recorded,
and raised to the next caller of ``put_*``, :meth:`StoreWriter.flush` or
:meth:`StoreWriter.close`: rows are never dropped silently.

A full disk is not such a failure: SQLite's "database or disk is full" (or an
``ENOSPC``) is a :class:`~edge.store.full_disk.StoreFullError`, a
:class:`~shared.errors.TemporaryError`. The batch is rolled back and put back at
the head of the queue; the writer retries (its oldest entry, to find out whether
there is room again) with capped, jittered backoff (``store.disk_full_backoff``)
and meanwhile says since when the disk is full (:attr:`StoreWriter.disk_full_since_ns`,
``stats()``). Producers never wait then (waiting would freeze the event loop for
nothing): rows keep queueing up to the usual bound, beyond it the *oldest*
market-data rows (:data:`~edge.store.full_disk.MARKET_DATA_TABLES`) go, counted per
table; the ledger and every other row stays (paper trading halts while the disk is
full, so few come). The first commit that succeeds again ends the spell and the
next one stores its record (:mod:`edge.store.full_disk`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from edge.store.db import check_contract, open_store
from edge.store.full_disk import (
    MARKET_DATA_TABLES,
    FullDiskSpell,
    StoreFullError,
    is_disk_full,
    iso_utc,
)
from shared.backoff import Backoff
from shared.book import OrderBook
from shared.clock import Clock, LiveClock
from shared.config.store import StoreConfig
from shared.errors import OperationalError
from shared.marketdata import Candle, FeedEvent, Trade
from shared.sync.tables import TABLES, SyncedTable

log = logging.getLogger(__name__)

def _insert_sql(table: SyncedTable) -> str:
    """The insert of one synced table's data columns, in the contract's order (``id`` is
    the table's own AUTOINCREMENT), with the table's conflict clause."""
    columns = table.data_columns
    verb = "INSERT" if table.on_conflict == "ABORT" else f"INSERT OR {table.on_conflict}"
    marks = ", ".join("?" * len(columns))
    return f"{verb} INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


INSERTS: dict[str, str] = {
    **{name: _insert_sql(table) for name, table in TABLES.items()},
    # The agent's own state, never synced: upserts, written by hand.
    # A cursor only ever moves forward: an acknowledgement that arrives late (a
    # re-sent batch acknowledged again) must not undo a newer one.
    "sync_cursors": (
        "INSERT INTO sync_cursors (table_name, acked_id, ts_ns) VALUES (?, ?, ?) "
        "ON CONFLICT(table_name) DO UPDATE SET acked_id = max(acked_id, excluded.acked_id), "
        "ts_ns = excluded.ts_ns"
    ),
    # Batches the hub answered "conflict" (edge/sync/outbox.py): appended, never synced.
    "sync_conflicts": (
        "INSERT INTO sync_conflicts (table_name, first_id, last_id, rows, reason, ts_ns) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    ),
    "news_sources": (
        "INSERT INTO news_sources (name, url, etag, last_modified, failures, next_try_ns, "
        "last_status, last_error, checked_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET url = excluded.url, etag = excluded.etag, "
        "last_modified = excluded.last_modified, failures = excluded.failures, "
        "next_try_ns = excluded.next_try_ns, last_status = excluded.last_status, "
        "last_error = excluded.last_error, checked_ns = excluded.checked_ns"
    ),
}
"""The statement for each table the writer fills: every synced table's generated from
:data:`shared.sync.tables.TABLES` (``put_*`` rows follow its column order), plus the
agent's own upserts."""

_GROUP = "\0group"
"""Queue entry holding several rows that must land in one commit (``put_many``)."""

ROW_OVERHEAD_BYTES = 256
"""Rough memory of a queued row beyond its long strings (tuple, ints, short strs)."""

_RATE_WINDOW_S = 60.0
_LOCKED_RETRIES = 5
_DROP_LOG_S = 10.0
_FULL_REMINDER_S = 60.0
_CLOSING_RETRY_S = 0.5
"""While closing on a full disk: the longest wait between the last tries."""

__all__ = ["StoreFullError", "StoreWriter", "StoreWriterError", "WriterStats"]


class StoreWriterError(OperationalError):
    """The writer thread failed; the message names the table and the SQLite error."""


def decimal_text(value: Decimal) -> str:
    """A ``Decimal`` as plain fixed-point text (never ``1E-8``): the stored form."""
    return format(value, "f")


@dataclass
class WriterStats:
    """What the writer has done so far (``stats()`` returns a fresh copy)."""

    rows_written: dict[str, int] = field(default_factory=dict)
    rows_ignored: dict[str, int] = field(default_factory=dict)
    """Rows an ``INSERT OR IGNORE`` skipped as duplicates."""
    commits: int = 0
    commit_seconds_total: float = 0.0
    commit_seconds_max: float = 0.0
    commit_seconds_last: float = 0.0
    commits_per_s: float = 0.0
    """Commit rate over the last minute (or since start, if younger)."""
    pending_rows: int = 0
    """Entries not committed yet (a ``put_many`` group counts one): queued, or in the
    commit under way (or being retried, on a full disk)."""
    pending_bytes: int = 0
    backpressure_waits: int = 0
    """Times a producer found the queue full and had to wait."""
    dropped_rows: int = 0
    """Rows given up: after waiting for room (the disk could not keep up), or the
    oldest market data beyond the bound while the disk was full."""
    dropped_by_table: dict[str, int] = field(default_factory=dict)
    """:attr:`dropped_rows` per table."""
    failed: str | None = None
    disk_full_since_ns: int | None = None
    """When the disk was found full (the writer's clock), while it still is."""
    disk_full_reason: str | None = None
    """What SQLite (or the OS) said, while the disk is full."""
    disk_full_dropped: int = 0
    """Rows dropped since the disk filled (0 when it is not full)."""
    disk_full_spells: int = 0
    """Times the disk has filled since the writer started."""
    disk_full_retries: int = 0
    """Commits tried on a full disk and failed, over all spells."""

    @property
    def commit_seconds_mean(self) -> float:
        return self.commit_seconds_total / self.commits if self.commits else 0.0

    @property
    def total_written(self) -> int:
        return sum(self.rows_written.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_written": dict(self.rows_written),
            "rows_ignored": dict(self.rows_ignored),
            "commits": self.commits,
            "commits_per_s": round(self.commits_per_s, 3),
            "commit_seconds_mean": round(self.commit_seconds_mean, 6),
            "commit_seconds_max": round(self.commit_seconds_max, 6),
            "commit_seconds_last": round(self.commit_seconds_last, 6),
            "pending_rows": self.pending_rows,
            "pending_bytes": self.pending_bytes,
            "backpressure_waits": self.backpressure_waits,
            "dropped_rows": self.dropped_rows,
            "dropped_by_table": dict(self.dropped_by_table),
            "failed": self.failed,
            "disk_full_since_ns": self.disk_full_since_ns,
            "disk_full_reason": self.disk_full_reason,
            "disk_full_dropped": self.disk_full_dropped,
            "disk_full_spells": self.disk_full_spells,
            "disk_full_retries": self.disk_full_retries,
        }


class StoreWriter:
    """Batches rows from any thread into the agent's SQLite file.

    ``put_*`` are cheap and thread-safe (one lock, one append). The database is
    opened (and migrated) in the constructor so a bad path fails at start-up;
    the writer thread then owns that connection alone.
    """

    def __init__(
        self,
        path: Path | str,
        config: StoreConfig,
        *,
        put_timeout_s: float = 2.0,
        name: str = "store-writer",
        clock: Clock | None = None,
        full_close_grace_s: float = 5.0,
    ) -> None:
        """``clock`` stamps the writer's own rows (the full-disk events);
        ``full_close_grace_s`` is how long :meth:`close` keeps trying on a full disk
        before it gives the queued rows up."""
        self.path = Path(path)
        self.clock: Clock = clock or LiveClock()
        self.full_close_grace_s = full_close_grace_s
        self.commit_interval_s = config.commit_interval_s
        self.commit_max_rows = config.commit_max_rows
        self.queue_max_rows = config.queue_max_rows
        self.queue_max_bytes = config.queue_max_bytes
        self.put_timeout_s = put_timeout_s
        self._conn = open_store(self.path)
        try:
            # Rows in a table that strays from the sync contract would be refused by the
            # hub (or land in the wrong columns): refuse to write them at all.
            check_contract(self._conn, where=str(self.path))
        except OperationalError:
            self._conn.close()
            raise
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._done_cond = threading.Condition(self._lock)
        self._queue: deque[tuple[str, tuple[Any, ...], int]] = deque()
        self._pending_bytes = 0
        # The batch being committed still counts against the bound (and as pending):
        # until its COMMIT it is as much in memory as the queue, and on a full disk it
        # comes back to it.
        self._in_flight_rows = 0
        self._in_flight_bytes = 0
        self._enqueued = 0
        self._done = 0
        self._flush_target = 0
        self._closing = False
        self._closed = False
        self._error: StoreWriterError | None = None
        self._current_table = ""
        self._stats = WriterStats(
            rows_written=dict.fromkeys(INSERTS, 0), rows_ignored=dict.fromkeys(INSERTS, 0)
        )
        self._started = time.monotonic()
        self._commit_times: deque[float] = deque(maxlen=4096)
        self._last_drop_log = 0.0
        self._full_backoff = Backoff(config.disk_full_backoff)
        self._spell: FullDiskSpell | None = None
        """The disk is full while set."""
        self._close_deadline = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- producers ----------------------------------------------------------------

    def put_trade(self, trade: Trade, *, source: str = "live") -> None:
        """Queue a trade; a repeat of (exchange, symbol, trade_id) is ignored on insert."""
        self.put(
            "trades",
            (
                trade.exchange, trade.symbol, trade.trade_id, decimal_text(trade.price),
                decimal_text(trade.size), trade.side, trade.ts_exchange_ns, trade.ts_recv_ns,
                source,
            ),
        )

    def put_candle(self, candle: Candle, *, source: str = "live") -> None:
        """Queue a closed 1-minute candle; an existing (exchange, symbol, minute) wins."""
        self.put(
            "candles_1m",
            (
                candle.exchange, candle.symbol, candle.open_time_ms, decimal_text(candle.open),
                decimal_text(candle.high), decimal_text(candle.low), decimal_text(candle.close),
                decimal_text(candle.volume), candle.trades, source,
            ),
        )

    def put_book_snapshot(self, book: OrderBook, ts_ns: int, levels: int) -> None:
        """Queue the top ``levels`` of each side of ``book`` as it is right now."""
        bids, asks = book.levels_as_strings(levels)
        bid_px, ask_px = book.best_bid_price(), book.best_ask_price()
        bids_json = orjson.dumps(bids).decode()
        asks_json = orjson.dumps(asks).decode()
        self.put(
            "book_snapshots",
            (
                book.exchange, book.symbol, ts_ns, book.sequence,
                float(book.price(bid_px)) if bid_px is not None else None,
                float(book.price(ask_px)) if ask_px is not None else None,
                bids_json, asks_json,
            ),
            len(bids_json) + len(asks_json),
        )

    def put_event(self, event: FeedEvent) -> None:
        """Queue a feed event."""
        self.put(
            "feed_events",
            (event.exchange, event.symbol, str(event.kind), event.detail, event.ts_ns),
            len(event.detail),
        )

    def put_raw(self, exchange: str, kind: str, url: str, ts_ns: int, data: str | bytes) -> None:
        """Queue one raw exchange message (``kind``: recv, sent, http, open)."""
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        self.put("raw_messages", (exchange, kind, url, ts_ns, text), len(text) + len(url))

    def put(self, table: str, row: tuple[Any, ...], extra_bytes: int = 0) -> None:
        """Queue ``row`` for ``table`` (columns in the order of :data:`INSERTS`)."""
        cost = ROW_OVERHEAD_BYTES + extra_bytes
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._closing:
                raise StoreWriterError(f"{self.path}: store writer is closed")
            if self._full(cost):
                if self._spell is None:
                    self._wait_for_room(cost)
                # On a full disk nothing frees room but eviction: the oldest market data
                # goes for this row, and any other row is kept beyond the bound.
                if self._full(cost) and not (
                    self._spell is not None
                    and (table not in MARKET_DATA_TABLES or self._evict_oldest(cost))
                ):
                    self._drop(table)
                    return
            self._queue.append((table, row, cost))
            self._pending_bytes += cost
            self._enqueued += 1
            queued = len(self._queue)
            # The first row starts the commit timer; a full batch commits now.
            if queued == 1 or queued >= self.commit_max_rows:
                self._wake.notify()

    def put_many(self, rows: Sequence[tuple[str, tuple[Any, ...]]], extra_bytes: int = 0) -> None:
        """Queue ``(table, row)`` pairs that must be committed together or not at all.

        The group is one queue entry, so no batch boundary can fall inside it: a
        crash leaves all of it or none of it. Unlike :meth:`put` it is never
        dropped: it waits for room as long as the writer is alive, because these
        are rows whose loss would corrupt what is rebuilt from them (the paper
        ledger), and they come a few at a time, not at market-data rates.
        """
        if not rows:
            return
        for table, _ in rows:
            if table not in INSERTS:
                raise ValueError(f"no insert statement for table {table!r}")
        cost = ROW_OVERHEAD_BYTES * len(rows) + extra_bytes
        with self._lock:
            waited = False
            while True:
                if self._error is not None:
                    raise self._error
                if self._closing:
                    raise StoreWriterError(f"{self.path}: store writer is closed")
                if not self._full(cost):
                    break
                if self._spell is not None:
                    # Never dropped, and not waited for either (no room comes while the
                    # disk is full): market data makes room if it can, else the group
                    # goes beyond the bound. Ledger steps are few, and trading halts.
                    self._evict_oldest(cost)
                    break
                if not waited:
                    waited = True
                    self._stats.backpressure_waits += 1
                self._wake.notify()
                self._room.wait(1.0)
            self._queue.append((_GROUP, tuple(rows), cost))
            self._pending_bytes += cost
            self._enqueued += 1
            queued = len(self._queue)
            if queued == 1 or queued >= self.commit_max_rows:
                self._wake.notify()

    def _full(self, cost: int) -> bool:
        rows = len(self._queue) + self._in_flight_rows
        return rows >= self.queue_max_rows or (
            self._pending_bytes + self._in_flight_bytes + cost > self.queue_max_bytes
            and rows > 0
        )

    def _wait_for_room(self, cost: int) -> bool:
        """Called with the lock held; True once there is room, False after the timeout
        (or as soon as the disk is found full: then no room comes by waiting)."""
        self._stats.backpressure_waits += 1
        self._wake.notify()
        deadline = time.monotonic() + self.put_timeout_s
        while self._full(cost):
            left = deadline - time.monotonic()
            if left <= 0 or self._error is not None or self._closing:
                return False
            if self._spell is not None:
                return False
            self._room.wait(left)
        return True

    def _count_drop(self, table: str, rows: int = 1) -> None:
        """Called with the lock held."""
        s = self._stats
        s.dropped_rows += rows
        s.dropped_by_table[table] = s.dropped_by_table.get(table, 0) + rows
        if self._spell is not None:
            self._spell.count_drop(table, rows)

    def _drop(self, table: str) -> None:
        """Give up one new row (lock held): counted, and said in the log now and then."""
        self._count_drop(table)
        now = time.monotonic()
        if now - self._last_drop_log < _DROP_LOG_S:
            return
        self._last_drop_log = now
        spell = self._spell
        if spell is not None:
            log.warning(
                "store writer: disk full and %d rows in memory: dropped a new %s row "
                "(%d dropped since the disk filled)",
                len(self._queue), table, spell.total_dropped,
            )
        else:
            log.warning(
                "store writer queue full (%d rows, %d bytes): dropped a %s row "
                "(%d dropped so far); the disk is not keeping up",
                len(self._queue), self._pending_bytes, table, self._stats.dropped_rows,
            )

    def _evict_oldest(self, cost: int) -> bool:
        """On a full disk (lock held): drop the oldest market-data rows until ``cost``
        more fits, with a tenth of the bound to spare so that one pass serves many
        puts; True when it fits. The rest of the queue keeps its order.

        One pass over the queue: other rows are few (trading halts), so the pass
        finds market data near the head.
        """
        rows_goal = self.queue_max_rows - max(1, self.queue_max_rows // 10)
        bytes_goal = self.queue_max_bytes - self.queue_max_bytes // 10 - cost
        count = len(self._queue) + self._in_flight_rows
        size = self._pending_bytes + self._in_flight_bytes
        kept: deque[tuple[str, tuple[Any, ...], int]] = deque()
        evicted: dict[str, int] = {}
        for entry in self._queue:
            table, _, entry_cost = entry
            if table in MARKET_DATA_TABLES and (count > rows_goal or size > bytes_goal):
                count -= 1
                size -= entry_cost
                evicted[table] = evicted.get(table, 0) + 1
            else:
                kept.append(entry)
        if evicted:
            self._queue = kept
            self._pending_bytes = size - self._in_flight_bytes
            # Dropped rows are done with: a flush must not wait for them.
            self._done += sum(evicted.values())
            self._done_cond.notify_all()
            for table, n in evicted.items():
                self._count_drop(table, n)
            now = time.monotonic()
            if now - self._last_drop_log >= _DROP_LOG_S:
                self._last_drop_log = now
                log.warning(
                    "store writer: disk full and %d rows in memory: dropped the oldest %s "
                    "(%d dropped since the disk filled)",
                    len(self._queue), ", ".join(f"{n} {t}" for t, n in evicted.items()),
                    sum(self._stats.dropped_by_table.values()) if self._spell is None
                    else self._spell.total_dropped,
                )
        return not self._full(cost)

    # -- control ------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Commit everything queued before this call; raises if the writer failed."""
        with self._lock:
            target = self._enqueued
            self._flush_target = max(self._flush_target, target)
            self._wake.notify()
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._done < target and self._error is None and self._thread.is_alive():
                if self._spell is not None:
                    raise self._full_error(self._spell)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise StoreWriterError(
                        f"{self.path}: flush timed out with {target - self._done} rows pending"
                    )
                self._done_cond.wait(left)
            if self._error is not None:
                raise self._error

    def close(self) -> None:
        """Drain the queue, commit, stop the thread and close the database."""
        with self._lock:
            if self._closed:
                if self._error is not None:
                    raise self._error
                return
            self._closing = True
            self._close_deadline = time.monotonic() + self.full_close_grace_s
            self._wake.notify()
            self._room.notify_all()
        self._thread.join()
        with self._lock:
            self._closed = True
        self._conn.close()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        with self._lock:
            s = self._stats
            now = time.monotonic()
            window = min(_RATE_WINDOW_S, max(now - self._started, 1e-9))
            recent = sum(1 for t in self._commit_times if t >= now - window)
            spell = self._spell
            return WriterStats(
                rows_written=dict(s.rows_written),
                rows_ignored=dict(s.rows_ignored),
                commits=s.commits,
                commit_seconds_total=s.commit_seconds_total,
                commit_seconds_max=s.commit_seconds_max,
                commit_seconds_last=s.commit_seconds_last,
                commits_per_s=recent / window,
                pending_rows=len(self._queue) + self._in_flight_rows,
                pending_bytes=self._pending_bytes + self._in_flight_bytes,
                backpressure_waits=s.backpressure_waits,
                dropped_rows=s.dropped_rows,
                dropped_by_table=dict(s.dropped_by_table),
                failed=str(self._error) if self._error is not None else None,
                disk_full_since_ns=spell.since_ns if spell is not None else None,
                disk_full_reason=spell.reason if spell is not None else None,
                disk_full_dropped=spell.total_dropped if spell is not None else 0,
                disk_full_spells=s.disk_full_spells,
                disk_full_retries=s.disk_full_retries,
            )

    @property
    def failed(self) -> StoreWriterError | None:
        """The error that stopped the writer, if any."""
        return self._error

    @property
    def disk_full_since_ns(self) -> int | None:
        """When the disk was found full (the writer's clock), while nothing can be
        committed; ``None`` while the writer stores. Paper trading halts while set."""
        spell = self._spell
        return spell.since_ns if spell is not None else None

    def _full_error(self, spell: FullDiskSpell) -> StoreFullError:
        return StoreFullError(
            f"{self.path}: disk full since {iso_utc(spell.since_ns)} ({spell.reason}): "
            f"{len(self._queue) + self._in_flight_rows} rows wait in memory, nothing is "
            "committed until space returns"
        )

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        last_commit = 0.0
        retry_at: float | None = None  # while the disk is full: the next try (monotonic)
        while True:
            with self._lock:
                while True:
                    queued = len(self._queue)
                    if retry_at is not None and queued:
                        # New rows do not hurry a retry on a full disk, only the backoff
                        # does; a close shortens it, for a few last tries.
                        if self._closing:
                            retry_at = min(retry_at, time.monotonic() + _CLOSING_RETRY_S)
                        left = retry_at - time.monotonic()
                        if left <= 0:
                            break
                        self._wake.wait(left)
                        continue
                    if self._closing or queued >= self.commit_max_rows:
                        break
                    if queued and self._done < self._flush_target:
                        break
                    if queued:
                        left = last_commit + self.commit_interval_s - time.monotonic()
                        if left <= 0:
                            break
                        self._wake.wait(left)
                    else:
                        self._wake.wait()
                if not self._queue:
                    # Closing with nothing left.
                    self._done_cond.notify_all()
                    return
                # On a full disk the retry is one entry, the oldest: it finds out whether
                # there is room again, and it is all the queue cannot evict meanwhile.
                limit = 1 if retry_at is not None else self.commit_max_rows
                take = min(len(self._queue), limit)
                batch = [self._queue.popleft() for _ in range(take)]
                self._in_flight_rows = take
                self._in_flight_bytes = sum(cost for _, _, cost in batch)
                self._pending_bytes -= self._in_flight_bytes
            try:
                self._commit(batch)
            except StoreFullError as exc:
                retry_at = self._keep_on_full_disk(batch, exc)
                if retry_at is None:
                    return
                continue
            except StoreWriterError as exc:
                self._stop_with(exc)
                return
            retry_at = None
            last_commit = time.monotonic()
            with self._lock:
                self._done += take
                self._in_flight_rows = self._in_flight_bytes = 0
                if self._spell is not None:
                    self._storing_again(self._spell)
                self._done_cond.notify_all()
                self._room.notify_all()

    def _stop_with(self, exc: StoreWriterError) -> None:
        with self._lock:
            self._error = exc
            self._queue.clear()
            self._pending_bytes = 0
            self._in_flight_rows = self._in_flight_bytes = 0
            self._done_cond.notify_all()
            self._room.notify_all()

    def _keep_on_full_disk(
        self, batch: list[tuple[str, tuple[Any, ...], int]], exc: StoreFullError
    ) -> float | None:
        """The batch back at the head of the queue, the spell started or carried on;
        when to try again (monotonic), or None once a close has waited long enough."""
        with self._lock:
            self._queue.extendleft(reversed(batch))
            self._pending_bytes += self._in_flight_bytes
            self._in_flight_rows = self._in_flight_bytes = 0
            self._stats.disk_full_retries += 1
            now = time.monotonic()
            spell = self._spell
            if spell is None:
                spell = self._spell = FullDiskSpell(
                    self.clock.time_ns(), str(exc.__cause__ or exc), reminded=now
                )
                self._stats.disk_full_spells += 1
                self._full_backoff.reset()
                log.warning(
                    "store writer: the disk is full (%s) writing to %s: %d rows wait in "
                    "memory and are retried with backoff; beyond %d rows the oldest market "
                    "data is dropped, and paper trading halts until space returns",
                    spell.reason, self.path, len(self._queue), self.queue_max_rows,
                )
            elif now - spell.reminded >= _FULL_REMINDER_S:
                spell.reminded = now
                log.warning(
                    "store writer: the disk is still full (since %s): %d rows wait in "
                    "memory, %d dropped so far",
                    iso_utc(spell.since_ns), len(self._queue), spell.total_dropped,
                )
            if self._full(0):
                # The batch put back may overshoot the bound: the oldest go.
                self._evict_oldest(0)
            # Flushes raise now, producers waiting for room stop waiting.
            self._done_cond.notify_all()
            self._room.notify_all()
            if not (self._closing and now >= self._close_deadline):
                return now + self._full_backoff.next_delay()
            error = self._given_up(spell)
        log.error("%s", error)
        self._stop_with(error)
        return None

    def _given_up(self, spell: FullDiskSpell) -> StoreWriterError:
        """What a close says when the disk stayed full through its grace (lock held)."""
        kept = other = 0
        for table, row, _ in self._queue:
            if table == _GROUP:
                kept += len(row)
                other += len(row)
            else:
                kept += 1
                other += table not in MARKET_DATA_TABLES
        return StoreWriterError(
            f"{self.path}: disk still full at shutdown: {kept} rows were not stored "
            f"({other} of them not market data: the paper ledger, news, the sync's state), "
            f"full since {iso_utc(spell.since_ns)} ({spell.reason}); free space: the next "
            "run goes on from what was committed"
        )

    def _storing_again(self, spell: FullDiskSpell) -> None:
        """The first commit after a full disk succeeded (lock held): end the spell and
        queue its record first in line (the next commit), counts as they are now."""
        now = self.clock.time_ns()
        rows = spell.record(now)
        cost = ROW_OVERHEAD_BYTES * len(rows)
        self._queue.appendleft((_GROUP, tuple(rows), cost))
        self._pending_bytes += cost
        self._enqueued += 1
        self._spell = None
        self._full_backoff.reset()
        self._wake.notify()
        log.warning("store writer: %s", spell.summary(now))

    def _commit(self, batch: list[tuple[str, tuple[Any, ...], int]]) -> None:
        groups: dict[str, list[tuple[Any, ...]]] = {}
        for table, row, _ in batch:
            if table == _GROUP:
                for member_table, member_row in row:
                    groups.setdefault(member_table, []).append(member_row)
            else:
                groups.setdefault(table, []).append(row)
        for attempt in range(_LOCKED_RETRIES + 1):
            try:
                self._commit_groups(groups)
                return
            except (sqlite3.Error, OSError) as exc:
                if is_disk_full(exc):
                    # Rolled back, the batch intact: the caller keeps it and retries.
                    raise StoreFullError(f"{self.path}: {exc}") from exc
                # Another connection (a prune, an import) held the write lock past
                # busy_timeout: the batch is intact, so wait and try it again.
                transient = isinstance(exc, sqlite3.OperationalError) and (
                    "locked" in str(exc) or "busy" in str(exc)
                )
                if not transient or attempt == _LOCKED_RETRIES:
                    raise self._failure(exc) from exc
                log.warning("store writer: database busy (%s), retrying the batch", exc)
                time.sleep(0.5 * (attempt + 1))

    def _commit_groups(self, groups: dict[str, list[tuple[Any, ...]]]) -> None:
        conn = self._conn
        started = time.perf_counter()
        written: dict[str, int] = {}
        self._current_table = ""
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, rows in groups.items():
                self._current_table = table
                cursor = conn.executemany(INSERTS[table], rows)
                written[table] = cursor.rowcount
            self._current_table = ""
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back itself (SQLITE_FULL can); a failing ROLLBACK
            # must not hide the error that matters.
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as exc:
                    log.error("store writer: rollback failed on %s: %s", self.path, exc)
            raise
        elapsed = time.perf_counter() - started
        with self._lock:
            s = self._stats
            for table, count in written.items():
                s.rows_written[table] += count
                s.rows_ignored[table] += len(groups[table]) - count
            s.commits += 1
            s.commit_seconds_total += elapsed
            s.commit_seconds_last = elapsed
            s.commit_seconds_max = max(s.commit_seconds_max, elapsed)
            self._commit_times.append(time.monotonic())

    def _failure(self, exc: sqlite3.Error | OSError) -> StoreWriterError:
        table = self._current_table or "(commit)"
        log.error("store writer failed writing %s to %s: %s", table, self.path, exc)
        return StoreWriterError(f"{self.path}: writing {table} failed: {exc}")


def database_path(data_dir: str | Path, config: StoreConfig) -> Path:
    """The database file: ``config.path``, relative to ``data_dir`` unless absolute."""
    path = Path(config.path)
    return path if path.is_absolute() else Path(data_dir) / path
