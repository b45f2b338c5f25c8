"""``tickerml data import``: trades and candles from files into the agent's database.

Trades become rows of ``trades`` and, through :class:`shared.candles.CandleBuilder`
(the same builder the live collector uses), 1-minute candles; candle files go
straight into ``candles_1m``, or, when their candles are 5 minutes, an hour, a
day... apart, into ``candles_tf`` under that timeframe (kept on the agent, not
synced: the hub resamples 1-minute candles instead). The interval is read off the
open times (:func:`detect_interval`) unless ``timeframe`` says it. Everything is
written with ``source='import'`` in batched ``INSERT OR IGNORE`` transactions, so
importing a file twice adds nothing and a minute the live collector already
stored is kept.

A trade is stored only when the file gives both its id and its taker side:
without an id a re-import could not recognise it (SQLite's UNIQUE lets NULLs
repeat), and the side column is never guessed. Such trades (Kraken's CSV has
neither) still build candles, and the report counts them.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge.history.formats import BadRow, CandleRecord, Kind, TradeRecord, open_records
from edge.history.numbers import MINUTE_MS, NS_PER_MS, decimal_text
from edge.history.writes import (
    CandleRow,
    TradeRow,
    candle_row,
    write_rows,
    write_timeframe_candles,
)
from shared.candles import CandleBuilder, timeframe_ms, timeframe_name
from shared.errors import OperationalError


class StrictStop(OperationalError):
    """``--strict`` met a bad row: the import stopped there (rows before it are stored)."""


MAX_PROBLEMS_KEPT = 20
ImportProgress = Callable[[Path, int, int], None]
"""Called with (file, bytes read, file size) as a file is imported."""


@dataclass
class FileReport:
    """What importing one file did."""

    path: Path
    format: str
    kind: Kind
    timeframe: str = "1m"
    """Candle files: the interval of their candles (``candles_tf`` unless 1m)."""
    rows_read: int = 0
    trades_added: int = 0
    trades_not_stored: int = 0
    candles_added: int = 0
    bad_rows: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What one ``import_files`` call did; built candles span all its files."""

    exchange: str
    symbol: str
    files: list[FileReport] = field(default_factory=list)
    candles_built: int = 0
    built_candles_added: int = 0
    late_trades: int = 0

    @property
    def trades_added(self) -> int:
        return sum(f.trades_added for f in self.files)

    @property
    def candles_added(self) -> int:
        return sum(f.candles_added for f in self.files) + self.built_candles_added

    @property
    def bad_rows(self) -> int:
        return sum(f.bad_rows for f in self.files)


class _Batch:
    """Rows waiting for the next transaction."""

    def __init__(self) -> None:
        self.trades: list[TradeRow] = []
        self.candles: list[CandleRow] = []
        self.built: list[CandleRow] = []

    def __len__(self) -> int:
        return len(self.trades) + len(self.candles) + len(self.built)


MIN_STEPS = 3
"""Steps between open times needed to tell a file's interval; fewer read as 1m."""


