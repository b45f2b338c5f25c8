"""REST backfill of 1-minute candles through ccxt ``fetch_ohlcv``.

The backfill pages forward from the last stored minute, so an interrupted run
(Ctrl-C, a dead network, a server error) resumes where it stopped and never
writes a minute twice. After the forward pass every minute of the asked range
that is still missing is a gap: gaps are re-fetched once, and what the exchange
still has no candle for is reported as an *exchange gap* (no trades that minute,
an outage, before the listing), not as an error. Rows go in as
``source='backfill'``; a minute already stored (live, import) is kept.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import ccxt

from edge.history.metadata import ccxt_error_text
from edge.history.numbers import MINUTE_MS, decimal_text, exact_decimal
from edge.history.writes import CandleRow, write_rows
from shared.backoff import Backoff
from shared.config.feeds import BackoffConfig
from shared.errors import OperationalError, TemporaryError

ProgressCallback = Callable[[int, int], None]
"""Called with (minutes stored in the range, minutes in the range) after each page."""


def iso_minute(ms: int) -> str:
    """A minute as ``YYYY-MM-DD HH:MM`` UTC, for messages."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing minutes ``[start_ms, end_ms)``."""

    start_ms: int
    end_ms: int

    @property
    def minutes(self) -> int:
        return (self.end_ms - self.start_ms) // MINUTE_MS

    def __str__(self) -> str:
        last = iso_minute(self.end_ms - MINUTE_MS)
        return f"{iso_minute(self.start_ms)} .. {last} ({self.minutes} min)"


@dataclass
class BackfillReport:
    """What one backfill did, for the operator and for tests."""

    exchange: str
    symbol: str
    since_ms: int
    until_ms: int
    resumed_from_ms: int
    rows_added: int = 0
    requests: int = 0
    retries: int = 0
    gaps_found: list[Gap] = field(default_factory=list)
    gap_rows_added: int = 0
    exchange_gaps: list[Gap] = field(default_factory=list)

    @property
    def exchange_gap_minutes(self) -> int:
        return sum(g.minutes for g in self.exchange_gaps)


def floor_minute(ms: int) -> int:
    """The start of the minute that contains ``ms``."""
    return ms - ms % MINUTE_MS


def missing_ranges(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ms: int, end_ms: int
) -> list[Gap]:
    """Minutes of ``[start_ms, end_ms)`` with no stored candle, as ranges."""
    gaps: list[Gap] = []
    expected = start_ms
    rows = conn.execute(
        "SELECT open_time_ms FROM candles_1m WHERE exchange = ? AND symbol = ? "
        "AND open_time_ms >= ? AND open_time_ms < ? ORDER BY open_time_ms",
        (exchange, symbol, start_ms, end_ms),
    )
    for (open_time_ms,) in rows:
        if open_time_ms > expected:
            gaps.append(Gap(expected, open_time_ms))
        expected = max(expected, open_time_ms + MINUTE_MS)
    if expected < end_ms:
        gaps.append(Gap(expected, end_ms))
    return gaps


def _stored_minutes(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ms: int, end_ms: int
) -> tuple[int, int | None]:
    count, last = conn.execute(
        "SELECT COUNT(*), MAX(open_time_ms) FROM candles_1m WHERE exchange = ? AND symbol = ? "
        "AND open_time_ms >= ? AND open_time_ms < ?",
        (exchange, symbol, start_ms, end_ms),
    ).fetchone()
    return int(count), last


