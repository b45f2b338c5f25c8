"""Binance (and Binance.US) wire format for the simulated market.

What a client sees is what ``stream.binance.com`` and ``api.binance.com`` send:

* combined stream ``/stream?streams=btcusdt@depth@100ms/btcusdt@trade`` wrapping each
  payload as ``{"stream": ..., "data": ...}``;
* ``depthUpdate`` diffs every 100 ms of simulated time, carrying the final size of
  each level that changed and the range ``U``..``u`` of update ids they consumed
  (one id per level change, so ranges are contiguous: each ``U`` is the previous
  ``u`` + 1);
* ``trade`` prints the moment a market order fills, one per level it takes;
* REST ``/api/v3/depth`` whose ``lastUpdateId`` is the id of the last change the
  returned book contains, which is what lets a client bridge snapshot and diffs;
* REST ``/api/v3/exchangeInfo`` (what ccxt's ``load_markets`` reads) and
  ``/api/v3/klines`` (1-minute candles of the closed minutes, for a backfill).

Every price and quantity is printed with exactly 8 decimals, as Binance does.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import parse_qs
from zlib import crc32

import orjson

from edge.simulator.candles import SimCandle
from edge.simulator.model import MarketEvent, MarketModel

DEPTH_SUFFIX = "@depth@100ms"
TRADE_SUFFIX = "@trade"
BATCH_NS = 100_000_000
DECIMALS = 8
MAX_REST_LIMIT = 5000


def native(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTCUSDT``."""
    return symbol.replace("/", "")


def parse_streams(query: str) -> list[str]:
    """The stream names of a combined-stream query string (``streams=a/b``)."""
    values = parse_qs(query).get("streams", [])
    return [s for value in values for s in value.split("/") if s]


def _fmt(ticks: int, scale: int) -> str:
    """Integer ticks at the symbol's decimals -> Binance's 8-decimal string."""
    whole, frac = divmod(ticks * scale, 100_000_000)
    return f"{whole}.{frac:08d}"


def _dec(value: Decimal) -> str:
    """A decimal with Binance's 8 decimals (exact for every simulated price and size)."""
    return f"{value.quantize(_EIGHT):f}"


_EIGHT = Decimal(1).scaleb(-DECIMALS)