def detect_interval(path: Path, rows: Sequence[CandleRow], stated_ms: int | None = None) -> int:
    """The interval of a file's candles (ms), from their open times, before any is written.

    Every step between candles is a multiple of the interval, so it is the steps'
    greatest common divisor: 1-minute files with holes (ccxt leaves out minutes
    without trades) still have steps whose divisor is one minute, and a 5-minute
    file missing a few candles still reads as 5 minutes. ``stated_ms`` (``--timeframe``)
    is taken when the steps allow it and refused, naming both, when they don't.
    """
    times = sorted({row[2] for row in rows})
    steps = [(b - a) // MINUTE_MS for a, b in itertools.pairwise(times)]
    minutes = math.gcd(*steps) if steps else 1
    if stated_ms is not None:
        if len(steps) >= 1 and (minutes * MINUTE_MS) % stated_ms:
            raise OperationalError(
                f"{path}: candles are {timeframe_name(minutes * MINUTE_MS)} apart, "
                f"not {timeframe_name(stated_ms)} (--timeframe)"
            )
        return stated_ms
    if len(steps) < MIN_STEPS:
        return MINUTE_MS
    return minutes * MINUTE_MS


class Importer:
    """Imports files for one exchange and symbol into one database."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        exchange: str,
        symbol: str,
        *,
        batch_rows: int = 10_000,
        strict: bool = False,
        progress: ImportProgress | None = None,
        timeframe: str | None = None,
    ) -> None:
        self.conn = conn
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe_ms = None if timeframe is None else timeframe_ms(timeframe)
        self.batch_rows = batch_rows
        self.strict = strict
        self.progress = progress
        # One builder for the whole call: consecutive files (a day each) then
        # share their boundary minute instead of each storing half of it.
        self.builder = CandleBuilder(exchange, symbol)
        self.report = ImportReport(exchange, symbol)

    def _flush(self, batch: _Batch, file_report: FileReport) -> None:
        candles = batch.candles
        if file_report.timeframe != "1m":
            file_report.candles_added += write_timeframe_candles(
                self.conn, file_report.timeframe, candles
            )
            candles = []
        candles_added, trades_added, built_added = write_rows(
            self.conn, candles=candles, trades=batch.trades, built_candles=batch.built
        )
        file_report.candles_added += candles_added
        file_report.trades_added += trades_added
        self.report.built_candles_added += built_added
        batch.trades.clear()
        batch.candles.clear()
        batch.built.clear()

    def _add_trade(self, record: TradeRecord, batch: _Batch, file_report: FileReport) -> None:
        if record.trade_id is None or record.side is None:
            file_report.trades_not_stored += 1
        else:
            price, size = decimal_text(record.price), decimal_text(record.size)
            # An imported trade has no local receive time; its exchange time
            # stands in so receive-latency features read zero, not years.
            batch.trades.append((
                self.exchange, self.symbol, record.trade_id, price, size, record.side,
                record.ts_ns, record.ts_ns, "import",
            ))
        for candle in self.builder.add_raw(record.ts_ns // NS_PER_MS, record.price, record.size):
            batch.built.append(candle_row(candle, "import"))
            self.report.candles_built += 1

    def import_file(self, path: Path, fmt: str = "auto") -> FileReport:
        """Import one file; bad rows are counted and the first few kept as messages."""
        path = Path(path)
        label, kind, records, bytes_read, close = open_records(path, fmt)
        file_report = FileReport(path, label, kind)
        size = path.stat().st_size
        batch = _Batch()
        checked = False
        interval_ms, phase = MINUTE_MS, 0
        try:
            for record in records:
                if (
                    checked and isinstance(record, CandleRecord)
                    and record.open_time_ms % interval_ms != phase
                ):
                    record = BadRow(
                        record.where, f"open time off the file's {file_report.timeframe} grid"
                    )
                if isinstance(record, BadRow):
                    file_report.bad_rows += 1
                    message = f"{record.where}: {record.message}"
                    if self.strict:
                        raise StrictStop(
                            f"{message} (stopped: --strict; rows before it are stored)"
                        )
                    if len(file_report.problems) < MAX_PROBLEMS_KEPT:
                        file_report.problems.append(message)
                    continue
                file_report.rows_read += 1
                if isinstance(record, CandleRecord):
                    batch.candles.append((
                        self.exchange, self.symbol, record.open_time_ms,
                        decimal_text(record.open), decimal_text(record.high),
                        decimal_text(record.low), decimal_text(record.close),
                        decimal_text(record.volume), record.trades, "import",
                    ))
                else:
                    self._add_trade(record, batch, file_report)
                if len(batch) >= self.batch_rows:
                    if not checked:
                        interval_ms, phase = self._interval(path, batch, file_report)
                        checked = True
                    self._flush(batch, file_report)
                    if self.progress is not None:
                        self.progress(path, bytes_read(), size)
            if not checked:
                self._interval(path, batch, file_report)
            self._flush(batch, file_report)
        finally:
            close()
        if self.progress is not None:
            self.progress(path, size, size)
        self.report.files.append(file_report)
        return file_report

    def _interval(self, path: Path, batch: _Batch, file_report: FileReport) -> tuple[int, int]:
        """(interval, phase) of a candle file's first batch, in ms; the interval is named
        in the report, and every later candle must open a whole number of them after
        the first one (a weekly candle opens on a Monday: not a multiple of a week)."""
        if not batch.candles:
            return MINUTE_MS, 0
        interval = detect_interval(path, batch.candles, self.timeframe_ms)
        file_report.timeframe = timeframe_name(interval)
        # Every step of the batch is a multiple of the interval: one phase for all.
        return interval, batch.candles[0][2] % interval

    def finish(self) -> ImportReport:
        """Close the last built candle and write it; returns the whole report."""
        last = [candle_row(c, "import") for c in self.builder.flush()]
        self.report.candles_built += len(last)
        self.report.built_candles_added += write_rows(self.conn, built_candles=last)[2]
        self.report.late_trades = self.builder.late_trades
        return self.report


def import_files(
    conn: sqlite3.Connection,
    paths: Sequence[Path],
    *,
    exchange: str,
    symbol: str,
    fmt: str = "auto",
    batch_rows: int = 10_000,
    strict: bool = False,
    progress: ImportProgress | None = None,
    timeframe: str | None = None,
) -> ImportReport:
    """Import files, in the order given, for one exchange and symbol.

    ``timeframe`` (``5m``, ``1h``...) states the interval of candle files; None
    reads it off their open times.
    """
    importer = Importer(
        conn, exchange, symbol, batch_rows=batch_rows, strict=strict, progress=progress,
        timeframe=timeframe,
    )
    for path in paths:
        importer.import_file(Path(path), fmt)
    return importer.finish()
