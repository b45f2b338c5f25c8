"""Logging: one line per event, to stderr and to a rotating file."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from shared.config.logging import LoggingConfig

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class OneLineFormatter(logging.Formatter):
    """Keeps each event on one line: newlines in messages and tracebacks are escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\\n")


def setup_logging(config: LoggingConfig, data_dir: Path | None = None) -> Path | None:
    """Configure the root logger; returns the log file's path, if any."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(config.level)
    formatter = OneLineFormatter(LINE_FORMAT)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    log_path: Path | None = None
    if config.file:
        log_path = Path(config.file)
        if not log_path.is_absolute() and data_dir is not None:
            log_path = data_dir / log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            log_path, maxBytes=config.max_bytes, backupCount=config.backups, encoding="utf-8"
        )
        rotating.setFormatter(formatter)
        root.addHandler(rotating)
    return log_path