class BinanceMarket:
    """Binance's view of a simulated market: diff batches, trades, REST bodies.

    One instance serves every connection, because Binance's update ids belong to
    the symbol, not to the socket: two clients see the same ``U``/``u``.
    """

    def __init__(self, market: MarketModel) -> None:
        self.market = market
        self._symbols = {native(s): s for s in market.symbols}
        self._streams = {s: native(s).lower() for s in market.symbols}
        self._scale = {
            s: 10 ** (DECIMALS - m.spec.price_decimals) for s, m in market.models.items()
        }
        self._size_scale = {
            s: 10 ** (DECIMALS - m.spec.size_decimals) for s, m in market.models.items()
        }
        # Update ids start high and differ per symbol, like a venue that has run for years.
        self.update_id = {
            s: 1_000_000 + (crc32(s.encode()) % 900_000) * 1000 for s in market.symbols
        }
        self._first: dict[str, int] = {}
        self._bids: dict[str, dict[int, int]] = {s: {} for s in market.symbols}
        self._asks: dict[str, dict[int, int]] = {s: {} for s in market.symbols}
        self.next_flush_ns = (market.now_ns // BATCH_NS + 1) * BATCH_NS

    # -- names ----------------------------------------------------------------------

    def symbol_of(self, native_name: str) -> str | None:
        """The unified symbol of ``BTCUSDT`` (any case), or None if not simulated."""
        return self._symbols.get(native_name.upper())

    def depth_stream(self, symbol: str) -> str:
        return self._streams[symbol] + DEPTH_SUFFIX

    def trade_stream(self, symbol: str) -> str:
        return self._streams[symbol] + TRADE_SUFFIX

    def known_streams(self) -> set[str]:
        """Every stream name this market publishes."""
        return {self.depth_stream(s) for s in self.market.symbols} | {
            self.trade_stream(s) for s in self.market.symbols
        }

    # -- the stream -----------------------------------------------------------------

    def on_event(self, ev: MarketEvent) -> list[tuple[str, str]]:
        """Take one model event: its changes join the open batch, its fills are
        returned at once as ``(stream, message)`` pairs. Call :meth:`flush_before`
        with the event's time first."""
        symbol = ev.symbol
        n = len(ev.bids) + len(ev.asks)
        if n:
            if symbol not in self._first:
                self._first[symbol] = self.update_id[symbol] + 1
            self.update_id[symbol] += n
            self._bids[symbol].update(ev.bids)
            self._asks[symbol].update(ev.asks)
        if not ev.trades:
            return []
        stream = self.trade_stream(symbol)
        name = native(symbol)
        scale, size_scale = self._scale[symbol], self._size_scale[symbol]
        ms = ev.ts_ns // 1_000_000
        out = []
        for t in ev.trades:
            maker = "false" if t.buyer_taker else "true"  # "m": is the buyer the maker
            out.append(
                (
                    stream,
                    f'{{"stream":"{stream}","data":{{"e":"trade","E":{ms},"s":"{name}",'
                    f'"t":{t.trade_id},"p":"{_fmt(t.price, scale)}",'
                    f'"q":"{_fmt(t.size, size_scale)}","T":{ms},"m":{maker},"M":true}}}}',
                )
            )
        return out

    def flush_before(self, ts_ns: int) -> list[tuple[str, str]]:
        """Close every batch that ends strictly before ``ts_ns``."""
        return self._flush(ts_ns - 1)

    def flush_until(self, ts_ns: int) -> list[tuple[str, str]]:
        """Close every batch that ends at or before ``ts_ns`` (all events up to it seen).

        A batch ending at ``B`` holds the events with times in ``(B - 100 ms, B]``.
        """
        return self._flush(ts_ns)

    def _flush(self, upto_ns: int) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        while self.next_flush_ns <= upto_ns:
            boundary = self.next_flush_ns
            self.next_flush_ns += BATCH_NS
            if self._first:
                out.extend(self._diffs(boundary))
        return out

    def _diffs(self, boundary_ns: int) -> Iterable[tuple[str, str]]:
        ms = boundary_ns // 1_000_000
        for symbol in self.market.symbols:  # fixed order: the stream must not depend on dicts
            first = self._first.pop(symbol, None)
            if first is None:
                continue
            bids, asks = self._bids[symbol], self._asks[symbol]
            scale, size_scale = self._scale[symbol], self._size_scale[symbol]
            b = ",".join(
                f'["{_fmt(p, scale)}","{_fmt(bids[p], size_scale)}"]'
                for p in sorted(bids, reverse=True)
            )
            a = ",".join(
                f'["{_fmt(p, scale)}","{_fmt(asks[p], size_scale)}"]' for p in sorted(asks)
            )
            bids.clear()
            asks.clear()
            stream = self.depth_stream(symbol)
            yield (
                stream,
                f'{{"stream":"{stream}","data":{{"e":"depthUpdate","E":{ms},'
                f'"s":"{native(symbol)}","U":{first},"u":{self.update_id[symbol]},'
                f'"b":[{b}],"a":[{a}]}}}}',
            )

    # -- REST -----------------------------------------------------------------------

    def depth(self, symbol: str, limit: int = 100) -> str:
        """The ``/api/v3/depth`` body: the book as of ``lastUpdateId``.

        The book includes changes of the batch still open, so ``lastUpdateId`` may
        fall inside the next diff's ``U``..``u``, exactly the case Binance documents.
        """
        book = self.market.book(symbol)
        limit = max(1, min(limit, MAX_REST_LIMIT))
        scale, size_scale = self._scale[symbol], self._size_scale[symbol]
        bids = [[_fmt(p, scale), _fmt(s, size_scale)] for p, s in book.top_bids(limit)]
        asks = [[_fmt(p, scale), _fmt(s, size_scale)] for p, s in book.top_asks(limit)]
        body = {"lastUpdateId": self.update_id[symbol], "bids": bids, "asks": asks}
        return orjson.dumps(body).decode()

    def exchange_info(self) -> str:
        """A minimal ``/api/v3/exchangeInfo``: symbols, assets, tick and lot sizes."""
        symbols = []
        for symbol in self.market.symbols:
            base, _, quote = symbol.partition("/")
            tick = _fmt(1, self._scale[symbol])
            lot = _fmt(1, self._size_scale[symbol])
            symbols.append(
                {
                    "symbol": native(symbol),
                    "status": "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": DECIMALS,
                    "quoteAsset": quote,
                    "quotePrecision": DECIMALS,
                    "quoteAssetPrecision": DECIMALS,
                    "orderTypes": ["LIMIT", "MARKET"],
                    "isSpotTradingAllowed": True,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": tick,
                            "maxPrice": "1000000.00000000",
                            "tickSize": tick,
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": lot,
                            "maxQty": "9000000.00000000",
                            "stepSize": lot,
                        },
                    ],
                    "permissions": ["SPOT"],
                }
            )
        return orjson.dumps(
            {
                "timezone": "UTC",
                "serverTime": self.market.now_ns // 1_000_000,
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        ).decode()

    def klines(self, candles: list[SimCandle]) -> str:
        """The ``/api/v3/klines`` body: Binance's 12-column rows, decimals as strings."""
        rows = []
        for item in candles:
            c = item.candle
            rows.append([
                c.open_time_ms, _dec(c.open), _dec(c.high), _dec(c.low), _dec(c.close),
                _dec(c.volume), c.open_time_ms + 59_999, _dec(item.quote_volume), c.trades,
                "0.00000000", "0.00000000", "0",
            ])
        return orjson.dumps(rows).decode()

    def server_time(self) -> str:
        """The ``/api/v3/time`` body (simulated time)."""
        return f'{{"serverTime":{self.market.now_ns // 1_000_000}}}'
