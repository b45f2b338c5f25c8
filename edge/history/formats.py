"""File layouts of historical trades and candles, and how to tell them apart.

Supported (``--format`` names):

- ``ohlcv-csv``: ``timestamp,open,high,low,close,volume`` (ccxt's OHLCV order),
  with or without a header; a header may name the time column ``open_time``
  (iaqf), ``timestamp`` (nautilus), ``date``... and may add a trade count.
- ``ohlcv-json``: ``[[ts_ms, o, h, l, c, v], ...]`` (ccxt ``fetch_ohlcv``, freqtrade).
- ``trades-csv``: ccxt's trade layout ``timestamp,id,type,side,price,amount,cost``
  (freqtrade's orderflow CSV adds an index and a date column), or any CSV whose
  header names time, price and size columns (nautilus' Binance trades).
- ``trades-json``: ``[[ts_ms, id, type, side, price, amount, cost], ...]``
  (freqtrade ``*-trades.json[.gz]``) or a list of ccxt trade dicts.
- ``binance-klines``: data.binance.vision klines (12 columns, ms or µs times).
- ``binance-trades`` / ``binance-aggtrades``: data.binance.vision trades and
  aggregate trades (the taker side comes from ``is_buyer_maker``; aggregate ids
  get an ``agg-`` prefix so they never collide with trade ids).
- ``kraken-trades``: Kraken's downloadable trade history ``timestamp_s,price,volume``.
- ``kraken-ohlcvt``: Kraken's ``timestamp_s,open,high,low,close,volume,trades``.

Any of them may be gzip-compressed. Times are read as seconds, ms, µs or ns by
magnitude, or as ISO-8601 (naive means UTC). A row that can't be read becomes a
:class:`BadRow` naming its line (CSV) or item (JSON); the importer counts them.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from edge.history.numbers import MINUTE_MS, NS_PER_MS, exact_decimal
from shared.errors import OperationalError
from shared.marketdata import TakerSide
from shared.times import NUMBER as _NUMBER
from shared.times import parse_time_ns, time_ns_from_number

Kind = Literal["trades", "candles"]


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One trade read from a file; ``trade_id`` or ``side`` is ``None`` when the file lacks it."""

    where: str
    ts_ns: int
    trade_id: str | None
    price: Decimal
    size: Decimal
    side: TakerSide | None


@dataclass(frozen=True, slots=True)
class CandleRecord:
    """One candle read from a file (1 minute or longer: the importer reads the file's
    interval off the open times); ``trades`` is 0 when the file has no count."""

    where: str
    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be read, and why."""

    where: str
    message: str


Record = TradeRecord | CandleRecord | BadRow


@dataclass(frozen=True, slots=True)
class TradeColumns:
    """Where a trade's fields sit in a CSV row."""

    time: int
    price: int
    size: int
    id: int | None = None
    side: int | None = None
    buyer_maker: int | None = None
    id_prefix: str = ""


@dataclass(frozen=True, slots=True)
class CandleColumns:
    """Where a candle's fields sit in a CSV row."""

    time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    trades: int | None = None


Columns = TradeColumns | CandleColumns

# Header-less layouts, by --format name.
POSITIONAL: dict[str, Columns] = {
    "ohlcv-csv": CandleColumns(0, 1, 2, 3, 4, 5),
    "binance-klines": CandleColumns(0, 1, 2, 3, 4, 5, trades=8),
    "kraken-ohlcvt": CandleColumns(0, 1, 2, 3, 4, 5, trades=6),
    "trades-csv": TradeColumns(time=0, id=1, side=3, price=4, size=5),
    "binance-trades": TradeColumns(time=4, id=0, price=1, size=2, buyer_maker=5),
    "binance-aggtrades": TradeColumns(
        time=5, id=0, price=1, size=2, buyer_maker=6, id_prefix="agg-"
    ),
    "kraken-trades": TradeColumns(time=0, price=1, size=2),
}
JSON_FORMATS: dict[str, Kind] = {"ohlcv-json": "candles", "trades-json": "trades"}
FORMAT_NAMES = ("auto", *POSITIONAL, *JSON_FORMATS)

