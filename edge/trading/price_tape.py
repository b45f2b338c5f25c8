"""The market's price as a backtest saw it: for the price chart and the buy-and-hold row.

:meth:`PriceTape.watch` passes the backtest's events through untouched and keeps,
for the one market the report is about, the candles' prices (each bar's open at
its open time, its close at its close time), else the first trade of each
minute, else the book's mid at the first update of each minute. A minute's
sampling keeps a long book replay's tape small (16 bytes a point); a trade or a
book update costs two comparisons.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

from shared.book import OrderBook
from shared.marketdata import Candle, Trade
from shared.trading.backtest import BOOK, CANDLE, TRADE, Event

MINUTE_NS = 60 * 1_000_000_000


class _Series:
    __slots__ = ("prices", "times")

    def __init__(self) -> None:
        self.times = array("q")
        self.prices = array("d")

    def add(self, ts_ns: int, price: float) -> None:
        self.times.append(ts_ns)
        self.prices.append(price)


class PriceTape:
    """Prices of ``exchange``:``symbol`` from the events :meth:`watch` passes on."""

    def __init__(self, exchange: str, symbol: str) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self._candles = _Series()
        self._trades = _Series()
        self._books = _Series()
        self._next_trade = 0
        self._next_book = 0

    def watch(self, events: Iterable[Event]) -> Iterator[Event]:
        """The same events, in the same order, noting the prices on the way."""
        exchange, symbol = self.exchange, self.symbol
        for event in events:
            ts, kind, payload = event
            if kind == CANDLE:
                candle: Candle = payload  # type: ignore[assignment]
                if candle.symbol == symbol and candle.exchange == exchange:
                    self._candles.add(candle.open_time_ms * 1_000_000, float(candle.open))
                    self._candles.add(ts, float(candle.close))
            elif kind == TRADE:
                if ts >= self._next_trade:
                    trade: Trade = payload  # type: ignore[assignment]
                    if trade.symbol == symbol and trade.exchange == exchange:
                        self._trades.add(ts, float(trade.price))
                        self._next_trade = ts - ts % MINUTE_NS + MINUTE_NS
            elif kind == BOOK and ts >= self._next_book:
                self._book(ts, payload)  # type: ignore[arg-type]
            yield event

    def _book(self, ts: int, book: OrderBook) -> None:
        if book.symbol != self.symbol or book.exchange != self.exchange:
            return
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is None or ask is None:
            return
        self._books.add(ts, float(book.price(bid + ask)) / 2)
        self._next_book = ts - ts % MINUTE_NS + MINUTE_NS

    def series(self) -> tuple[array[int], array[float]]:
        """(times in ns, prices), oldest first: candles, else trades, else book mids."""
        for series in (self._candles, self._trades, self._books):
            if series.times:
                return series.times, series.prices
        return array("q"), array("d")

    def last(self) -> float | None:
        """The last price seen, or ``None``."""
        _, prices = self.series()
        return prices[-1] if prices else None
