"""Historical data config (edge): ccxt metadata cache, OHLCV backfill, file import."""

from __future__ import annotations

from pydantic import Field

from shared.config.base import ConfigModel


class HistoryConfig(ConfigModel):
    """ccxt market metadata, REST backfill of 1-minute candles and file import."""

    metadata_cache: str = Field(
        "markets", description="Folder of cached ccxt market metadata, relative to data_dir."
    )
    metadata_max_age_hours: float = Field(
        24, gt=0, description="Refresh cached market metadata older than this (hours)."
    )
    rest_timeout_s: float = Field(
        15.0, gt=0, description="Timeout of one ccxt REST request (seconds)."
    )
    rest_base_urls: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Per exchange name, a base URL (scheme://host:port[/path]) that replaces the "
            "host of every ccxt REST endpoint, its path put before the endpoint's: a local "
            "server that speaks the exchange's API, e.g. the simulator's "
            "http://127.0.0.1:8765/binance."
        ),
    )
    backfill_default_days: float = Field(
        7, gt=0, description="How far back a backfill starts when no --since is given (days)."
    )
    backfill_page_limit: int = Field(
        1000, gt=0, le=5000, description="Candles asked for in one fetch_ohlcv request."
    )
    backfill_retries: int = Field(
        3, ge=0, le=20, description="Retries of one failed page before the backfill stops."
    )
    backfill_retry_initial_s: float = Field(
        1.0, gt=0, description="First retry delay after a failed page (seconds)."
    )
    backfill_retry_max_s: float = Field(
        30.0, gt=0, description="Largest retry delay after a failed page (seconds)."
    )
    import_batch_rows: int = Field(
        10_000, gt=0,
        description="Rows written per transaction by `tickerml data import` (a backfill "
        "commits each fetched page).",
    )
