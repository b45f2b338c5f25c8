"""The strategy interface: context, params, registry, discovery and isolation."""

from __future__ import annotations

import re
import textwrap
import timeit
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from shared.book import OrderBook
from shared.clock import ManualClock
from shared.config.trading import BrokerConfig, RiskConfig, StrategyConfig
from shared.errors import ConfigError
from shared.marketdata import Candle
from shared.trading.broker import PaperBroker
from shared.trading.engine import StrategyLike, TradingEngine
from shared.trading.memory_ledger import MemoryLedger
from shared.trading.portfolio import Portfolio
from shared.trading.risk import RiskManager
from shared.trading.strategies import BUILTIN
from shared.trading.strategy import (
    Intents,
    Strategy,
    StrategyContext,
    StrategyParams,
    StrategyRegistry,
    build_strategy,
    builtin_registry,
    discover_strategies,
)
from shared.trading.types import (
    Instrument,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    TimeInForce,
)

REPO = Path(__file__).resolve().parents[3]
EX, SYM = "binance", "BTC/USDT"
NS = 1_000_000_000


def candle(i: int, close: str, symbol: str = SYM) -> Candle:
    c = Decimal(close)
    return Candle(EX, symbol, i * 60_000, c, c, c, c, Decimal(1), 1)


def context(name: str = "s", clock: ManualClock | None = None, **kwargs: Any) -> StrategyContext:
    return StrategyContext(
        name, EX, [SYM], clock or ManualClock(), Portfolio(name, Decimal(10_000)), **kwargs
    )


def config(kind: str, name: str = "s", **params: object) -> StrategyConfig:
    return StrategyConfig(name=name, kind=kind, exchange=EX, symbols=[SYM], params=params)


class Forgetful(Strategy[StrategyParams]):
    """Overrides on_candle without calling super(): the context must still record."""

    kind = "forgetful"

    def on_candle(self, candle: Candle) -> Intents:
        return None


class Polite(Forgetful):
    """Calls super() on top of the wrapping: the candle must be recorded once."""

    kind = "polite"

    def on_candle(self, candle: Candle) -> Intents:
        return super().on_candle(candle)


# -- context -------------------------------------------------------------------------------


def test_the_context_records_candles_even_when_a_hook_skips_super() -> None:
    for cls in (Forgetful, Polite):
        strategy = cls(context())

        for i in range(3):
            strategy.on_candle(candle(i, "100"))

        assert [c.open_time_ms for c in strategy.ctx.candles(SYM)] == [0, 60_000, 120_000]


def test_the_candle_window_keeps_only_the_latest_candles() -> None:
    strategy = Forgetful(context(candle_window=2))

    for i in range(5):
        strategy.on_candle(candle(i, str(100 + i)))

    assert [c.close for c in strategy.ctx.candles(SYM)] == [Decimal(103), Decimal(104)]


def test_open_orders_follow_the_order_updates_of_this_strategy_only() -> None:
    strategy = Forgetful(context())
    order = Order(
        7, "s", EX, SYM, "buy", OrderType.LIMIT, Decimal(1), Decimal(100), None,
        TimeInForce.GTC, False, 0, 0, status=OrderStatus.OPEN,
    )  # fmt: skip
    other = Order(
        8, "other", EX, SYM, "buy", OrderType.LIMIT, Decimal(1), Decimal(100), None,
        TimeInForce.GTC, False, 0, 0, status=OrderStatus.OPEN,
    )  # fmt: skip

    strategy.on_order(order)
    strategy.on_order(other)
    assert [o.id for o in strategy.ctx.open_orders()] == [7]

    order.status = OrderStatus.CANCELLED
    strategy.on_order(order)
    assert strategy.ctx.open_orders() == []


def test_the_features_hook_defaults_to_nothing() -> None:
    assert context().features(EX, SYM) is None


def test_round_price_rounds_to_the_instrument_tick_in_the_asked_direction() -> None:
    instrument = Instrument(EX, SYM, tick_size=Decimal("0.5"), lot_size=Decimal("0.001"))
    strategy = Forgetful(context(instruments={(EX, SYM): instrument}))

    assert strategy.round_price(SYM, 100.7) == Decimal("100.5")
    assert strategy.round_price(SYM, 100.2, up=True) == Decimal("100.5")
    assert strategy.round_price(SYM, Decimal("100.5")) == Decimal("100.5")


def test_a_hook_with_nothing_to_do_costs_well_under_a_microsecond_or_two() -> None:
    # Generous bound: this guards against a hook doing real work on every book
    # update, not against a slow machine.
    book = OrderBook(EX, "ETH/USDT", price_decimals=2, size_decimals=4)
    book.load_snapshot([(10_000, 10_000)], [(10_010, 10_000)])
    registry = builtin_registry()
    for kind in registry.kinds():
        cls = registry.get(kind)
        assert cls is not None
        strategy = cls(context(kind))
        per_call = min(timeit.repeat(partial(strategy.on_book, book), number=20_000, repeat=3))

        assert per_call / 20_000 < 2e-6, f"{kind}.on_book costs {per_call / 20_000 * 1e9:.0f} ns"


