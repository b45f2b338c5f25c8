"""The strategy interface and how plugins are found.

A strategy is built from a :class:`~shared.trading.context.StrategyContext` (its
name, exchange and symbols, the injected clock, the latest books, rolling windows
of candles and trades, its own portfolio, its open orders, the instruments and a
``features`` hook; re-exported here) and a frozen params model. The engine calls
its hooks; each returns order intents or ``None``. The hooks run on every market
event of the process (the engine targets 100,000 book events a second with five
strategies attached), so a hook with nothing to do must return at once: the base
``on_book``, ``on_fill`` and ``on_time`` are marked no-ops, which the engine never
calls, and the shipped strategies throttle their decisions to candle closes or to
an interval of clock time (declared in ``next_book_ns``, so the engine does not
even call ``on_book`` before it is due).

The context keeps its candle and trade windows and the open-order table itself:
the base hooks record what they are given, and a subclass's own ``on_trade``,
``on_candle`` and ``on_order`` are wrapped at class creation to record first, so a
plugin that forgets ``super()`` still sees a complete context. Trades are the
exception in an engine: the engine records each trade once in the
:class:`~shared.trading.context.TradeTape` its strategies' contexts share, so it
never calls a base ``on_trade`` (which would only record it again) and calls an
overriding one without its recording wrapper.

Plugins: built-in kinds live in :mod:`shared.trading.strategies`; a ``.py`` file in
the strategies folder is imported by :func:`discover_strategies`, and every
:class:`Strategy` subclass it defines with a ``kind`` is registered.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import ValidationError

from shared.book import OrderBook
from shared.config.base import ConfigModel, format_validation_error
from shared.config.trading import StrategyConfig
from shared.errors import ConfigError
from shared.marketdata import Candle, Trade
from shared.trading.context import (
    FeatureHook,
    FeatureProvider,
    Key,
    PortfolioView,
    PositionView,
    StrategyContext,
    features_at,
    no_features,
)
from shared.trading.types import CancelIntent, Fill, Order, OrderIntent, OrderType, Side

__all__ = [
    "AnyStrategy",
    "DiscoveryError",
    "DiscoveryReport",
    "FeatureHook",
    "FeatureProvider",
    "Intent",
    "Intents",
    "Key",
    "PortfolioView",
    "PositionView",
    "Strategy",
    "StrategyContext",
    "StrategyParams",
    "StrategyRegistry",
    "build_strategy",
    "builtin_registry",
    "discover_strategies",
    "features_at",
    "no_features",
    "validate_params",
]

_SNAP = Decimal("1e-6")
"""How close to a tick (in ticks) a float price counts as on it."""

Intent = OrderIntent | CancelIntent
Intents = list[Intent] | None


def on_tick(price: float | Decimal, tick: Decimal, *, up: bool = False) -> Decimal:
    """``price`` on ``tick``: :meth:`Strategy.round_price` with the tick in hand."""
    steps = (Decimal(repr(price)) if isinstance(price, float) else price) / tick
    nearest = steps.to_integral_value(ROUND_HALF_EVEN)
    if abs(steps - nearest) > _SNAP:
        nearest = steps.to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)
    return nearest * tick


class StrategyParams(ConfigModel):
    """Base of every strategy's params: frozen, unknown keys rejected.

    Every field must have a description and a default (checked at registration), so
    an empty ``params:`` block always gives a working strategy.
    """


P = TypeVar("P", bound=StrategyParams)
_Hook = Callable[..., Any]


def _recording(hook: _Hook, recorder: str) -> _Hook:
    """Wrap a subclass hook so the context records its argument first.

    ``on_order`` returns nothing by contract, and its wrapper makes sure: the
    engine hands order updates even to a paused strategy, which must not trade.
    """
    record = getattr(StrategyContext, recorder)  # looked up once, not per event

    if recorder == "record_order":

        @functools.wraps(hook)
        def wrapper(self: Strategy[Any], arg: Any) -> Any:
            record(self.ctx, arg)
            hook(self, arg)
            return None

    else:

        @functools.wraps(hook)
        def wrapper(self: Strategy[Any], arg: Any) -> Any:
            record(self.ctx, arg)
            return hook(self, arg)

    wrapper.__tickerml_records__ = True  # type: ignore[attr-defined]
    # The hook itself, for an engine that records the argument already (trades).
    wrapper.__tickerml_unrecorded__ = hook  # type: ignore[attr-defined]
    return wrapper


def _records_only(hook: _Hook) -> _Hook:
    """Mark a base hook that only records its argument in the context.

    An engine that records trades into the tape its strategies' contexts share
    never calls it: a trade goes to the tape once, not once per strategy.
    """
    hook.__tickerml_records_only__ = True  # type: ignore[attr-defined]
    return hook


def _noop(hook: _Hook) -> _Hook:
    """Mark a base hook that does nothing: the engine skips strategies that keep it.

    The hooks run on every market event (a book event with five strategies is
    five calls), so one that is not overridden costs nothing at all.
    """
    hook.__tickerml_noop__ = True  # type: ignore[attr-defined]
    return hook


_RECORDED_HOOKS = {
    "on_candle": "record_candle",
    "on_trade": "record_trade",
    "on_order": "record_order",
}


class Strategy(Generic[P]):
    """Base class of every strategy plugin.

    Set ``kind`` (the name a config's ``kind:`` uses) and ``Params`` (a
    :class:`StrategyParams` subclass); override the hooks you need. A hook returns
    a list of :class:`OrderIntent` / :class:`CancelIntent`, or ``None`` for nothing.
    """

    kind: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    next_book_ns: int = 0
    """The engine calls :meth:`on_book` only once its clock reads at least this (ns).

    0 (the default) means every book update. A strategy that looks at books only
    every so often (every ``interval_ms``) sets it to when it will look next, so the
    books in between cost the engine a comparison instead of a call; anything that
    should make it look sooner (a fill, say) must lower it again. Only skipped calls
    that would have returned nothing at once keep a backtest's trades the same.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, recorder in _RECORDED_HOOKS.items():
            hook = cls.__dict__.get(name)
            if hook is not None and not getattr(hook, "__tickerml_records__", False):
                setattr(cls, name, _recording(hook, recorder))

    def __init__(
        self, context: StrategyContext, params: P | Mapping[str, Any] | None = None
    ) -> None:
        self.ctx = context
        self.name = context.name
        self.exchange = context.exchange
        self.symbols = context.symbols
        self.clock = context.clock
        self.params: P = cast(P, validate_params(type(self), params))

    # -- hooks (no-ops) ------------------------------------------------------------------

    @_noop
    def on_book(self, book: OrderBook) -> Intents:
        return None

    @_records_only
    def on_trade(self, trade: Trade) -> Intents:
        self.ctx.record_trade(trade)
        return None

    def on_candle(self, candle: Candle) -> Intents:
        self.ctx.record_candle(candle)
        return None

    @_noop
    def on_fill(self, fill: Fill) -> Intents:
        return None

    def on_order(self, order: Order) -> None:
        self.ctx.record_order(order)

    @_noop
    def on_time(self, now_ns: int) -> Intents:
        return None

    # -- helpers for subclasses ------------------------------------------------------------

    def tick(self, symbol: str) -> Decimal:
        """The symbol's price tick (1e-8 when the instrument is unknown)."""
        instrument = self.ctx.instrument(symbol)
        return instrument.tick_size if instrument is not None else Decimal("1e-8")

    def round_price(self, symbol: str, price: float | Decimal, *, up: bool = False) -> Decimal:
        """``price`` on the symbol's tick, rounded down (or ``up``).

        Callers round away from the market (a bid down, an ask up, a long's stop
        down), so rounding never makes an order more aggressive than asked. A float
        within a millionth of a tick of a tick is taken as that tick: ``112 * 0.99``
        is 110.88, not the 110.87 that flooring its binary value would give.
        """
        return on_tick(price, self.tick(symbol), up=up)

    def market(self, symbol: str, side: Side, **kwargs: Any) -> OrderIntent:
        """A market order intent for ``symbol`` on the strategy's exchange."""
        return OrderIntent(self.name, self.exchange, symbol, side, OrderType.MARKET, **kwargs)

    def limit(self, symbol: str, side: Side, price: Decimal, **kwargs: Any) -> OrderIntent:
        return OrderIntent(
            self.name, self.exchange, symbol, side, OrderType.LIMIT, price=price, **kwargs
        )

    def cancel_all(self, symbol: str | None = None) -> list[Intent]:
        """Cancel every open order of this strategy (on ``symbol`` when given)."""
        return [CancelIntent(self.name, o.id) for o in self.ctx.open_orders(symbol)]

    def exit_position(self, symbol: str, tag: str) -> list[Intent]:
        """Cancel the symbol's open orders (bracket legs too) and sell what is held.

        The sell carries no size (``qty=None``): the risk manager sells what is held
        and not offered by a still-open sell when it arrives, which stays right if a
        bracket leg filled in between.
        """
        intents = self.cancel_all(symbol)
        if self.ctx.position(symbol) > 0:
            intents.append(self.market(symbol, "sell", tag=tag))
        return intents


