"""Each shipped strategy, on hand-built candles and books, does what a trader expects."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise
from typing import Any

from shared.book import OrderBook
from shared.clock import ManualClock
from shared.config.trading import BrokerConfig, RiskConfig
from shared.marketdata import Candle, Trade
from shared.trading.broker import PaperBroker
from shared.trading.engine import TradingEngine
from shared.trading.memory_ledger import MemoryLedger
from shared.trading.portfolio import Portfolio
from shared.trading.risk import RiskManager
from shared.trading.strategies import (
    FallbackStrategy,
    ImbalanceStrategy,
    MarketMakerStrategy,
    MeanReversionStrategy,
    ModelOutputs,
    ModelStrategy,
    TrendStrategy,
)
from shared.trading.strategy import Intent, StrategyContext
from shared.trading.types import (
    Bracket,
    CancelIntent,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

EX, SYM = "binance", "BTC/USDT"
KEY = (EX, SYM)
NS = 1_000_000_000
MS = 1_000_000
TICK = Decimal("0.01")
INSTRUMENTS = {KEY: Instrument(EX, SYM, tick_size=TICK, lot_size=Decimal("0.0001"))}


def candle(i: int, close: float, open_: float | None = None, spread: float = 0.5) -> Candle:
    c = Decimal(str(close))
    o = Decimal(str(open_ if open_ is not None else close))
    half = Decimal(str(spread))
    return Candle(EX, SYM, i * 60_000, o, max(o, c) + half, min(o, c) - half, c, Decimal(1), 1)


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], ts_ns: int = 0) -> OrderBook:
    b = OrderBook(EX, SYM, price_decimals=2, size_decimals=4)
    b.load_snapshot(
        [(int(Decimal(p) * 100), int(Decimal(s) * 10_000)) for p, s in bids],
        [(int(Decimal(p) * 100), int(Decimal(s) * 10_000)) for p, s in asks],
    )
    b.ts_recv_ns = ts_ns
    return b


def make(cls: Any, clock: ManualClock | None = None, features: Any = None, **params: Any) -> Any:
    clock = clock or ManualClock()
    books: dict[tuple[str, str], OrderBook] = {}
    kwargs: dict[str, Any] = {"books": books, "instruments": INSTRUMENTS}
    if features is not None:
        kwargs["features"] = features
    portfolio = Portfolio("s", Decimal(10_000))
    return cls(StrategyContext("s", EX, [SYM], clock, portfolio, **kwargs), params)


def hold(strategy: Any, qty: str, price: str = "100") -> None:
    """Give the strategy's portfolio a position, as a real fill would."""
    strategy.ctx.portfolio.apply(
        Fill(1, "s", EX, SYM, "buy", Decimal(price), Decimal(qty), Decimal(0),
             Liquidity.TAKER, 0)
    )  # fmt: skip


def orders_of(intents: list[Intent] | None) -> list[OrderIntent]:
    return [i for i in intents or [] if isinstance(i, OrderIntent)]


def feed(strategy: Any, closes: Sequence[float]) -> list[list[Intent]]:
    """Candles with the given closes; returns the intents per candle (empty lists too)."""
    out = []
    for i, close in enumerate(closes):
        out.append(strategy.on_candle(candle(i, close)) or [])
    return out


def ema(values: Sequence[float], n: int) -> list[float]:
    alpha = 2.0 / (n + 1)
    out = [float(values[0])]
    for x in values[1:]:
        out.append(alpha * x + (1.0 - alpha) * out[-1])
    return out


# -- trend --------------------------------------------------------------------------------

FALL_THEN_RISE: list[float] = [110, 108, 106, 104, 102, 100, 99, 98, 100, 103, 107, 112, 118]