# -- params and the registry -----------------------------------------------------------------


def test_build_strategy_makes_each_shipped_kind_from_defaults() -> None:
    for cls in BUILTIN:
        strategy = build_strategy(config(cls.kind), context())

        assert type(strategy) is cls
        assert strategy.name == "s"


def test_unknown_params_are_rejected_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        build_strategy(config("trend", fast_perod=5), context())

    assert "fast_perod" in str(err.value)
    assert "unknown key" in str(err.value)


def test_invalid_params_are_rejected_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="slow_period"):
        build_strategy(config("trend", slow_period="soon"), context())
    with pytest.raises(ConfigError, match="fast_period must be smaller"):
        build_strategy(config("trend", fast_period=30, slow_period=10), context())


def test_an_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        build_strategy(config("moonshot"), context())

    message = str(err.value)
    assert "moonshot" in message
    for kind in ("model", "imbalance", "mean_reversion", "trend", "market_maker", "fallback"):
        assert kind in message


def test_every_shipped_param_has_a_description_and_a_default() -> None:
    for cls in BUILTIN:
        for name, info in cls.Params.model_fields.items():
            assert info.description, f"{cls.kind}.{name}"
            assert not info.is_required(), f"{cls.kind}.{name}"


def test_a_params_model_without_descriptions_is_refused_at_registration() -> None:
    class Bare(StrategyParams):
        x: int = 1

    class Undocumented(Strategy[Bare]):
        kind = "undocumented"
        Params = Bare

    with pytest.raises(TypeError, match="description"):
        StrategyRegistry().register(Undocumented)


def test_a_kind_cannot_be_taken_twice() -> None:
    registry = builtin_registry()

    class Impostor(Strategy[StrategyParams]):
        kind = "trend"

    with pytest.raises(ValueError, match="already taken"):
        registry.register(Impostor)


def test_every_shipped_strategy_and_param_is_documented() -> None:
    text = (REPO / "docs" / "strategies.md").read_text(encoding="utf-8")
    for cls in BUILTIN:
        section = re.search(rf"^## `{cls.kind}`$(.*?)(?=^## |\Z)", text, re.M | re.S)
        assert section, f"docs/strategies.md has no section for {cls.kind}"
        for name in cls.Params.model_fields:
            assert f"`{name}`" in section.group(1), f"{cls.kind}.{name} is not documented"


# -- discovery -------------------------------------------------------------------------------

GOOD = """
from __future__ import annotations

from pydantic import Field

from shared.marketdata import Candle
from shared.trading.strategy import Intents, Strategy, StrategyParams


class DipParams(StrategyParams):
    threshold: float = Field(0.5, description="How deep a dip.")


class DipBuyer(Strategy[DipParams]):
    kind = "dip_buyer"
    Params = DipParams

    def on_candle(self, candle: Candle) -> Intents:
        if float(candle.close) < self.params.threshold:
            return [self.market(candle.symbol, "buy", tag="dip")]
        return None
"""


def test_a_dropped_in_file_is_discovered_and_a_broken_one_reported(tmp_path: Path) -> None:
    (tmp_path / "dip.py").write_text(textwrap.dedent(GOOD), encoding="utf-8")
    (tmp_path / "broken.py").write_text("import nothing_by_this_name\n", encoding="utf-8")
    (tmp_path / "_helper.py").write_text("raise RuntimeError('never imported')\n")
    registry = builtin_registry()

    report = discover_strategies(tmp_path, registry)

    assert list(report.loaded) == ["dip_buyer"]
    assert [e.path for e in report.errors] == [tmp_path / "broken.py"]
    assert "ModuleNotFoundError" in report.errors[0].error
    assert str(tmp_path / "broken.py") in str(report.errors[0])
    strategy = build_strategy(config("dip_buyer", threshold=2.0), context(), registry)
    intents = strategy.on_candle(candle(0, "1"))
    assert intents is not None and isinstance(intents[0], OrderIntent)
    assert intents[0].side == "buy"
    assert strategy.ctx.candles(SYM)[-1].close == Decimal(1)