AnyStrategy = Strategy[Any]


def validate_params(
    cls: type[AnyStrategy], params: StrategyParams | Mapping[str, Any] | None
) -> StrategyParams:
    """``params`` as ``cls.Params``; a bad key raises :class:`ConfigError` naming it."""
    if isinstance(params, cls.Params):
        return params
    raw = dict(params) if isinstance(params, Mapping) else {}
    try:
        return cls.Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, f"{cls.kind or cls.__name__} params")
        ) from None


def check_params_model(model: type[StrategyParams]) -> None:
    """Refuse a params model with a field lacking a description or a default."""
    for name, info in model.model_fields.items():
        if not info.description:
            raise TypeError(f"{model.__name__}.{name}: every param needs a description")
        if info.is_required():
            raise TypeError(f"{model.__name__}.{name}: every param needs a default")


class StrategyRegistry:
    """Strategy classes by kind."""

    def __init__(self) -> None:
        self._kinds: dict[str, type[AnyStrategy]] = {}

    def register(self, cls: type[AnyStrategy]) -> type[AnyStrategy]:
        """Add ``cls`` under ``cls.kind``; a kind taken by another class is refused."""
        if not cls.kind:
            raise TypeError(f"{cls.__name__} has no `kind`")
        if not (isinstance(cls.Params, type) and issubclass(cls.Params, StrategyParams)):
            raise TypeError(f"{cls.__name__}.Params must subclass StrategyParams")
        check_params_model(cls.Params)
        known = self._kinds.get(cls.kind)
        if known is not None and known is not cls:
            raise ValueError(
                f"kind {cls.kind!r} is already taken by {known.__module__}.{known.__qualname__}"
            )
        self._kinds[cls.kind] = cls
        return cls

    def get(self, kind: str) -> type[AnyStrategy] | None:
        return self._kinds.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds


def builtin_registry() -> StrategyRegistry:
    """A fresh registry holding the shipped strategies."""
    # Imported here: the shipped strategies import this module.
    from shared.trading.strategies import BUILTIN

    registry = StrategyRegistry()
    for cls in BUILTIN:
        registry.register(cls)
    return registry


@dataclass(frozen=True, slots=True)
class DiscoveryError:
    """A strategy file that could not be loaded, and why."""

    path: Path
    error: str

    def __str__(self) -> str:
        return f"{self.path}: {self.error}"


@dataclass(slots=True)
class DiscoveryReport:
    """What :func:`discover_strategies` loaded and what it could not."""

    loaded: dict[str, type[AnyStrategy]] = field(default_factory=dict)
    errors: list[DiscoveryError] = field(default_factory=list)


def discover_strategies(folder: Path | str, registry: StrategyRegistry) -> DiscoveryReport:
    """Import every ``*.py`` in ``folder`` and register the strategies they define.

    Files whose name starts with ``_`` are helpers and are skipped. A file that
    fails to import, defines no strategy or reuses a taken kind is reported with
    its path; the other files still load.
    """
    report = DiscoveryReport()
    folder = Path(folder)
    if not folder.is_dir():
        report.errors.append(DiscoveryError(folder, "not a folder"))
        return report
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            classes = _load_file(path)
            if not classes:
                raise ValueError("defines no Strategy subclass with a `kind`")
            for cls in classes:
                registry.register(cls)
                report.loaded[cls.kind] = cls
        except Exception as exc:  # any error in a user's file is reported, not raised
            report.errors.append(DiscoveryError(path, f"{type(exc).__name__}: {exc}"))
    return report


def _load_file(path: Path) -> list[type[AnyStrategy]]:
    module_name = f"tickerml_strategies.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot be imported as a module")
    module = importlib.util.module_from_spec(spec)
    # In sys.modules while it runs: pydantic and dataclasses resolve the module's
    # annotations through it.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Strategy) and obj.__module__ == module_name and obj.kind
    ]


def build_strategy(
    config: StrategyConfig, context: StrategyContext, registry: StrategyRegistry | None = None
) -> AnyStrategy:
    """The strategy ``config`` describes, its params validated.

    Raises :class:`ConfigError` for an unknown kind (listing the known ones) or bad
    params (naming the key).
    """
    registry = registry if registry is not None else builtin_registry()
    cls = registry.get(config.kind)
    if cls is None:
        raise ConfigError(
            f"strategy {config.name!r}: unknown kind {config.kind!r}; "
            f"known kinds: {', '.join(registry.kinds())}"
        )
    if (context.name, context.exchange, context.symbols) != (
        config.name,
        config.exchange,
        tuple(config.symbols),
    ):
        raise ValueError(f"strategy {config.name!r}: the context was built for another config")
    try:
        return cls(context, config.params)
    except ConfigError as exc:
        raise ConfigError(f"strategy {config.name!r}: {exc}") from None
