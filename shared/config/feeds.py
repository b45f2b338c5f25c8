"""Exchange feed config (edge)."""

from __future__ import annotations

from pydantic import Field, field_validator

from shared.config.base import ConfigModel


class ExchangeConfig(ConfigModel):
    """One exchange to collect from."""

    name: str = Field(
        description="Feed name: binanceus, binance, coinbase, kraken or kucoin."
    )
    symbols: list[str] = Field(
        min_length=1, description="Unified symbols, BASE/QUOTE (e.g. BTC/USDT)."
    )
    depth: int = Field(
        1000, gt=0, le=5000,
        description="Book depth to subscribe to and keep (levels a side); a feed keeps at "
        "most what its exchange lets it keep exact (KuCoin 100, Kraken 1000: check-config "
        "warns).",
    )
    ws_url: str | None = Field(
        None, description="WebSocket URL override (the simulator's, or a regional endpoint)."
    )
    rest_url: str | None = Field(
        None, description="REST base URL override for depth snapshots and tokens."
    )
    trades: bool = Field(True, description="Also collect trade prints.")
    silent_after_s: float = Field(
        30.0, gt=0, description="A socket silent this long is treated as dead and reconnected."
    )
    max_message_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="Largest WebSocket message accepted (bytes); a deep book snapshot can be "
        "several MB, and the limit keeps a broken peer from filling a Pi's memory.",
    )

    @field_validator("symbols")
    @classmethod
    def _unified(cls, symbols: list[str]) -> list[str]:
        for symbol in symbols:
            base, sep, quote = symbol.partition("/")
            if not (sep and base and quote) or symbol != symbol.upper():
                raise ValueError(f"{symbol!r} is not a unified symbol like BTC/USDT")
        if len(set(symbols)) != len(symbols):
            raise ValueError("symbols are listed twice")
        return symbols


class BackoffConfig(ConfigModel):
    """Reconnect backoff: capped exponential with full jitter."""

    initial_s: float = Field(0.5, gt=0, description="First reconnect delay (seconds).")
    max_s: float = Field(30.0, gt=0, description="Largest reconnect delay (seconds).")
