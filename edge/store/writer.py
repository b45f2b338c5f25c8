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
cannot eat the Pi's memory (:mod:`edge.store.queue`); a producer that finds it
full waits briefly, then the row is dropped and counted (and logged): the event
loop must not freeze for longer than that, or every socket would time out too.

A failure inside the writer is logged with the table it was writing, recorded,
and raised to the next caller of ``put_*``, :meth:`StoreWriter.flush` or
:meth:`StoreWriter.close`: rows are never dropped silently.

A full disk is not such a failure (a :class:`~edge.store.errors.StoreFullError`):
the rows wait in memory and the writer retries with backoff, evicting the oldest
market data beyond the bound. The first commit that succeeds again ends the spell
and the next one stores its record (:mod:`edge.store.full_disk`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from edge.store.commit import BatchCommitter
from edge.store.db import check_contract, open_store
from edge.store.errors import StoreFullError, StoreWriterError
from edge.store.full_disk import MARKET_DATA_TABLES, FullDisk, FullDiskSpell
from edge.store.inserts import INSERTS
from edge.store.queue import GROUP, ROW_OVERHEAD_BYTES, Entry, WriteQueue
from edge.store.writer_stats import WriterStats
from shared.book import OrderBook
from shared.clock import Clock, LiveClock
from shared.config.store import StoreConfig
from shared.errors import OperationalError
from shared.marketdata import Candle, FeedEvent, Trade

log = logging.getLogger(__name__)

_RATE_WINDOW_S = 60.0
_DROP_LOG_S = 10.0
_CLOSING_RETRY_S = 0.5
"""While closing on a full disk: the longest wait between the last tries."""

__all__ = ["StoreWriter"]


def decimal_text(value: Decimal) -> str:
    """A ``Decimal`` as plain fixed-point text (never ``1E-8``): the stored form."""
    return format(value, "f")


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
        self._queue = WriteQueue(config.queue_max_rows, config.queue_max_bytes)
        self._committer = BatchCommitter(self._conn, self.path)
        self._enqueued = 0
        self._done = 0
        self._flush_target = 0
        self._closing = False
        self._closed = False
        self._error: StoreWriterError | None = None
        self._stats = WriterStats(
            rows_written=dict.fromkeys(INSERTS, 0), rows_ignored=dict.fromkeys(INSERTS, 0)
        )
        self._started = time.monotonic()
        self._commit_times: deque[float] = deque(maxlen=4096)
        self._last_drop_log = 0.0
        self._full_disk = FullDisk(config.disk_full_backoff, self.clock)
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
            if self._queue.full(cost):
                if self._full_disk.spell is None:
                    self._wait_for_room(cost)
                # On a full disk nothing frees room but eviction: the oldest market data
                # goes for this row, and any other row is kept beyond the bound.
                if self._queue.full(cost) and not (
                    self._full_disk.spell is not None
                    and (table not in MARKET_DATA_TABLES or self._evict_oldest(cost))
                ):
                    self._drop(table)
                    return
            self._queue.append((table, row, cost))
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
                if not self._queue.full(cost):
                    break
                if self._full_disk.spell is not None:
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
            self._queue.append((GROUP, tuple(rows), cost))
            self._enqueued += 1
            queued = len(self._queue)
            if queued == 1 or queued >= self.commit_max_rows:
                self._wake.notify()

    def _wait_for_room(self, cost: int) -> bool:
        """Called with the lock held; True once there is room, False after the timeout
        (or as soon as the disk is found full: then no room comes by waiting)."""
        self._stats.backpressure_waits += 1
        self._wake.notify()
        deadline = time.monotonic() + self.put_timeout_s
        while self._queue.full(cost):
            left = deadline - time.monotonic()
            if left <= 0 or self._error is not None or self._closing:
                return False
            if self._full_disk.spell is not None:
                return False
            self._room.wait(left)
        return True

    def _count_drop(self, table: str, rows: int = 1) -> None:
        """Called with the lock held."""
        s = self._stats
        s.dropped_rows += rows
        s.dropped_by_table[table] = s.dropped_by_table.get(table, 0) + rows
        if self._full_disk.spell is not None:
            self._full_disk.spell.count_drop(table, rows)

    def _drop(self, table: str) -> None:
        """Give up one new row (lock held): counted, and said in the log now and then."""
        self._count_drop(table)
        now = time.monotonic()
        if now - self._last_drop_log < _DROP_LOG_S:
            return
        self._last_drop_log = now
        spell = self._full_disk.spell
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
                len(self._queue), self._queue.queued_bytes, table, self._stats.dropped_rows,
            )

    def _evict_oldest(self, cost: int) -> bool:
        """On a full disk (lock held): drop the oldest market-data rows until ``cost``
        more fits (:meth:`WriteQueue.evict_oldest`), counted and said in the log now and
        then; True when it fits."""
        evicted = self._queue.evict_oldest(cost)
        if evicted:
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
                    sum(self._stats.dropped_by_table.values()) if self._full_disk.spell is None
                    else self._full_disk.spell.total_dropped,
                )
        return not self._queue.full(cost)

    # -- control ------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Commit everything queued before this call; raises if the writer failed."""
        with self._lock:
            target = self._enqueued
            self._flush_target = max(self._flush_target, target)
            self._wake.notify()
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._done < target and self._error is None and self._thread.is_alive():
                if self._full_disk.spell is not None:
                    raise self._full_disk.spell.error(self.path, self._queue.pending_rows)
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
            spell = self._full_disk.spell
            return WriterStats(
                rows_written=dict(s.rows_written),
                rows_ignored=dict(s.rows_ignored),
                commits=s.commits,
                commit_seconds_total=s.commit_seconds_total,
                commit_seconds_max=s.commit_seconds_max,
                commit_seconds_last=s.commit_seconds_last,
                commits_per_s=recent / window,
                pending_rows=self._queue.pending_rows,
                pending_bytes=self._queue.pending_bytes,
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
        spell = self._full_disk.spell
        return spell.since_ns if spell is not None else None

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
                batch = self._queue.take(limit)
                take = len(batch)
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
                self._queue.committed()
                if self._full_disk.spell is not None:
                    self._storing_again(self._full_disk.spell)
                self._done_cond.notify_all()
                self._room.notify_all()

    def _stop_with(self, exc: StoreWriterError) -> None:
        with self._lock:
            self._error = exc
            self._queue.clear()
            self._done_cond.notify_all()
            self._room.notify_all()

    def _keep_on_full_disk(self, batch: list[Entry], exc: StoreFullError) -> float | None:
        """The batch back at the head of the queue, the spell started or carried on;
        when to try again (monotonic), or None once a close has waited long enough."""
        with self._lock:
            self._queue.put_back(batch)
            self._stats.disk_full_retries += 1
            now = time.monotonic()
            spell, started = self._full_disk.commit_failed(
                exc, now, path=self.path, queued=len(self._queue), bound=self._queue.max_rows
            )
            if started:
                self._stats.disk_full_spells += 1
            if self._queue.full(0):
                # The batch put back may overshoot the bound: the oldest go.
                self._evict_oldest(0)
            # Flushes raise now, producers waiting for room stop waiting.
            self._done_cond.notify_all()
            self._room.notify_all()
            if not (self._closing and now >= self._close_deadline):
                return self._full_disk.next_retry(now)
            error = spell.given_up(self.path, *self._queue.unstored())
        log.error("%s", error)
        self._stop_with(error)
        return None

    def _storing_again(self, spell: FullDiskSpell) -> None:
        """The first commit after a full disk succeeded (lock held): end the spell and
        queue its record first in line (the next commit), counts as they are now."""
        rows = self._full_disk.storing_again(spell)
        cost = ROW_OVERHEAD_BYTES * len(rows)
        self._queue.appendleft((GROUP, tuple(rows), cost))
        self._enqueued += 1
        self._wake.notify()

    def _commit(self, batch: list[Entry]) -> None:
        done = self._committer.commit(batch)
        with self._lock:
            s = self._stats
            for table, count in done.written.items():
                s.rows_written[table] += count
                s.rows_ignored[table] += done.offered[table] - count
            s.commits += 1
            s.commit_seconds_total += done.seconds
            s.commit_seconds_last = done.seconds
            s.commit_seconds_max = max(s.commit_seconds_max, done.seconds)
            self._commit_times.append(time.monotonic())


def database_path(data_dir: str | Path, config: StoreConfig) -> Path:
    """The database file: ``config.path``, relative to ``data_dir`` unless absolute."""
    path = Path(config.path)
    return path if path.is_absolute() else Path(data_dir) / path
