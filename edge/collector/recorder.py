"""Every raw message of the agent's sockets, to the store and/or capture files."""

from __future__ import annotations

from pathlib import Path

from edge.capture import CaptureWriter, RecordKind
from edge.store.writer import StoreWriter


class RawRecorder:
    """Every raw message, sent or received, to the store and/or capture files.

    The capture files use TickerML's capture format, one file per exchange, so
    ``tickerml edge replay`` can play a collection session back bit for bit.
    """

    def __init__(
        self, writer: StoreWriter | None, capture_path: Path | None, exchanges: list[str]
    ) -> None:
        self.writer = writer
        self.files: dict[str, CaptureWriter] = {}
        if capture_path is not None:
            for exchange in dict.fromkeys(exchanges):
                self.files[exchange] = CaptureWriter(
                    capture_file(capture_path, exchange, len(set(exchanges))), exchange
                )

    @property
    def enabled(self) -> bool:
        return self.writer is not None or bool(self.files)

    def record(
        self, exchange: str, kind: RecordKind, url: str, ts_ns: int, data: str | bytes
    ) -> None:
        if self.writer is not None:
            self.writer.put_raw(exchange, kind, url, ts_ns, data)
        capture = self.files.get(exchange)
        if capture is not None:
            capture.write(kind, ts_ns, url, data)

    def close(self) -> None:
        for capture in self.files.values():
            capture.close()


def capture_file(path: Path, exchange: str, exchanges: int) -> Path:
    """``path`` itself for one exchange, else ``name.<exchange>.ext`` for each."""
    if exchanges <= 1:
        return path
    name = path.name
    stem, dot, rest = name.partition(".")
    return path.with_name(f"{stem}.{exchange}{dot}{rest}")
