"""The paper-trading vocabulary: what strategies ask for, what the broker keeps
and what it reports.

Everything is exact ``Decimal`` in the instrument's own units (price in quote
currency, quantity in base currency). Times are integer nanoseconds from the
injected clock. Nothing here can reach an exchange: these are paper orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Literal

Side = Literal["buy", "sell"]


class OrderType(StrEnum):
    """What kind of order a strategy asks for."""

    MARKET = "market"
    """Walks the book at arrival, level by level, taker fee."""
    LIMIT = "limit"
    """Rests at ``price`` with a queue position; marketable part takes liquidity."""
    STOP_MARKET = "stop_market"
    """Stop-loss: becomes a market order when the last trade crosses ``stop_price``."""
    TAKE_PROFIT = "take_profit"
    """A resting limit at the target price, usually the other leg of an OCO bracket."""


class TimeInForce(StrEnum):
    GTC = "gtc"
    """Good till cancelled."""
    IOC = "ioc"
    """Immediate or cancel: whatever does not fill on arrival is cancelled."""


class OrderStatus(StrEnum):
    PENDING = "pending"
    """Accepted by risk, travelling to the (paper) exchange: the latency model."""
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    TRIGGERED = "triggered"
    """A stop whose trigger fired; its market child does the filling."""


TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules of one market, from ccxt's metadata or the config."""

    exchange: str
    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    min_notional: Decimal = Decimal(0)
    min_qty: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")

    @property
    def base(self) -> str:
        return self.symbol.partition("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.partition("/")[2]


@dataclass(frozen=True, slots=True)
class Bracket:
    """Exit legs attached to an entry: placed as an OCO once the entry fills."""

    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy asks for. The risk manager sizes, checks and rounds it.

    ``qty`` is in base units; ``None`` lets the risk manager size the position
    from ``stop_price``/``bracket.stop_loss`` (fixed fraction of equity at risk)
    scaled by ``size_fraction`` (0-1, e.g. the model's position-size output).
    """

    strategy: str
    exchange: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    size_fraction: Decimal = Decimal(1)
    bracket: Bracket | None = None
    tag: str = ""
    """Free text kept with the order (the strategy's reason)."""


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """A strategy asking to cancel one of its own open orders."""

    strategy: str
    order_id: int


@dataclass(slots=True)
class Order:
    """A paper order as the broker keeps it."""

    id: int
    strategy: str
    exchange: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    tif: TimeInForce
    post_only: bool
    created_ns: int
    arrive_ns: int
    """When the order reaches the (paper) exchange: created + latency."""
    status: OrderStatus = OrderStatus.PENDING
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    queue_ahead: Decimal = Decimal(0)
    """Size ahead of this resting limit at its price (base units)."""
    parent_id: int | None = None
    oco_id: int | None = None
    """The other leg of an OCO pair: when this one fills, that one is cancelled."""
    bracket: Bracket | None = None
    tag: str = ""
    reason: str = ""
    """Why it was rejected, cancelled or expired."""
    updated_ns: int = 0

    def __copy__(self) -> Order:
        # The broker reports every order change as a copy; ``copy.copy``'s generic
        # path (``__reduce_ex__``) costs several times this, once per order event.
        new = _new_order(Order)
        new.id = self.id
        new.strategy = self.strategy
        new.exchange = self.exchange
        new.symbol = self.symbol
        new.side = self.side
        new.type = self.type
        new.qty = self.qty
        new.price = self.price
        new.stop_price = self.stop_price
        new.tif = self.tif
        new.post_only = self.post_only
        new.created_ns = self.created_ns
        new.arrive_ns = self.arrive_ns
        new.status = self.status
        new.filled_qty = self.filled_qty
        new.avg_price = self.avg_price
        new.fees = self.fees
        new.queue_ahead = self.queue_ahead
        new.parent_id = self.parent_id
        new.oco_id = self.oco_id
        new.bracket = self.bracket
        new.tag = self.tag
        new.reason = self.reason
        new.updated_ns = self.updated_ns
        return new

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        status = self.status
        # Identity first: ``in TERMINAL`` hashes the member, a Python-level call per check.
        if status is _PENDING or status is _OPEN or status is _PARTIAL:
            return True
        return status not in TERMINAL and status is not OrderStatus.TRIGGERED


_new_order = object.__new__
_PENDING, _OPEN, _PARTIAL = OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of a paper order."""

    order_id: int
    strategy: str
    exchange: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    """In quote currency."""
    liquidity: Liquidity
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """An intent or order refused, with the rule that refused it."""

    strategy: str
    exchange: str
    symbol: str
    reason: str
    """A short code: ``nan_qty``, ``below_min_notional``, ``stale_book``, ..."""
    detail: str
    ts_ns: int
    order_id: int | None = None


@dataclass(slots=True)
class OrderUpdate:
    """What changed at the broker in one step: the engine hands it to the ledger."""

    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.rejections)


NO_UPDATE = OrderUpdate()
"""What a market event that changed no order returns: one shared, empty update.

Most book events and prints touch no paper order; a fresh update (three lists)
for each would be a good part of what the broker costs them, and the engine
tells this one apart by identity. Never add to it.
"""
