"""Logging config (both roles)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.config.base import ConfigModel


class LoggingConfig(ConfigModel):
    """Where log lines go: one line per event, to stderr and a rotating file."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level written, to stderr and to the file."
    )
    file: str | None = Field(
        "logs/tickerml.log",
        description="Rotating log file, relative to data_dir unless absolute; null: stderr only.",
    )
    max_bytes: int = Field(
        5_000_000, gt=0, description="Rotate the log file when it reaches this size (bytes)."
    )
    backups: int = Field(3, ge=0, description="Rotated log files kept.")