_TIME_NAMES = ("timestamp", "open_time", "time", "transact_time", "date", "datetime", "ts")
_ID_NAMES = ("id", "trade_id", "tradeid", "agg_trade_id")
_SIZE_NAMES = ("amount", "qty", "quantity", "size", "volume", "base_volume")
_MAKER_NAMES = ("is_buyer_maker", "buyer_maker", "isbuyermaker")
_COUNT_NAMES = ("count", "trades", "trade_count", "number_of_trades")
_TRUE = {"true", "1", "t", "yes"}
_FALSE = {"false", "0", "f", "no"}
_SNIFF_CHARS = 4096


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from disk (progress of gzip files too)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_text(path: Path) -> tuple[IO[str], CountingReader]:
    """Open a plain or gzip file as text (BOM dropped), with its byte counter."""
    counter = CountingReader(path.open("rb"))
    buffered = io.BufferedReader(counter)
    binary: IO[bytes] = buffered
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        binary = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""), counter


def _is_bool(text: str) -> bool:
    return text.strip().lower() in ("true", "false")


def _is_data_cell(text: str) -> bool:
    s = text.strip()
    if not s:
        return False
    if _NUMBER.match(s) or _is_bool(s) or s.lower() in ("buy", "sell"):
        return True
    try:
        parse_time_ns(s)
    except ValueError:
        return False
    return True


def is_header(row: list[str]) -> bool:
    """A first row with no number, time or boolean in it is a header."""
    return not any(_is_data_cell(cell) for cell in row)


def detect_positional(row: list[str]) -> str:
    """The header-less layout a data row belongs to, from its width and contents."""
    n = len(row)
    cells = [c.strip().lower() for c in row]
    if n == 12:
        return "binance-klines"
    if n == 7 and cells[3] in ("buy", "sell"):
        return "trades-csv"
    if n in (6, 7) and _is_bool(cells[5]):
        return "binance-trades"  # spot has is_best_match too; futures stops at is_buyer_maker
    if n in (7, 8) and _is_bool(cells[6]):
        return "binance-aggtrades"
    if n == 7:
        return "kraken-ohlcvt"
    if n == 6:
        return "ohlcv-csv"
    if n == 3:
        return "kraken-trades"
    raise ValueError(f"no known layout has {n} columns")


def columns_from_header(header: list[str]) -> Columns:
    """Column positions named by a header row (case, spaces and BOM ignored)."""
    names = [h.strip().lower().replace(" ", "_") for h in header]

    def find(candidates: tuple[str, ...]) -> int | None:
        for name in candidates:
            if name in names:
                return names.index(name)
        return None

    time = find(_TIME_NAMES)
    if time is None:
        raise ValueError(f"no time column (one of: {', '.join(_TIME_NAMES)})")
    ohlc = [find((name,)) for name in ("open", "high", "low", "close")]
    if all(i is not None for i in ohlc):
        volume = find(("volume", "vol"))
        if volume is None:
            raise ValueError("candle header without a volume column")
        o, h, lo, c = (i for i in ohlc if i is not None)
        return CandleColumns(time, o, h, lo, c, volume, trades=find(_COUNT_NAMES))
    price, size = find(("price",)), find(_SIZE_NAMES)
    if price is None or size is None:
        raise ValueError(
            "neither a candle header (open/high/low/close) nor a trade header (price, amount)"
        )
    trade_id = find(_ID_NAMES)
    prefix = "agg-" if trade_id is not None and names[trade_id] == "agg_trade_id" else ""
    return TradeColumns(
        time=time, price=price, size=size, id=trade_id, side=find(("side", "taker_side")),
        buyer_maker=find(_MAKER_NAMES), id_prefix=prefix,
    )


def _side(text: str) -> TakerSide:
    s = text.strip().lower()
    if s in ("buy", "b"):
        return "buy"
    if s in ("sell", "s"):
        return "sell"
    raise ValueError(f"side must be buy or sell, got {text!r}")


