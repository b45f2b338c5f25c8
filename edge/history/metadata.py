"""Exchange market metadata from ccxt: tick size, lot size, minimums and fees.

The paper broker needs to round prices and sizes the way the real venue would
and to refuse orders the venue would refuse (below the minimum amount or
notional). ccxt's ``load_markets()`` gives all of that for every exchange; it
is cached as JSON under ``data_dir/markets/<exchange>.json`` so an agent that
starts without internet still knows its markets, and says the cache is stale.
The cache's file format and its reader live in :mod:`shared.markets`: the hub
reads the same files (``tickerml hub import-db`` copies them).

Only public endpoints are used: exchanges are created without API keys, so
ccxt itself refuses every private call (balances, orders). TickerML paper
trades; nothing in this module, or anywhere else, places an order.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from edge.history.numbers import exact_decimal
from shared.clock import Clock, LiveClock
from shared.errors import OperationalError, TemporaryError
from shared.markets import CACHE_FORMAT_VERSION, MarketInfo, cache_file, read_cache

if TYPE_CHECKING:
    import ccxt

SUPPORTED_EXCHANGES = ("binanceus", "binance", "coinbase", "kraken", "kucoin")
_MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class MarketMetadata:
    """One exchange's spot markets, where they came from and how old they are."""

    exchange: str
    fetched_at_ms: int
    markets: Mapping[str, MarketInfo]
    from_cache: bool
    stale: bool = False
    warning: str | None = None
    cache_path: Path | None = field(default=None, compare=False)

    def market(self, symbol: str) -> MarketInfo:
        """The market for a unified symbol; the error names the exchange and symbol."""
        try:
            return self.markets[symbol]
        except KeyError:
            base = symbol.partition("/")[0]
            similar = sorted(s for s in self.markets if s.partition("/")[0] == base)[:8]
            hint = f" (markets with base {base}: {', '.join(similar)})" if similar else ""
            raise OperationalError(
                f"{self.exchange}: no spot market {symbol!r} in the exchange's metadata{hint}; "
                "check the symbol in the config (unified form BASE/QUOTE)"
            ) from None


def tick_from_precision(value: object, precision_mode: int) -> Decimal | None:
    """A ccxt precision value as a tick size, whatever the exchange's precision mode.

    TICK_SIZE gives the tick itself; DECIMAL_PLACES gives a count of decimals
    (2 -> 0.01); SIGNIFICANT_DIGITS has no fixed tick, so ``None``.
    """
    import ccxt  # lazily: ccxt costs ~60 MB and only network paths need it

    if value is None:
        return None
    if precision_mode == ccxt.TICK_SIZE:
        return exact_decimal(value)
    if precision_mode == ccxt.DECIMAL_PLACES:
        places = exact_decimal(value)
        if places != places.to_integral_value():
            raise ValueError(f"decimal places must be whole, got {value!r}")
        return Decimal(1).scaleb(-int(places))
    return None


def _optional_decimal(value: object) -> Decimal | None:
    return None if value is None else exact_decimal(value)


