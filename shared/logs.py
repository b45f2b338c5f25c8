"""Logging: one line per event, to stderr and to a rotating file.

One line per event keeps ``grep``, ``tail -f`` and log shippers honest: a traceback
or a multi-line message is escaped (``\\n``) onto its event's line instead of
spilling lines that belong to no event. Timestamps are UTC, ISO 8601, so lines from
a fleet of agents and the hub sort together.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from pathlib import Path

from shared.config.logging import LoggingConfig
from shared.dbfiles import ensure_folder
from shared.errors import OperationalError

LINE_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

QUIET_LOGGERS = {"apscheduler": logging.WARNING}
"""Third-party loggers kept above INFO: APScheduler logs every job it adds ("Adding job
tentatively -- it will be properly scheduled when the scheduler starts") and every run
at INFO, one line a minute of noise; the news jobs log their own outcomes."""

# Marks the handlers setup_logging installed, so a second call replaces them and
# leaves anyone else's (a test runner's, say) alone.
_OURS = "_tickerml_handler"


class OneLineFormatter(logging.Formatter):
    """Keeps each event on one line: newlines in messages and tracebacks are escaped."""

    def __init__(self) -> None:
        super().__init__(LINE_FORMAT, DATE_FORMAT)
        self.converter = _utc

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


class _RotatingFile(logging.handlers.RotatingFileHandler):
    """The stdlib handler, except that ``backups=0`` still bounds the file.

    With no backups the stdlib keeps appending past ``maxBytes``: on a Pi's SD card
    that is a log that grows until the disk is full. Here it starts the file afresh.
    """

    _error_said = float("-inf")
    """When the last write error was said on stderr (monotonic)."""

    def doRollover(self) -> None:
        if self.backupCount > 0:
            super().doRollover()
            return
        if self.stream:
            self.stream.close()
        self.stream = open(self.baseFilename, "w", encoding=self.encoding)  # noqa: SIM115

    def handleError(self, record: logging.LogRecord) -> None:
        """A file that cannot be written (a full disk) is said on stderr once a minute,
        in one line: the stdlib prints a whole traceback for every record, a flood on
        the journal while the stderr handler has every line anyway."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        now = time.monotonic()
        if now - self._error_said < 60.0:
            return
        self._error_said = now
        wall = time.time()
        stamp = f"{time.strftime(DATE_FORMAT, time.gmtime(wall))}.{int(wall % 1 * 1000):03d}Z"
        sys.stderr.write(
            f"{stamp} WARNING shared.logs {one_line(self.baseFilename)}: cannot write the "
            f"log file ({error.strerror or error}): its lines are on stderr only until it "
            "can\n"
        )


def _utc(seconds: float | None) -> time.struct_time:
    return time.gmtime(seconds)


def one_line(text: str) -> str:
    """``text`` with backslashes, CR and LF escaped, so it is one unambiguous line."""
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def log_file_path(config: LoggingConfig, data_dir: Path | None = None) -> Path | None:
    """Where the log file goes: ``config.file``, relative to ``data_dir`` unless absolute."""
    if not config.file:
        return None
    path = Path(config.file)
    if not path.is_absolute() and data_dir is not None:
        path = data_dir / path
    return path


def setup_logging(config: LoggingConfig, data_dir: Path | None = None) -> Path | None:
    """Configure the root logger; returns the log file's path, if any.

    Calling it again replaces the handlers it installed before (not anyone else's).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(config.level)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    formatter = OneLineFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    log_path = log_file_path(config, data_dir)
    if log_path is not None:
        ensure_folder(log_path.parent, "logging.file (or data_dir)")
        try:
            file_handler = _RotatingFile(
                log_path, maxBytes=config.max_bytes, backupCount=config.backups, encoding="utf-8"
            )
        except OSError as exc:
            raise OperationalError(
                f"{log_path}: cannot write the log file ({exc.strerror or exc}): make its "
                "folder writable, or set logging.file (null: stderr only)"
            ) from None
        handlers.append(file_handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    return log_path
