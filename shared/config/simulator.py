"""Market simulator config (edge, offline default)."""

from __future__ import annotations

from pydantic import Field

from shared.config.base import ConfigModel


class SimulatorConfig(ConfigModel):
    """The loopback market simulator that speaks exchanges' wire protocols.

    One port serves every exchange by path: ``ws://HOST:PORT/binance`` (WebSocket
    base, the feed appends ``/stream?streams=...``), ``http://HOST:PORT/binance``
    (REST base, ``/api/v3/depth``) and ``ws://HOST:PORT/kraken/v2``.
    """

    host: str = Field("127.0.0.1", description="Address the simulator listens on (loopback).")
    port: int = Field(8765, ge=0, le=65535, description="TCP port (0: any free port).")
    seed: int = Field(7, description="Random seed: the same seed gives the same market.")
    symbols: list[str] = Field(
        default_factory=lambda: ["BTC/USDT", "ETH/USDT"],
        description="Unified symbols the simulator makes markets in.",
    )
    speed: float = Field(
        1.0,
        gt=0,
        le=1000,
        description="Simulated seconds per wall-clock second (10: a minute of market in 6 s).",
    )
    start_time_ms: int | None = Field(
        None,
        ge=0,
        description=(
            "Simulated time at start, Unix milliseconds; unset: the wall clock when the "
            "server starts (offline captures start at 2024-01-01T00:00:00Z)."
        ),
    )
    tick_ms: float = Field(
        20.0,
        gt=0,
        le=1000,
        description=(
            "How often (wall-clock ms) the server advances the market and sends what "
            "happened; the content does not depend on it, only the delivery latency."
        ),
    )
    heartbeat_s: float = Field(
        1.0, gt=0, description="Kraken heartbeat interval on subscribed sockets (seconds)."
    )
    max_queue: int = Field(
        100_000,
        gt=0,
        description="Messages buffered for one client before it is cut off as too slow.",
    )
