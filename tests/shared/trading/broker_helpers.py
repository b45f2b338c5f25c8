"""Hand-built markets for the paper-broker tests: a real OrderBook, real Trades."""

from __future__ import annotations

from decimal import Decimal

from shared.book import OrderBook
from shared.clock import ManualClock
from shared.config.trading import BrokerConfig
from shared.marketdata import Candle, Trade
from shared.trading.broker import PaperBroker
from shared.trading.types import (
    Bracket,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)

EX, SYM = "test", "BTC/USD"
MS = 1_000_000
LATENCY_MS = 50
INSTRUMENT = Instrument(
    EX, SYM, tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"),
    min_notional=Decimal("1"), min_qty=Decimal("0.0001"),
    maker_fee=Decimal("0.001"), taker_fee=Decimal("0.002"),
)


def D(text: str) -> Decimal:
    return Decimal(text)


def make_book(
    bids: list[tuple[str, str]] | None = None, asks: list[tuple[str, str]] | None = None
) -> OrderBook:
    """A book at 2 price and 4 size decimals; defaults 100.00/99.90/99.80 vs 100.10/.20/.30."""
    book = OrderBook(EX, SYM, price_decimals=2, size_decimals=4)
    if bids is None:
        bids = [("100.00", "1"), ("99.90", "2"), ("99.80", "3")]
    if asks is None:
        asks = [("100.10", "0.5"), ("100.20", "1"), ("100.30", "1.5")]
    book.load_snapshot(
        [(_pt(p), _st(s)) for p, s in bids], [(_pt(p), _st(s)) for p, s in asks]
    )
    return book


def _pt(price: str) -> int:
    return int(D(price).scaleb(2))


def _st(size: str) -> int:
    return int(D(size).scaleb(4))


def set_level(book: OrderBook, side: str, price: str, size: str) -> None:
    book.set("bid" if side == "bid" else "ask", _pt(price), _st(size))


def make_broker(
    *, latency_ms: float = LATENCY_MS, candle_mode: bool = False, first_order_id: int = 1,
    start_ns: int = 1_000 * MS,
) -> tuple[PaperBroker, ManualClock]:
    clock = ManualClock(start_ns)
    config = BrokerConfig(latency_ms=latency_ms, candle_slippage_bps=5.0)
    broker = PaperBroker(
        clock, {(EX, SYM): INSTRUMENT}, config, first_order_id=first_order_id,
        candle_mode=candle_mode,
    )
    return broker, clock


def order(
    side: Side,
    qty: str | Decimal,
    kind: OrderType = OrderType.MARKET,
    *,
    price: str | None = None,
    stop: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    post_only: bool = False,
    bracket: Bracket | None = None,
    strategy: str = "s1",
    symbol: str = SYM,
    oco_id: int | None = None,
) -> Order:
    """An order as the risk manager hands it over: id 0, PENDING, created now (0)."""
    return Order(
        id=0, strategy=strategy, exchange=EX, symbol=symbol, side=side, type=kind,
        qty=qty if isinstance(qty, Decimal) else D(qty),
        price=None if price is None else D(price),
        stop_price=None if stop is None else D(stop), tif=tif, post_only=post_only,
        created_ns=0, arrive_ns=0, status=OrderStatus.PENDING, bracket=bracket, oco_id=oco_id,
    )


def trade(price: str, size: str, side: Side = "sell", trade_id: str = "t") -> Trade:
    return Trade(EX, SYM, trade_id, D(price), D(size), side, 0, 0)


def candle(minute: int, o: str, h: str, low: str, c: str) -> Candle:
    return Candle(EX, SYM, minute * 60_000, D(o), D(h), D(low), D(c), D("10"), 5)


def arrive(broker: PaperBroker, clock: ManualClock, book: OrderBook) -> OrderUpdate:
    """Move past the latency and hand the broker the book (the arrival event)."""
    clock.advance_ns(LATENCY_MS * MS)
    return broker.on_book(book)


def last_state(update: OrderUpdate, order_id: int) -> Order:
    """The last reported state of one order in an update."""
    return [o for o in update.orders if o.id == order_id][-1]