def test_discovery_reports_files_without_a_strategy_and_taken_kinds(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("X = 1\n", encoding="utf-8")
    (tmp_path / "clash.py").write_text(
        "from shared.trading.strategy import Strategy, StrategyParams\n"
        "class Clash(Strategy[StrategyParams]):\n    kind = 'trend'\n",
        encoding="utf-8",
    )

    report = discover_strategies(tmp_path, builtin_registry())

    errors = {e.path.name: e.error for e in report.errors}
    assert "defines no Strategy" in errors["empty.py"]
    assert "already taken" in errors["clash.py"]
    assert report.loaded == {}


# -- isolation through the engine --------------------------------------------------------------


class Exploding(Strategy[StrategyParams]):
    kind = "exploding"

    def on_candle(self, candle: Candle) -> Intents:
        raise ZeroDivisionError("bad maths")


class BuyEveryCandleParams(StrategyParams):
    qty: Decimal = Field(Decimal("0.01"), description="Size of each buy.")


class BuyEveryCandle(Strategy[BuyEveryCandleParams]):
    kind = "buy_every_candle"
    Params = BuyEveryCandleParams

    def on_candle(self, candle: Candle) -> Intents:
        return [self.market(candle.symbol, "buy", qty=self.params.qty, tag="always")]


def test_a_strategy_that_raises_is_reported_and_the_others_go_on() -> None:
    clock = ManualClock(NS)
    books: dict[tuple[str, str], OrderBook] = {}
    portfolios = {n: Portfolio(n, Decimal(10_000)) for n in ("bad", "good")}
    instruments = {
        (EX, SYM): Instrument(EX, SYM, tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"))
    }
    strategies: list[StrategyLike] = [
        Exploding(StrategyContext("bad", EX, [SYM], clock, portfolios["bad"], books=books)),
        BuyEveryCandle(StrategyContext("good", EX, [SYM], clock, portfolios["good"], books=books)),
    ]
    broker = PaperBroker(clock, instruments, BrokerConfig(latency_ms=0))
    risk = RiskManager(RiskConfig(), clock, open_orders=broker.open_orders)
    ledger = MemoryLedger()
    engine = TradingEngine(
        clock, broker, risk, strategies, dict(portfolios), instruments, ledger, books=books
    )
    book = OrderBook(EX, SYM, price_decimals=2, size_decimals=4)
    book.load_snapshot([(10_000_00, 10_000)], [(10_001_00, 10_000)])
    book.ts_recv_ns = NS
    engine.on_book(book)

    for i in range(4):
        engine.on_candle(candle(i, "10000"))
    engine.on_time()

    errors = [r for r in ledger.rejections if r.reason == "strategy_error"]
    assert len(errors) == 3 and "ZeroDivisionError: bad maths" in errors[0].detail
    assert "paused" in errors[-1].detail and "bad" in engine.paused
    assert {o.strategy for o in ledger.orders} == {"good"}
    assert len({o.id for o in ledger.orders}) == 4
    assert portfolios["good"].qty((EX, SYM)) == Decimal("0.04")


class LooksEverySecond(Strategy[StrategyParams]):
    """Counts the books it is handed; declares it wants none for a second after each."""

    kind = "looks_every_second"

    def __init__(self, ctx: StrategyContext) -> None:
        super().__init__(ctx)
        self.seen: list[int] = []

    def on_book(self, book: OrderBook) -> Intents:
        now = self.clock.time_ns()
        self.seen.append(now)
        self.next_book_ns = now + NS
        return None


class SeesEveryBook:
    """A StrategyLike that is not a Strategy: no ``next_book_ns`` to declare."""

    name = "plain"

    def __init__(self) -> None:
        self.seen = 0

    def on_book(self, book: OrderBook) -> Intents:
        self.seen += 1
        return None

    def on_trade(self, trade: object) -> Intents:
        return None

    def on_candle(self, candle: Candle) -> Intents:
        return None

    def on_fill(self, fill: object) -> Intents:
        return None

    def on_order(self, order: Order) -> None:
        return None

    def on_time(self, now_ns: int) -> Intents:
        return None


def test_the_engine_skips_on_book_until_the_time_a_strategy_declared() -> None:
    clock = ManualClock(NS)
    portfolios = {n: Portfolio(n, Decimal(10_000)) for n in ("gated", "plain")}
    gated = LooksEverySecond(StrategyContext("gated", EX, [SYM], clock, portfolios["gated"]))
    plain = SeesEveryBook()
    strategies: list[StrategyLike] = [gated, plain]
    broker = PaperBroker(clock, {}, BrokerConfig())
    engine = TradingEngine(
        clock, broker, RiskManager(RiskConfig(), clock), strategies, dict(portfolios), {},
        MemoryLedger(),
    )  # fmt: skip
    book = OrderBook(EX, SYM, price_decimals=2, size_decimals=4)

    for _ in range(25):  # a book every 100 ms for 2.5 s
        engine.on_book(book)
        clock.advance_ns(NS // 10)

    assert gated.seen == [NS, 2 * NS, 3 * NS]
    assert plain.seen == 25
    assert Strategy.next_book_ns == 0  # by default every book reaches on_book
