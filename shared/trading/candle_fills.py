"""Candle-only fills: the approximation used when there is no order book.

Long real histories are often only 1-minute candles. Without a book or prints
there is no queue, no depth and no order of events inside a bar, so candle mode
is an approximation, and backtest reports say so:

* an order decided at or before a bar's open meets that bar: a market order
  fills in full at the open moved against it by ``candle_slippage_bps`` (buys
  up, sells down), as taker; the slippage stands in for spread, depth and
  latency, all of which are far below a bar's resolution;
* a limit (or take-profit) fills in full, as maker at its own price, once a
  bar's range touches it; one already through at the open takes like a market
  order, but never beyond its limit;
* a stop triggers when a bar's range reaches it and fills at the stop moved by
  the slippage, or at the (slipped) open when the bar gapped through it;
* within one bar, stops are handled before limits: a bar that reaches both legs
  of a bracket is assumed to have hit the stop first, the worse case;
* fill prices are rounded against the order to the tick and kept inside the
  bar's range;
* a bar reaches the broker at its close, when it is known, but its fills (and
  the order events they cause) are stamped at its open: a market order decided
  on bar N's close fills at bar N+1's open price and time, and a stop or limit
  touched inside a bar, which has no order of events, gets the bar's open time too.
"""

from __future__ import annotations

from decimal import Decimal

from shared.marketdata import Candle
from shared.trading.instrument import ceil_to_step, floor_to_step

_BPS = Decimal(10_000)


def slippage_fraction(bps: float) -> Decimal:
    """A config's basis points as an exact fraction (``repr`` keeps the digits as written)."""
    return Decimal(repr(bps)) / _BPS


def slipped(price: Decimal, side: str, slip: Decimal, tick: Decimal, candle: Candle) -> Decimal:
    """``price`` moved against a ``side`` order by ``slip``, on the tick, inside the bar."""
    if side == "buy":
        return min(ceil_to_step(price * (1 + slip), tick), max(candle.high, price))
    return max(floor_to_step(price * (1 - slip), tick), min(candle.low, price))


def marketable_at_open(candle: Candle, side: str, limit: Decimal) -> bool:
    """Whether a limit meets the market as soon as the bar opens."""
    return candle.open <= limit if side == "buy" else candle.open >= limit


def limit_touched(candle: Candle, side: str, limit: Decimal) -> bool:
    """Whether the bar's range reached a resting limit."""
    return candle.low <= limit if side == "buy" else candle.high >= limit


def stop_reference(candle: Candle, side: str, stop: Decimal) -> Decimal | None:
    """The price a stop fills from in this bar before slippage, or ``None`` if untouched.

    A sell stop sits below the market: the open when the bar opened at or below
    it (a gap), else the stop itself when the low reached it. A buy stop mirrors it.
    """
    if side == "sell":
        if candle.open <= stop:
            return candle.open
        return stop if candle.low <= stop else None
    if candle.open >= stop:
        return candle.open
    return stop if candle.high >= stop else None