class Backfiller:
    """Backfills one exchange's symbols into one database.

    ``exchange`` is a public ccxt instance (see
    :func:`edge.history.metadata.public_exchange`); ``sleep`` is injected so tests
    don't wait through retry delays.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        exchange: ccxt.Exchange,
        *,
        page_limit: int = 1000,
        retries: int = 3,
        backoff: BackoffConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn = conn
        self.exchange = exchange
        self.name = str(exchange.id)
        self.page_limit = page_limit
        self.retries = retries
        self.backoff_config = backoff or BackoffConfig(initial_s=1.0, max_s=30.0)
        self.sleep = sleep

    def _call(self, what: str, report: BackfillReport | None, fn: Callable[[], object]) -> object:
        """Run one REST call, retrying network failures with jittered backoff."""
        backoff = Backoff(self.backoff_config)
        while True:
            try:
                if report is not None:
                    report.requests += 1
                return fn()
            except ccxt.NetworkError as exc:
                if backoff.attempt >= self.retries:
                    raise TemporaryError(
                        f"{self.name}: {what} failed after {backoff.attempt + 1} tries: "
                        f"{ccxt_error_text(exc)}; "
                        "rows fetched so far are stored, run the backfill again to resume"
                    ) from exc
                if report is not None:
                    report.retries += 1
                self.sleep(backoff.next_delay())
            except ccxt.BaseError as exc:
                raise OperationalError(
                    f"{self.name}: {what} refused: {ccxt_error_text(exc)}"
                ) from exc

    def _check_symbol(self, symbol: str) -> None:
        markets = self._call("load_markets", None, self.exchange.load_markets)
        assert isinstance(markets, dict)
        if symbol not in markets:
            raise OperationalError(
                f"{self.name}: no market {symbol!r} on the exchange; check the symbol "
                "(unified form BASE/QUOTE, see `tickerml edge markets`)"
            )

    def _rows(
        self, symbol: str, raw: list[list[Any]], start_ms: int, end_ms: int
    ) -> list[CandleRow]:
        rows: list[CandleRow] = []
        for item in raw:
            ts = int(item[0])
            if ts < start_ms or ts >= end_ms or ts % MINUTE_MS:
                continue
            try:
                o, h, lo, c, v = (decimal_text(exact_decimal(x)) for x in item[1:6])
            except (ValueError, IndexError) as exc:
                raise OperationalError(
                    f"{self.name}: {symbol}: unusable candle at {iso_minute(ts)}: {item!r} ({exc})"
                ) from None
            # ccxt's OHLCV carries no trade count; 0 here means "not known".
            rows.append((self.name, symbol, ts, o, h, lo, c, v, 0, "backfill"))
        return rows

    def _fetch_range(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        report: BackfillReport,
        on_page: Callable[[int], None],
    ) -> int:
        """Page forward through ``[start_ms, end_ms)``; returns how far it got.

        An empty page ends the range: ccxt's ``since`` asks for candles *from*
        that minute on, so nothing back means nothing more before ``end_ms``.
        """
        cursor = start_ms
        while cursor < end_ms:
            raw = self._call(
                f"fetch_ohlcv {symbol} from {iso_minute(cursor)}",
                report,
                partial(
                    self.exchange.fetch_ohlcv, symbol, "1m", since=cursor,
                    limit=self.page_limit, params={"until": end_ms - 1},
                ),
            )
            assert isinstance(raw, list)
            rows = self._rows(symbol, raw, cursor, end_ms)
            if not rows:
                return end_ms
            rows.sort(key=lambda r: r[2])
            added = write_rows(self.conn, candles=rows)[0]
            on_page(added)
            cursor = rows[-1][2] + MINUTE_MS
        return cursor

    def run(
        self,
        symbol: str,
        since_ms: int,
        until_ms: int,
        *,
        progress: ProgressCallback | None = None,
    ) -> BackfillReport:
        """Backfill ``[since_ms, until_ms)`` (floored to minutes) for one symbol."""
        since, until = floor_minute(since_ms), floor_minute(until_ms)
        if since >= until:
            raise OperationalError(
                f"{self.name}: {symbol}: empty range {iso_minute(since)} .. {iso_minute(until)}"
            )
        self._check_symbol(symbol)
        stored, last = _stored_minutes(self.conn, self.name, symbol, since, until)
        resume = since if last is None else last + MINUTE_MS
        report = BackfillReport(self.name, symbol, since, until, resume)
        total = (until - since) // MINUTE_MS
        done = stored

        def on_page(added: int) -> None:
            nonlocal done
            done += added
            report.rows_added += added
            if progress is not None:
                progress(done, total)

        if progress is not None:
            progress(done, total)
        self._fetch_range(symbol, resume, until, report, on_page)
        report.gaps_found = missing_ranges(self.conn, self.name, symbol, since, until)
        before_gaps = report.rows_added
        covered = since
        for gap in report.gaps_found:
            if gap.end_ms <= covered:
                continue
            start = max(gap.start_ms, covered)
            # A small gap is asked for with a whole page's window, which often
            # covers the next few gaps too: one request instead of one per gap.
            window_end = min(until, max(gap.end_ms, start + self.page_limit * MINUTE_MS))
            covered = self._fetch_range(symbol, start, window_end, report, on_page)
        report.gap_rows_added = report.rows_added - before_gaps
        report.exchange_gaps = missing_ranges(self.conn, self.name, symbol, since, until)
        return report
