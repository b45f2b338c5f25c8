"""Market simulator config (edge, offline default)."""

from __future__ import annotations

from pydantic import Field

from shared.config.base import ConfigModel


class SimulatorConfig(ConfigModel):
    """The loopback market simulator that speaks exchanges' wire protocols."""

    host: str = Field("127.0.0.1", description="Address the simulator listens on (loopback).")
    port: int = Field(8765, ge=0, le=65535, description="TCP port (0: any free port).")
    seed: int = Field(7, description="Random seed: the same seed gives the same market.")
    symbols: list[str] = Field(
        default_factory=lambda: ["BTC/USDT", "ETH/USDT"],
        description="Unified symbols the simulator makes markets in.",
    )
