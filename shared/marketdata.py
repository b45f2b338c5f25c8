"""Normalized market-data records, produced at the feed boundary.

These are in-process records on the hot path (tens of thousands a second on a
Pi), so they are slotted frozen dataclasses rather than pydantic models; what
crosses a wire is validated by the pydantic schemas of the sync issue.
Prices and sizes are exact ``Decimal``; the exchange's timestamp and the local
receive timestamp are kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

TakerSide = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade print. ``side`` is the taker's side."""

    exchange: str
    symbol: str
    trade_id: str
    price: Decimal
    size: Decimal
    side: TakerSide
    ts_exchange_ns: int
    ts_recv_ns: int


class FeedEventKind(StrEnum):
    """Things that happen to a feed or a book that an operator wants counted."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECT = "reconnect"
    SUBSCRIBED = "subscribed"
    SNAPSHOT = "snapshot"
    GAP = "gap"
    RESYNC = "resync"
    CHECKSUM_FAILED = "checksum_failed"
    CROSSED = "crossed"
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    REJECTED = "rejected"
    STALE_SNAPSHOT = "stale_snapshot"
    SILENT = "silent"
    ERROR = "error"
    STORE_FULL = "store_full"
    """The agent's disk filled: from ``ts_ns`` nothing could be committed (exchange ``*``)."""
    STORE_RECOVERED = "store_recovered"
    """Storing again after a full disk; ``detail`` counts the rows dropped meanwhile."""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A feed-level event; ``symbol`` is empty for connection-wide events."""

    exchange: str
    symbol: str
    kind: FeedEventKind
    detail: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Candle:
    """A 1-minute OHLCV bar; ``open_time_ms`` is the minute's start (UTC, ms)."""

    exchange: str
    symbol: str
    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