def test_trend_buys_on_the_golden_cross_with_a_stop_k_atrs_below_the_close() -> None:
    strategy = make(TrendStrategy, fast_period=2, slow_period=4, atr_period=3, atr_stop_mult=2.0)

    per_candle = feed(strategy, FALL_THEN_RISE)

    diff = [f - s for f, s in zip(ema(FALL_THEN_RISE, 2), ema(FALL_THEN_RISE, 4), strict=True)]
    crosses = [t for t in range(4, len(diff)) if diff[t - 1] <= 0 < diff[t]]
    assert crosses and [t for t, i in enumerate(per_candle) if i] == crosses[:1]
    t = crosses[0]
    (intent,) = per_candle[t]
    assert isinstance(intent, OrderIntent)
    assert (intent.side, intent.type, intent.qty, intent.size_fraction) == (
        "buy", OrderType.MARKET, None, Decimal(1),
    )  # fmt: skip
    # Wilder ATR over candles whose high/low are close +- 0.5 (open = close).
    trs = [1.0] + [max(1.0, abs(c - p) + 0.5) for p, c in pairwise(FALL_THEN_RISE)]
    atr = sum(trs[:3]) / 3
    for tr in trs[3 : t + 1]:
        atr = (atr * 2 + tr) / 3
    expected_stop = (Decimal(FALL_THEN_RISE[t] - 2.0 * atr) / TICK).to_integral_value(
        rounding="ROUND_FLOOR"
    ) * TICK
    assert intent.bracket == Bracket(stop_loss=expected_stop, take_profit=None)


def test_a_plain_ema_cross_buys_the_full_size_without_a_bracket() -> None:
    strategy = make(TrendStrategy, fast_period=2, slow_period=4, atr_stop_mult=None)

    (intent,) = orders_of([i for per in feed(strategy, FALL_THEN_RISE) for i in per])

    assert intent.bracket is None and intent.qty is None and intent.size_fraction == 1


def test_trend_exits_the_whole_position_when_the_fast_ema_falls_below_the_slow() -> None:
    strategy = make(TrendStrategy, fast_period=2, slow_period=4, atr_stop_mult=None)
    feed(strategy, FALL_THEN_RISE)
    hold(strategy, "0.5")

    rest = [strategy.on_candle(candle(len(FALL_THEN_RISE) + i, c)) for i, c in
            enumerate([117, 110, 100])]  # fmt: skip

    exits = orders_of([i for per in rest for i in per or []])
    assert exits and exits[0].side == "sell" and exits[0].type is OrderType.MARKET
    assert exits[0].qty is None  # the risk manager sells all that is held


def test_trend_stays_out_while_warming_up_and_when_the_cross_is_on_another_exchange() -> None:
    strategy = make(TrendStrategy, fast_period=2, slow_period=4)
    other = Candle("kraken", SYM, 0, *(Decimal(100),) * 4, Decimal(1), 1)

    assert strategy.on_candle(other) is None
    assert feed(strategy, [100, 90, 95, 120]) == [[], [], [], []]


# -- mean reversion ---------------------------------------------------------------------------


def test_mean_reversion_buys_below_minus_two_sigma_with_a_stop_and_target_bracket() -> None:
    closes: list[float] = [100, 101, 99, 100, 101, 100, 99, 101, 100, 90]
    strategy = make(MeanReversionStrategy, period=10, entry_z=2.0, stop_std=1.5)

    per_candle = feed(strategy, closes)

    assert per_candle[:-1] == [[]] * 9
    (intent,) = per_candle[-1]
    assert isinstance(intent, OrderIntent) and intent.side == "buy"
    mean, std = statistics.fmean(closes), statistics.pstdev(closes)
    assert (90 - mean) / std < -2
    assert intent.bracket is not None and intent.bracket.stop_loss is not None
    floor_to_tick = (Decimal(repr(90 - 1.5 * std)) / TICK).to_integral_value("ROUND_FLOOR")
    assert intent.bracket.stop_loss == floor_to_tick * TICK
    assert intent.bracket.take_profit == Decimal("99.10")
    assert intent.size_fraction == Decimal("0.5")


def test_mean_reversion_exits_when_price_is_back_at_the_mean() -> None:
    strategy = make(MeanReversionStrategy, period=5)
    feed(strategy, [100, 101, 99, 100, 101])
    hold(strategy, "1")

    exits = orders_of(strategy.on_candle(candle(5, 102)))

    assert [(i.side, i.type) for i in exits] == [("sell", OrderType.MARKET)]


# -- imbalance --------------------------------------------------------------------------------


def trade(i: int, side: str, size: str) -> Trade:
    return Trade(EX, SYM, str(i), Decimal(100), Decimal(size), side, 0, 0)  # type: ignore[arg-type]


