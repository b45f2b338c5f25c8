"""Recorded WebSocket and REST traffic: reading cryptofeed's capture format and
reading and writing TickerML's own.

cryptofeed (``sample_data/*.ws.N.0`` / ``*.http.N.0``), one line each::

    <url> <-> <unix_ts>                 connection opened
    <url> <- <unix_ts>: <json>          a message the client sent
    <unix_ts>: <json or text>           a message received
    <request url> -> <unix_ts>: <body>  a REST response (``.http`` files)

TickerML's own format is JSON lines: a header
``{"format": "tickerml-capture", "version": 1, "exchange": ...}`` then one
``{"t": recv_ns, "k": "open"|"sent"|"recv"|"http", "url": ..., "d": raw}`` per record.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, cast

import orjson

from shared.errors import MessageError

RecordKind = Literal["open", "sent", "recv", "http"]
CAPTURE_FORMAT = "tickerml-capture"
CAPTURE_VERSION = 1

CRYPTOFEED_EXCHANGES = {
    "BINANCE": "binance",
    "BINANCE_US": "binanceus",
    "COINBASE": "coinbase",
    "KRAKEN": "kraken",
    "KUCOIN": "kucoin",
}
"""cryptofeed file prefixes -> TickerML feed names (others are not supported feeds)."""

_OPEN = re.compile(r"^(\S+) <-> (\d+(?:\.\d+)?)$")
_SENT = re.compile(r"^(\S+) <- (\d+(?:\.\d+)?): (.*)$")
_HTTP = re.compile(r"^(\S+) -> (\d+(?:\.\d+)?): (.*)$")
_RECV = re.compile(r"^(\d+(?:\.\d+)?): (.*)$")


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One recorded event; ``ts_ns`` is the local receive (or send) time."""

    kind: RecordKind
    ts_ns: int
    url: str
    data: str


def _seconds_to_ns(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def cryptofeed_exchange(path: Path) -> str | None:
    """The feed name for a cryptofeed capture file name, or None if unsupported."""
    prefix = path.name.split(".")[0]
    return CRYPTOFEED_EXCHANGES.get(prefix)


def read_cryptofeed(path: Path) -> Iterator[CaptureRecord]:
    """Records of a cryptofeed capture file, in file order.

    A line that matches no record shape raises :class:`MessageError` naming the
    file and line number: a truncated or foreign file is not silently half-read.
    """
    url = ""
    with path.open("r", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            if m := _RECV.match(line):
                yield CaptureRecord("recv", _seconds_to_ns(m[1]), url, m[2])
            elif m := _SENT.match(line):
                url = m[1]
                yield CaptureRecord("sent", _seconds_to_ns(m[2]), m[1], m[3])
            elif m := _HTTP.match(line):
                yield CaptureRecord("http", _seconds_to_ns(m[2]), m[1], m[3])
            elif m := _OPEN.match(line):
                url = m[1]
                yield CaptureRecord("open", _seconds_to_ns(m[2]), m[1], "")
            else:
                raise MessageError(f"{path}:{lineno}: not a cryptofeed capture line: {line[:80]!r}")


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def is_tickerml_capture(path: Path) -> bool:
    """True if ``path`` starts with a TickerML capture header."""
    try:
        with _open_text(path) as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith("{") and CAPTURE_FORMAT in first


def read_tickerml(path: Path) -> tuple[str, Iterator[CaptureRecord]]:
    """(exchange, records) of a TickerML capture file."""
    handle = _open_text(path)
    header_line = handle.readline()
    try:
        header = orjson.loads(header_line)
    except orjson.JSONDecodeError as exc:
        handle.close()
        raise MessageError(f"{path}:1: bad capture header: {exc}") from exc
    if header.get("format") != CAPTURE_FORMAT or header.get("version") != CAPTURE_VERSION:
        handle.close()
        raise MessageError(
            f"{path}:1: expected format {CAPTURE_FORMAT!r} version {CAPTURE_VERSION}, "
            f"got {header.get('format')!r} version {header.get('version')!r}"
        )
    exchange = str(header["exchange"])

    def records() -> Iterator[CaptureRecord]:
        with handle:
            for lineno, line in enumerate(handle, 2):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                    yield CaptureRecord(row["k"], int(row["t"]), row.get("url", ""), row["d"])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise MessageError(f"{path}:{lineno}: bad capture record: {exc}") from exc

    return exchange, records()


class CaptureWriter:
    """Appends records to a TickerML capture file (gzip if the name ends in .gz)."""

    def __init__(self, path: Path, exchange: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Kept open across write() calls; close() (or the context manager) closes it.
        self._handle: IO[bytes] = (
            cast(IO[bytes], gzip.open(path, "wb"))  # noqa: SIM115
            if path.suffix == ".gz"
            else path.open("wb")
        )
        header = {"format": CAPTURE_FORMAT, "version": CAPTURE_VERSION, "exchange": exchange}
        self._handle.write(orjson.dumps(header) + b"\n")

    def write(self, kind: RecordKind, ts_ns: int, url: str, data: str | bytes) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        self._handle.write(orjson.dumps({"t": ts_ns, "k": kind, "url": url, "d": text}) + b"\n")

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