def market_info_from_ccxt(
    exchange: str, market: Mapping[str, Any], precision_mode: int
) -> MarketInfo:
    """Extract a :class:`MarketInfo` from one entry of ccxt's ``exchange.markets``."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    symbol = str(market["symbol"])
    try:
        return MarketInfo(
            exchange=exchange,
            symbol=symbol,
            market_id=str(market.get("id")),
            tick_size=tick_from_precision(precision.get("price"), precision_mode),
            lot_size=tick_from_precision(precision.get("amount"), precision_mode),
            min_amount=_optional_decimal(amount_limits.get("min")),
            min_notional=_optional_decimal(cost_limits.get("min")),
            maker_fee=_optional_decimal(market.get("maker")),
            taker_fee=_optional_decimal(market.get("taker")),
            active=market.get("active"),
        )
    except ValueError as exc:
        raise OperationalError(f"{exchange}: {symbol}: unusable market metadata: {exc}") from None


def rehost_urls(urls: object, base_url: str) -> object:
    """Every URL in a ccxt ``urls['api']`` tree moved under ``base_url``.

    ``base_url``'s scheme and host replace the endpoint's, and its path, if any,
    goes before the endpoint's path: ``http://127.0.0.1:8765/binance`` turns
    ``https://api.binance.com/api/v3`` into ``http://127.0.0.1:8765/binance/api/v3``,
    so one loopback server that routes by path (the simulator) stands in for every
    host of several exchanges. Generic on purpose: no exchange-specific keys.
    """
    if isinstance(urls, str):
        target = urlsplit(base_url)
        parts = urlsplit(urls)
        path = target.path.rstrip("/") + parts.path
        return urlunsplit((target.scheme, target.netloc, path, parts.query, parts.fragment))
    if isinstance(urls, dict):
        return {key: rehost_urls(value, base_url) for key, value in urls.items()}
    return urls


def public_exchange(
    name: str, *, base_url: str | None = None, timeout_s: float = 15.0
) -> ccxt.Exchange:
    """A synchronous ccxt exchange for public market data only.

    No API key or secret is ever set, so private endpoints (orders, balances)
    fail in ccxt before a request is sent. ``enableRateLimit`` makes ccxt space
    requests by the exchange's documented limit. Only spot markets are loaded:
    TickerML's symbols are spot pairs, and it saves the futures endpoints' calls.
    """
    import ccxt  # lazily: ccxt costs ~60 MB and only network paths need it

    if name not in SUPPORTED_EXCHANGES:
        raise OperationalError(
            f"{name}: unsupported exchange for market data (use one of: "
            f"{', '.join(SUPPORTED_EXCHANGES)})"
        )
    exchange: ccxt.Exchange = getattr(ccxt, name)(
        {"enableRateLimit": True, "timeout": int(timeout_s * 1000)}
    )
    options = exchange.options.get("fetchMarkets")
    if isinstance(options, dict) and "types" in options:
        exchange.options["fetchMarkets"] = {**options, "types": ["spot"]}
    if base_url:
        exchange.urls["api"] = rehost_urls(exchange.urls["api"], base_url)
    return exchange


def ccxt_error_text(exc: BaseException) -> str:
    """ccxt's message with the cause it leaves out.

    ccxt says which request failed (``binance GET https://...``, or the exchange's
    answer) but keeps why in the exception chain: the deepest cause is what the
    operator can act on (``[Errno -2] Name or service not known``, ``[SSL:
    CERTIFICATE_VERIFY_FAILED] ...``, ``tlsv1 alert unknown ca``), so it is added.
    """
    from requests import HTTPError  # ccxt's transport; imported with ccxt anyway

    text = str(exc).strip() or type(exc).__name__
    root, seen = exc, {id(exc)}
    while True:
        cause = root.__cause__ or (None if root.__suppress_context__ else root.__context__)
        if cause is None or id(cause) in seen:
            break
        seen.add(id(cause))
        root = cause
    # An HTTP error status is already in ccxt's message, with the exchange's answer.
    if root is not exc and not isinstance(root, HTTPError):
        why = str(root).strip() or type(root).__name__
        if why not in text:
            text = f"{text}: {why}"
    return text


def fetch_markets(exchange: ccxt.Exchange) -> dict[str, MarketInfo]:
    """Load an exchange's spot markets through ccxt (network).

    Raises ``TemporaryError`` when the exchange can't be reached (retry later)
    and ``OperationalError`` when it answered something unusable.
    """
    import ccxt  # lazily: ccxt costs ~60 MB and only network paths need it

    name = str(exchange.id)
    try:
        markets = exchange.load_markets(reload=True)
    except ccxt.NetworkError as exc:
        raise TemporaryError(
            f"{name}: cannot load markets (network): {ccxt_error_text(exc)}"
        ) from exc
    except ccxt.BaseError as exc:
        raise OperationalError(
            f"{name}: exchange refused the markets request: {ccxt_error_text(exc)}"
        ) from exc
    out: dict[str, MarketInfo] = {}
    for symbol, market in markets.items():
        if market.get("spot"):
            out[symbol] = market_info_from_ccxt(name, market, int(exchange.precisionMode))
    if not out:
        raise OperationalError(f"{name}: the exchange listed no spot markets")
    return out


def write_cache(
    path: Path, exchange: str, fetched_at_ms: int, markets: Mapping[str, MarketInfo]
) -> None:
    """Write the cache atomically: a reader never sees half a file."""
    import ccxt  # lazily: ccxt costs ~60 MB and only network paths need it

    doc = {
        "format": CACHE_FORMAT_VERSION,
        "exchange": exchange,
        "fetched_at_ms": fetched_at_ms,
        "ccxt_version": ccxt.__version__,
        "markets": {symbol: info.to_json() for symbol, info in sorted(markets.items())},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_market_metadata(
    exchange: str,
    cache_dir: Path,
    *,
    max_age_hours: float,
    refresh: bool = False,
    base_url: str | None = None,
    timeout_s: float = 15.0,
    clock: Clock | None = None,
) -> MarketMetadata:
    """An exchange's market metadata: from the cache while it is fresh, else fetched.

    When fetching fails and a cache exists, the cache is returned with
    ``stale=True`` and a ``warning`` saying how old it is; with no cache the
    error is raised (``TemporaryError`` for a network failure).
    """
    clock = clock or LiveClock()
    now_ms = clock.time_ns() // 1_000_000
    path = cache_file(cache_dir, exchange)
    try:
        cached = read_cache(path, exchange)
    except OperationalError:
        if not refresh:
            raise
        cached = None
    if cached is not None and not refresh:
        fetched_at_ms, markets = cached
        if now_ms - fetched_at_ms < max_age_hours * _MS_PER_HOUR:
            return MarketMetadata(exchange, fetched_at_ms, markets, True, cache_path=path)
    try:
        markets = fetch_markets(public_exchange(exchange, base_url=base_url, timeout_s=timeout_s))
    except (TemporaryError, OperationalError) as exc:
        if cached is None:
            raise
        fetched_at_ms, markets = cached
        age_h = (now_ms - fetched_at_ms) / _MS_PER_HOUR
        warning = f"{exchange}: using cached metadata {age_h:.1f} h old (STALE): {exc}"
        return MarketMetadata(exchange, fetched_at_ms, markets, True, True, warning, path)
    write_cache(path, exchange, now_ms, markets)
    return MarketMetadata(exchange, now_ms, markets, False, cache_path=path)