HEAVY_BIDS = [("100.00", "5"), ("99.99", "5"), ("99.98", "5")]
THIN_ASKS = [("100.02", "0.5"), ("100.03", "0.5"), ("100.04", "1")]


def test_strong_bid_imbalance_with_buying_flow_buys() -> None:
    clock = ManualClock(10 * NS)
    strategy = make(ImbalanceStrategy, clock, levels=3, stop_bps=30)
    for i in range(6):
        strategy.on_trade(trade(i, "buy", "1"))
    strategy.on_trade(trade(6, "sell", "0.5"))

    (intent,) = orders_of(strategy.on_book(book(HEAVY_BIDS, THIN_ASKS, clock.time_ns())))

    assert intent.side == "buy" and intent.type is OrderType.MARKET
    assert intent.bracket is not None
    assert intent.bracket.stop_loss == Decimal("99.70")  # 100.01 - 30 bps, rounded down
    assert intent.bracket.take_profit == Decimal("100.62")
    assert len(strategy.ctx.trades(SYM)) == 7


def test_bid_imbalance_against_selling_flow_does_nothing() -> None:
    clock = ManualClock(10 * NS)
    strategy = make(ImbalanceStrategy, clock, levels=3)
    for i in range(6):
        strategy.on_trade(trade(i, "sell", "1"))

    assert strategy.on_book(book(HEAVY_BIDS, THIN_ASKS, clock.time_ns())) is None


def test_imbalance_forgets_flow_older_than_its_window_and_throttles() -> None:
    clock = ManualClock(10 * NS)
    strategy = make(ImbalanceStrategy, clock, levels=3, flow_window_s=5, interval_ms=250)
    for i in range(6):
        strategy.on_trade(trade(i, "buy", "1"))
    clock.advance_ns(6 * NS)

    assert strategy.on_book(book(HEAVY_BIDS, THIN_ASKS, clock.time_ns())) is None
    for i in range(6):
        strategy.on_trade(trade(10 + i, "buy", "1"))
    clock.advance_ns(100 * MS)
    assert strategy.on_book(book(HEAVY_BIDS, THIN_ASKS, clock.time_ns())) is None  # throttled
    clock.advance_ns(200 * MS)
    assert orders_of(strategy.on_book(book(HEAVY_BIDS, THIN_ASKS, clock.time_ns())))


# -- market maker -----------------------------------------------------------------------------

MM: dict[str, Any] = {
    "spread_bps": 10.0,
    "skew_bps": 10.0,
    "quote_size": "0.001",
    "max_inventory": "0.01",
}


def quotes(intents: list[Intent] | None) -> dict[str, OrderIntent]:
    return {i.side: i for i in orders_of(intents)}


def test_market_maker_quotes_post_only_around_the_microprice() -> None:
    strategy = make(MarketMakerStrategy, **MM)

    q = quotes(strategy.on_book(book([("100.00", "1")], [("100.10", "1")])))

    assert set(q) == {"buy"}  # flat: nothing to offer on a long-only account
    assert q["buy"].type is OrderType.LIMIT and q["buy"].post_only
    # microprice 100.05, half spread 5 bps of it = 0.050025: the bid rounds down
    assert q["buy"].price == Decimal("99.99") and q["buy"].qty == Decimal("0.001")


def test_market_maker_skews_both_quotes_down_when_long() -> None:
    strategy = make(MarketMakerStrategy, **MM)
    hold(strategy, "0.005")

    q = quotes(strategy.on_book(book([("100.00", "1")], [("100.10", "1")])))

    # microprice 100.05; shift = 10 bps * 0.5 inventory = 0.050025
    assert q["buy"].price == Decimal("99.94")
    assert q["sell"].price == Decimal("100.05") and q["sell"].qty == Decimal("0.001")


def acknowledge(strategy: Any, intents: list[Intent] | None, first_id: int = 1) -> None:
    """What the broker's order updates tell the strategy: its quotes are resting."""
    for n, intent in enumerate(orders_of(intents)):
        strategy.on_order(
            Order(first_id + n, "s", EX, SYM, intent.side, intent.type, intent.qty or Decimal(0),
                  intent.price, None, TimeInForce.GTC, True, 0, 0, status=OrderStatus.OPEN)
        )  # fmt: skip


