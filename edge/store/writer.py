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
from shared.book import OrderBook
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
    pending_bytes: int = 0
    backpressure_waits: int = 0
    """Times a producer found the queue full and had to wait."""
    dropped_rows: int = 0
    """Rows given up after waiting for room: the disk could not keep up."""
    failed: str | None = None

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
            "failed": self.failed,
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
    ) -> None:
        self.path = Path(path)
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
            if self._full(cost) and not self._wait_for_room(cost):
                self._stats.dropped_rows += 1
                now = time.monotonic()
                if now - self._last_drop_log >= 10.0:
                    self._last_drop_log = now
                    log.warning(
                        "store writer queue full (%d rows, %d bytes): dropped a %s row "
                        "(%d dropped so far); the disk is not keeping up",
                        len(self._queue), self._pending_bytes, table, self._stats.dropped_rows,
                    )
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
        return len(self._queue) >= self.queue_max_rows or (
            self._pending_bytes + cost > self.queue_max_bytes and bool(self._queue)
        )

    def _wait_for_room(self, cost: int) -> bool:
        """Called with the lock held; True once there is room, False after the timeout."""
        self._stats.backpressure_waits += 1
        self._wake.notify()
        deadline = time.monotonic() + self.put_timeout_s
        while self._full(cost):
            left = deadline - time.monotonic()
            if left <= 0 or self._error is not None or self._closing:
                return False
            self._room.wait(left)
        return True

    # -- control ------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Commit everything queued before this call; raises if the writer failed."""
        with self._lock:
            target = self._enqueued
            self._flush_target = max(self._flush_target, target)
            self._wake.notify()
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._done < target and self._error is None and self._thread.is_alive():
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
            return WriterStats(
                rows_written=dict(s.rows_written),
                rows_ignored=dict(s.rows_ignored),
                commits=s.commits,
                commit_seconds_total=s.commit_seconds_total,
                commit_seconds_max=s.commit_seconds_max,
                commit_seconds_last=s.commit_seconds_last,
                commits_per_s=recent / window,
                pending_rows=len(self._queue),
                pending_bytes=self._pending_bytes,
                backpressure_waits=s.backpressure_waits,
                dropped_rows=s.dropped_rows,
                failed=str(self._error) if self._error is not None else None,
            )

    @property
    def failed(self) -> StoreWriterError | None:
        """The error that stopped the writer, if any."""
        return self._error

    # -- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        last_commit = 0.0
        while True:
            with self._lock:
                while True:
                    queued = len(self._queue)
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
                take = min(len(self._queue), self.commit_max_rows)
                batch = [self._queue.popleft() for _ in range(take)]
                self._pending_bytes -= sum(cost for _, _, cost in batch)
                self._room.notify_all()
            try:
                self._commit(batch)
            except StoreWriterError as exc:
                with self._lock:
                    self._error = exc
                    self._queue.clear()
                    self._pending_bytes = 0
                    self._done_cond.notify_all()
                    self._room.notify_all()
                return
            last_commit = time.monotonic()
            with self._lock:
                self._done += take
                self._done_cond.notify_all()

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
            except sqlite3.OperationalError as exc:
                # Another connection (a prune, an import) held the write lock past
                # busy_timeout: the batch is intact, so wait and try it again.
                transient = "locked" in str(exc) or "busy" in str(exc)
                if not transient or attempt == _LOCKED_RETRIES:
                    raise self._failure(exc) from exc
                log.warning("store writer: database busy (%s), retrying the batch", exc)
                time.sleep(0.5 * (attempt + 1))
            except sqlite3.Error as exc:
                raise self._failure(exc) from exc

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
            if conn.in_transaction:
                conn.execute("ROLLBACK")
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

    def _failure(self, exc: sqlite3.Error) -> StoreWriterError:
        table = self._current_table or "(commit)"
        log.error("store writer failed writing %s to %s: %s", table, self.path, exc)
        return StoreWriterError(f"{self.path}: writing {table} failed: {exc}")


def database_path(data_dir: str | Path, config: StoreConfig) -> Path:
    """The database file: ``config.path``, relative to ``data_dir`` unless absolute."""
    path = Path(config.path)
    return path if path.is_absolute() else Path(data_dir) / path
