"""Historical data config (edge): ccxt metadata cache and OHLCV backfill."""

from __future__ import annotations

from pydantic import Field

from shared.config.base import ConfigModel


class HistoryConfig(ConfigModel):
    """ccxt market metadata and REST backfill of 1-minute candles."""

    metadata_cache: str = Field(
        "markets", description="Folder of cached ccxt market metadata, relative to data_dir."
    )
    metadata_max_age_hours: float = Field(
        24, gt=0, description="Refresh cached market metadata older than this (hours)."
    )