def test_market_maker_replaces_quotes_only_when_a_price_moves_past_the_threshold() -> None:
    clock = ManualClock(NS)
    strategy = make(MarketMakerStrategy, clock, requote_ticks=5, min_requote_ms=1_000, **MM)
    hold(strategy, "0.005")
    acknowledge(strategy, strategy.on_book(book([("100.00", "1")], [("100.10", "1")], NS)))

    clock.advance_ns(200 * MS)
    too_soon = strategy.on_book(book([("100.10", "1")], [("100.20", "1")], clock.time_ns()))
    clock.advance_ns(NS)
    small = strategy.on_book(book([("100.02", "1")], [("100.12", "1")], clock.time_ns()))
    clock.advance_ns(NS)
    large = strategy.on_book(book([("100.10", "1")], [("100.20", "1")], clock.time_ns()))

    assert too_soon is None  # 10 ticks, but the book was looked at 200 ms ago
    assert small is None  # 2 ticks: not worth the queue position a cancel-replace loses
    assert large is not None
    assert [i.order_id for i in large if isinstance(i, CancelIntent)] == [1, 2]
    q = quotes(large)
    assert q["buy"].price == Decimal("100.04") and q["sell"].price == Decimal("100.15")


def test_market_maker_requotes_after_a_fill_and_cancels_on_a_stale_book() -> None:
    clock = ManualClock(NS)
    strategy = make(MarketMakerStrategy, clock, stale_ms=1_000, **MM)
    top = ([("100.00", "1")], [("100.10", "1")])
    acknowledge(strategy, strategy.on_book(book(*top, NS)))
    clock.advance_ns(200 * MS)
    assert strategy.on_book(book(*top, clock.time_ns())) is None

    hold(strategy, "0.001")
    strategy.on_fill(
        Fill(1, "s", EX, SYM, "buy", Decimal(100), Decimal("0.001"), Decimal(0),
             Liquidity.MAKER, clock.time_ns())
    )  # fmt: skip
    clock.advance_ns(200 * MS)
    requote = strategy.on_book(book(*top, clock.time_ns()))
    assert requote is not None and set(quotes(requote)) == {"buy", "sell"}
    acknowledge(strategy, requote, first_id=2)

    strategy.ctx.books[KEY] = book(*top, clock.time_ns())  # type: ignore[index]
    clock.advance_ns(2 * NS)
    pulled = strategy.on_time(clock.time_ns())
    assert pulled is not None and all(isinstance(i, CancelIntent) for i in pulled)
    assert strategy.on_time(clock.time_ns()) is None  # pulled once


# -- model ------------------------------------------------------------------------------------


class Provider:
    """Whatever runs inference: here, outputs set by the test."""

    def __init__(self) -> None:
        self.outputs: ModelOutputs | None = None

    def __call__(self, exchange: str, symbol: str) -> object:
        return self.outputs


def test_model_buy_with_size_half_asks_for_half_the_allowed_size() -> None:
    clock, provider = ManualClock(100 * NS), Provider()
    strategy = make(ModelStrategy, clock, features=provider)
    strategy.ctx.books[KEY] = book([("100.00", "1")], [("100.02", "1")])  # type: ignore[index]
    provider.outputs = ModelOutputs((2.0, 0.0, 0.0), 0.5, 0.1, clock.time_ns())

    (intent,) = orders_of(strategy.on_time(clock.time_ns()))

    assert intent.side == "buy" and intent.type is OrderType.MARKET
    assert intent.size_fraction == Decimal("0.5") and intent.qty is None
    assert intent.bracket == Bracket(stop_loss=Decimal("98.00"), take_profit=Decimal("104.02"))
    assert strategy.on_time(clock.time_ns()) is None  # one action per output


def test_model_does_not_trade_when_risk_is_above_the_threshold() -> None:
    clock, provider = ManualClock(100 * NS), Provider()
    strategy = make(ModelStrategy, clock, features=provider, max_risk=0.7)
    provider.outputs = ModelOutputs((2.0, 0.0, 0.0), 0.5, 0.9, clock.time_ns())

    assert strategy.on_time(clock.time_ns()) is None