def _side_from_buyer_maker(text: str) -> TakerSide:
    s = text.strip().lower()
    # The buyer resting on the book means the taker sold into it.
    if s in _TRUE:
        return "sell"
    if s in _FALSE:
        return "buy"
    raise ValueError(f"is_buyer_maker must be true or false, got {text!r}")


def _positive(value: Decimal, what: str) -> Decimal:
    if value <= 0:
        raise ValueError(f"{what} must be > 0, got {value}")
    return value


def make_trade(
    where: str, ts_ns: int, trade_id: object, price: object, size: object, side: TakerSide | None
) -> TradeRecord:
    """A checked :class:`TradeRecord` (price > 0, size >= 0); ``ValueError`` otherwise."""
    amount = exact_decimal(size)
    if amount < 0:
        raise ValueError(f"size must be >= 0, got {amount}")
    tid = None if trade_id is None or str(trade_id).strip() == "" else str(trade_id).strip()
    return TradeRecord(where, ts_ns, tid, _positive(exact_decimal(price), "price"), amount, side)


def make_candle(
    where: str, ts_ns: int, o: object, h: object, lo: object, c: object, v: object, trades: int
) -> CandleRecord:
    """A checked :class:`CandleRecord`: minute-aligned, low <= open/close <= high."""
    if ts_ns % (MINUTE_MS * NS_PER_MS):
        raise ValueError("open time is not on a minute boundary")
    op, hi, low, cl = (_positive(exact_decimal(x), name) for x, name in
                       ((o, "open"), (h, "high"), (lo, "low"), (c, "close")))
    volume = exact_decimal(v)
    if volume < 0:
        raise ValueError(f"volume must be >= 0, got {volume}")
    if not (low <= min(op, cl) and max(op, cl) <= hi):
        raise ValueError(f"inconsistent candle: low {low} high {hi} open {op} close {cl}")
    if trades < 0:
        raise ValueError(f"trade count must be >= 0, got {trades}")
    return CandleRecord(where, ts_ns // NS_PER_MS, op, hi, low, cl, volume, trades)


def _csv_record(cells: list[str], cols: Columns, where: str) -> Record:
    try:
        if isinstance(cols, CandleColumns):
            count = 0 if cols.trades is None else int(cells[cols.trades].strip() or 0)
            return make_candle(
                where, parse_time_ns(cells[cols.time]), cells[cols.open], cells[cols.high],
                cells[cols.low], cells[cols.close], cells[cols.volume], count,
            )
        side: TakerSide | None = None
        if cols.side is not None:
            side = _side(cells[cols.side])
        elif cols.buyer_maker is not None:
            side = _side_from_buyer_maker(cells[cols.buyer_maker])
        trade_id = None if cols.id is None else cols.id_prefix + cells[cols.id].strip()
        return make_trade(
            where, parse_time_ns(cells[cols.time]), trade_id, cells[cols.price],
            cells[cols.size], side,
        )
    except IndexError:
        return BadRow(where, f"{len(cells)} columns, too few for the layout")
    except ValueError as exc:
        return BadRow(where, str(exc))


def read_csv(text: IO[str], fmt: str, path: Path) -> tuple[str, Kind, Iterator[Record]]:
    """Detect (if ``fmt`` is auto) and read a CSV file: (format, kind, records)."""
    reader = csv.reader(text)
    first: list[str] | None = None
    for row in reader:
        if any(cell.strip() for cell in row):
            first = row
            break
    if first is None:
        raise OperationalError(f"{path}: empty file")
    line = reader.line_num
    header = is_header(first)
    try:
        if header:
            cols = columns_from_header(first)
        else:
            name = detect_positional(first) if fmt == "auto" else fmt
            if name not in POSITIONAL:
                raise ValueError(f"format {name} is not a CSV layout")
            cols = POSITIONAL[name]
    except ValueError as exc:
        raise OperationalError(f"{path}:{line}: unrecognised layout: {exc}") from None
    kind: Kind = "candles" if isinstance(cols, CandleColumns) else "trades"
    if header:
        name = ("ohlcv-csv" if kind == "candles" else "trades-csv") if fmt == "auto" else fmt
        wanted = JSON_FORMATS.get(name) or _kind(POSITIONAL[name])
        if wanted != kind:
            raise OperationalError(f"{path}:{line}: the header describes {kind}, not {name}")
    label = f"{name} (header)" if header else name

    def records() -> Iterator[Record]:
        if not header:
            yield _csv_record(first, cols, f"{path}:{line}")
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            yield _csv_record(row, cols, f"{path}:{reader.line_num}")

    return label, kind, records()


def _kind(cols: Columns) -> Kind:
    return "candles" if isinstance(cols, CandleColumns) else "trades"


def _json_item(item: Any, kind: Kind, where: str) -> Record:
    try:
        if kind == "candles":
            if not isinstance(item, list) or len(item) < 6:
                raise ValueError("expected [timestamp, open, high, low, close, volume]")
            ts = time_ns_from_number(exact_decimal(item[0]))
            o, h, lo, c, v = item[1:6]
            return make_candle(where, ts, o, h, lo, c, v, 0)
        if isinstance(item, dict):
            ts = time_ns_from_number(exact_decimal(item.get("timestamp")))
            side = _side(str(item.get("side")))
            price, amount = item.get("price"), item.get("amount")
            return make_trade(where, ts, item.get("id"), price, amount, side)
        if not isinstance(item, list) or len(item) < 6:
            raise ValueError("expected [timestamp, id, type, side, price, amount, cost]")
        ts = time_ns_from_number(exact_decimal(item[0]))
        return make_trade(where, ts, item[1], item[4], item[5], _side(str(item[3])))
    except ValueError as exc:
        return BadRow(where, str(exc))


def _json_kind(first: Any) -> Kind:
    if isinstance(first, dict) and "price" in first and "amount" in first:
        return "trades"
    if isinstance(first, list) and len(first) >= 6:
        if len(first) >= 7 and str(first[3]).lower() in ("buy", "sell"):
            return "trades"
        return "candles"
    raise ValueError("items are neither OHLCV rows nor trades")


def read_json(text: IO[str], fmt: str, path: Path) -> tuple[str, Kind, Iterator[Record]]:
    """Read a JSON list of candles or trades: (format, kind, records)."""
    try:
        data = orjson.loads(text.read())
    except orjson.JSONDecodeError as exc:
        raise OperationalError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise OperationalError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
    if fmt == "auto":
        try:
            kind = _json_kind(data[0]) if data else "candles"
        except ValueError as exc:
            raise OperationalError(f"{path}: item 1: unrecognised layout: {exc}") from None
        name = "ohlcv-json" if kind == "candles" else "trades-json"
    else:
        name, kind = fmt, JSON_FORMATS[fmt]
    items = (_json_item(item, kind, f"{path}: item {i}") for i, item in enumerate(data, 1))
    return name, kind, items


def _first_char(path: Path) -> str:
    """The first non-blank character of the (decompressed) file; '' when it is blank."""
    text, _ = open_text(path)
    with text:
        for _ in range(_SNIFF_CHARS):
            char = text.read(1)
            if not char or not char.isspace():
                return char
    return ""


def open_records(
    path: Path, fmt: str = "auto"
) -> tuple[str, Kind, Iterator[Record], Callable[[], int], Callable[[], None]]:
    """Open a file and read its records lazily.

    Returns (format label, kind, records, bytes read from disk so far, close).
    Raises ``OperationalError`` naming the file (and line) when it can't be read.
    """
    if fmt not in FORMAT_NAMES:
        raise OperationalError(
            f"{path}: unknown format {fmt!r} (one of: {', '.join(FORMAT_NAMES)})"
        )
    try:
        is_json = _first_char(path) in ("[", "{")
        text, counter = open_text(path)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise OperationalError(f"{path}: cannot read: {exc}") from None
    try:
        if fmt != "auto" and (fmt in JSON_FORMATS) != is_json:
            raise OperationalError(f"{path}: format {fmt} does not match the file's contents")
        reader = read_json if is_json else read_csv
        label, kind, records = reader(text, fmt, path)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        text.close()
        raise OperationalError(f"{path}: cannot read: {exc}") from None
    except BaseException:
        text.close()
        raise
    return label, kind, records, lambda: counter.bytes_read, text.close