def test_model_ignores_hold_low_confidence_and_stale_outputs() -> None:
    clock, provider = ManualClock(1_000 * NS), Provider()
    strategy = make(ModelStrategy, clock, features=provider, min_confidence=0.6, max_age_s=60)

    for outputs in (
        ModelOutputs((0.0, 0.0, 3.0), 0.5, 0.1, 1 * NS + 999 * NS),
        ModelOutputs((0.1, 0.0, 0.0), 0.5, 0.1, 2 * NS + 999 * NS),  # p(buy) ~ 0.36
        ModelOutputs((3.0, 0.0, 0.0), 0.5, 0.1, 900 * NS),  # 100 s old
    ):
        provider.outputs = outputs
        assert strategy.on_time(clock.time_ns()) is None, outputs


def test_model_sell_exits_a_long_and_reads_the_hook_on_candles_too() -> None:
    clock, provider = ManualClock(100 * NS), Provider()
    strategy = make(ModelStrategy, clock, features=provider)
    hold(strategy, "0.2")
    provider.outputs = ModelOutputs((0.0, 2.0, 0.0), 0.0, 0.5, clock.time_ns())

    (intent,) = orders_of(strategy.on_candle(candle(0, 100)))

    assert intent.side == "sell" and intent.type is OrderType.MARKET


# -- fallback ---------------------------------------------------------------------------------

FALLBACK: dict[str, Any] = {"trend_period": 10, "pullback_period": 3}


def test_fallback_buys_a_pullback_in_an_uptrend_small_and_tight() -> None:
    strategy = make(FallbackStrategy, **FALLBACK)
    rising = [100.0 + i for i in range(15)]  # 100 .. 114: closes above the fast EMA
    assert feed(strategy, rising) == [[]] * 15

    (intent,) = orders_of(strategy.on_candle(candle(15, 112, open_=111)))

    assert intent.side == "buy" and intent.size_fraction == Decimal("0.25")
    assert intent.bracket == Bracket(stop_loss=Decimal("110.88"), take_profit=Decimal("114.24"))


def test_fallback_does_not_buy_the_same_bounce_against_the_trend() -> None:
    strategy = make(FallbackStrategy, **FALLBACK)
    falling = [114.0 - i for i in range(15)]  # 114 .. 100
    feed(strategy, falling)

    assert strategy.on_candle(candle(15, 99, open_=98)) is None


def test_fallback_needs_the_candle_to_bounce() -> None:
    strategy = make(FallbackStrategy, **FALLBACK)
    feed(strategy, [100.0 + i for i in range(15)])

    assert strategy.on_candle(candle(15, 112, open_=113)) is None


def test_fallback_exits_when_the_trend_breaks() -> None:
    strategy = make(FallbackStrategy, **FALLBACK)
    feed(strategy, [100.0 + i for i in range(15)])
    hold(strategy, "1", "114")

    exits = orders_of(strategy.on_candle(candle(15, 100, open_=114)))

    assert [(i.side, i.type) for i in exits] == [("sell", OrderType.MARKET)]


# -- through the real engine ------------------------------------------------------------------


def test_an_exit_cancels_the_bracket_legs_and_sells_everything_through_the_engine() -> None:
    clock = ManualClock(NS)
    books: dict[tuple[str, str], OrderBook] = {}
    portfolio = Portfolio("s", Decimal(10_000))
    strategy = TrendStrategy(
        StrategyContext("s", EX, [SYM], clock, portfolio, books=books, instruments=INSTRUMENTS),
        {"fast_period": 2, "slow_period": 4, "atr_period": 3, "atr_stop_mult": 2.0},
    )
    broker = PaperBroker(clock, dict(INSTRUMENTS), BrokerConfig(latency_ms=0))
    ledger = MemoryLedger()
    engine = TradingEngine(
        clock, broker, RiskManager(RiskConfig(), clock, open_orders=broker.open_orders),
        [strategy], {"s": portfolio}, dict(INSTRUMENTS), ledger, books=books,
    )  # fmt: skip
    live = OrderBook(EX, SYM, price_decimals=2, size_decimals=4)

    for i, close in enumerate([*FALL_THEN_RISE, 110, 100, 95]):
        clock.advance_ns(60 * NS)
        px = int(close * 100)
        live.load_snapshot([(px - 1, 100_000)], [(px + 1, 100_000)])
        live.ts_recv_ns = clock.time_ns()
        engine.on_book(live)
        engine.on_time()
        engine.on_candle(candle(i, close))
        engine.on_time()

    sides = [f.side for f in ledger.fills]
    assert sides == ["buy", "sell"], ledger.rejections
    assert portfolio.qty(KEY) == 0
    assert broker.open_orders("s") == []
    assert any(o.status is OrderStatus.CANCELLED for o in ledger.orders)


# -- skipped book updates ---------------------------------------------------------------------


class Ungated:
    """A shipped strategy with its ``next_book_ns`` hidden: the engine hands it every book."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "next_book_ns":
            raise AttributeError(name)
        return getattr(self._inner, name)


def replay_mm_and_imbalance(gated: bool) -> tuple[list[Order], list[Fill]]:
    """A seeded random walk of books (every 100 ms) and prints through both strategies."""
    import random

    rng = random.Random(7)
    clock = ManualClock(NS)
    books: dict[tuple[str, str], OrderBook] = {}
    portfolios = {n: Portfolio(n, Decimal(10_000)) for n in ("mm", "imb")}
    ctx = {
        n: StrategyContext(n, EX, [SYM], clock, p, books=books, instruments=INSTRUMENTS)
        for n, p in portfolios.items()
    }
    strategies: list[Any] = [
        MarketMakerStrategy(ctx["mm"], {**MM, "requote_ticks": 2, "min_requote_ms": 700}),
        ImbalanceStrategy(
            ctx["imb"], {"levels": 2, "interval_ms": 250, "cooldown_s": 2.0, "flow_window_s": 3.0}
        ),
    ]
    if not gated:
        strategies = [Ungated(s) for s in strategies]
    broker = PaperBroker(clock, dict(INSTRUMENTS), BrokerConfig(latency_ms=50))
    ledger = MemoryLedger()
    engine = TradingEngine(
        clock, broker, RiskManager(RiskConfig(), clock, open_orders=broker.open_orders),
        strategies, dict(portfolios), dict(INSTRUMENTS), ledger, books=books,
    )  # fmt: skip
    live = OrderBook(EX, SYM, price_decimals=2, size_decimals=4)
    mid = 100_00  # 100.00: the quotes sit 5 ticks either side of it
    for step in range(3_000):
        clock.advance_ns(100 * MS)
        mid += rng.choice((-2, -1, 0, 0, 1, 2))
        bid_size, ask_size = rng.randint(1, 40_000), rng.randint(1, 40_000)
        live.load_snapshot(
            [(mid - 1, bid_size), (mid - 2, 1_000)], [(mid + 1, ask_size), (mid + 2, 1_000)]
        )
        live.ts_recv_ns = clock.time_ns()
        engine.on_book(live)
        for n in range(rng.randint(0, 3)):
            side: Side = rng.choice(("buy", "sell"))
            price = Decimal(mid + (1 if side == "buy" else -1) + rng.randint(-8, 8)) / 100
            engine.on_trade(
                Trade(EX, SYM, f"{step}-{n}", price, Decimal(rng.randint(1, 30)) / 10_000, side,
                      clock.time_ns(), clock.time_ns())
            )  # fmt: skip
        if step % 10 == 0:
            engine.on_time()
    return ledger.orders, ledger.fills


def test_skipping_the_books_a_strategy_declared_it_would_ignore_changes_no_trade() -> None:
    gated_orders, gated_fills = replay_mm_and_imbalance(gated=True)
    every_orders, every_fills = replay_mm_and_imbalance(gated=False)

    assert len(gated_orders) > 200 and len(gated_fills) > 10  # quotes, requotes and fills
    assert {o.strategy for o in gated_orders} == {"mm", "imb"}
    assert gated_orders == every_orders and gated_fills == every_fills


def test_the_market_maker_declares_its_next_look_and_a_fill_brings_it_forward() -> None:
    clock = ManualClock(NS)
    strategy = make(MarketMakerStrategy, clock, min_requote_ms=1_000, **MM)
    top = ([("100.00", "1")], [("100.10", "1")])
    assert strategy.next_book_ns == 0

    strategy.on_book(book(*top, NS))
    assert strategy.next_book_ns == 2 * NS

    strategy.on_fill(
        Fill(1, "s", EX, SYM, "buy", Decimal(100), Decimal("0.001"), Decimal(0),
             Liquidity.MAKER, NS)
    )  # fmt: skip
    assert strategy.next_book_ns == 0
