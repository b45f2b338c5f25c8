"""Kraken's public REST API for the simulated market, as ccxt calls it.

``/0/public/Assets`` and ``/0/public/AssetPairs`` are what ``load_markets`` reads;
``/0/public/OHLC`` gives 1-minute candles for a backfill; ``/0/public/Time`` the
server time. Every body is ``{"error": [...], "result": ...}`` with HTTP 200, errors
included, as Kraken answers.

Kraken's REST names are not the WebSocket v2 ones: Bitcoin is ``XBT`` (asset id
``XXBT``), Dogecoin ``XDG``, and the oldest assets carry an ``X`` (crypto) or
``Z`` (fiat) prefix in their ids. A pair's id is its altname (``XBTUSDT``), except
between two prefixed assets (``XXBTZUSD``). Prices are strings with the pair's
decimals, volumes with 8.

``OHLC`` returns at most 720 closed minutes after ``since`` (seconds, exclusive),
and ``last``, the open time of the last one. Unlike Kraken, which only ever keeps
the latest 720, the simulator pages through all it has, so a backfill can cover
the whole run.
"""

from __future__ import annotations

from decimal import Decimal
from email.utils import formatdate

import orjson

from edge.simulator.candles import CandleHistory
from edge.simulator.model import MarketModel

MAX_OHLC = 720
_REST_NAME = {"BTC": "XBT", "DOGE": "XDG"}
_PREFIXED = {
    "XBT": "XXBT", "ETH": "XETH", "LTC": "XLTC", "XDG": "XXDG", "XRP": "XXRP",
    "USD": "ZUSD", "EUR": "ZEUR", "GBP": "ZGBP", "JPY": "ZJPY", "CAD": "ZCAD",
}


def asset_id(asset: str) -> tuple[str, str]:
    """Unified ``BTC`` -> Kraken REST (id, altname): ``("XXBT", "XBT")``."""
    alt = _REST_NAME.get(asset, asset)
    return _PREFIXED.get(alt, alt), alt


def pair_id(symbol: str) -> str:
    """Unified ``BTC/USDT`` -> ``XBTUSDT``; ``BTC/USD`` -> ``XXBTZUSD``."""
    base, _, quote = symbol.partition("/")
    (base_id, base_alt), (quote_id, quote_alt) = asset_id(base), asset_id(quote)
    if base_id != base_alt and quote_id != quote_alt:
        return base_id + quote_id
    return base_alt + quote_alt


def _body(result: object = None, error: str | None = None) -> str:
    doc = {"error": [error] if error else [], **({} if error else {"result": result})}
    return orjson.dumps(doc).decode()


class KrakenRest:
    """Answers Kraken's public REST endpoints from the simulated market."""

    def __init__(self, market: MarketModel, candles: CandleHistory) -> None:
        self.market = market
        self.candles = candles
        self.pairs = {pair_id(s): s for s in market.symbols}
        self._names = {
            name: s for s in market.symbols for name in (pair_id(s), *self._alt_names(s))
        }

    @staticmethod
    def _alt_names(symbol: str) -> tuple[str, str]:
        base, _, quote = symbol.partition("/")
        base_alt, quote_alt = asset_id(base)[1], asset_id(quote)[1]
        return base_alt + quote_alt, f"{base_alt}/{quote_alt}"

    def symbol_of(self, pair: str) -> str | None:
        """The unified symbol of a pair id, altname or wsname (``XBT/USDT``)."""
        return self._names.get(pair.upper())

    def get(self, endpoint: str, query: dict[str, str]) -> str | None:
        """The body for ``/0/public/<endpoint>``, or None for an unknown endpoint."""
        if endpoint == "Time":
            seconds = self.market.now_ns // 1_000_000_000
            return _body({"unixtime": seconds, "rfc1123": formatdate(seconds, usegmt=True)})
        if endpoint == "Assets":
            return _body(self._assets())
        if endpoint == "AssetPairs":
            return _body(self._asset_pairs())
        if endpoint == "OHLC":
            return self._ohlc(query)
        return None

    def _assets(self) -> dict[str, object]:
        assets: dict[str, object] = {}
        for symbol in self.market.symbols:
            for asset in symbol.split("/"):
                ident, alt = asset_id(asset)
                assets[ident] = {
                    "aclass": "currency", "altname": alt, "decimals": 10,
                    "display_decimals": 5, "status": "enabled",
                }
        return assets

    def _asset_pairs(self) -> dict[str, object]:
        pairs: dict[str, object] = {}
        for ident, symbol in self.pairs.items():
            spec = self.market.models[symbol].spec
            base, _, quote = symbol.partition("/")
            tick = Decimal(1).scaleb(-spec.price_decimals)
            lot = Decimal(1).scaleb(-spec.size_decimals)
            pairs[ident] = {
                "altname": self._alt_names(symbol)[0], "wsname": self._alt_names(symbol)[1],
                "aclass_base": "currency", "base": asset_id(base)[0],
                "aclass_quote": "currency", "quote": asset_id(quote)[0], "lot": "unit",
                "cost_decimals": 5, "pair_decimals": spec.price_decimals,
                "lot_decimals": spec.size_decimals, "lot_multiplier": 1,
                "leverage_buy": [], "leverage_sell": [],
                "fees": [[0, 0.26], [50000, 0.24]], "fees_maker": [[0, 0.16], [50000, 0.14]],
                "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
                "ordermin": f"{lot:f}", "costmin": "0.5", "tick_size": f"{tick:f}",
                "status": "online",
            }
        return pairs

    def _ohlc(self, query: dict[str, str]) -> str:
        symbol = self.symbol_of(query.get("pair", ""))
        if symbol is None:
            return _body(error="EQuery:Unknown asset pair")
        if query.get("interval", "1") != "1":
            return _body(error="EGeneral:Invalid arguments:interval")
        try:
            since_s = int(query["since"]) if "since" in query else None
        except ValueError:
            return _body(error="EGeneral:Invalid arguments:since")
        start_ms = None if since_s is None else (since_s + 1) * 1000
        rows = self.candles.between(symbol, start_ms, None, MAX_OHLC)
        decimals = self.market.models[symbol].spec.price_decimals

        def price(value: Decimal) -> str:
            return f"{value.quantize(Decimal(1).scaleb(-decimals)):f}"

        ohlc = [
            [
                r.candle.open_time_ms // 1000, price(r.candle.open), price(r.candle.high),
                price(r.candle.low), price(r.candle.close), price(r.vwap),
                f"{r.candle.volume.quantize(Decimal('1e-8')):f}", r.candle.trades,
            ]
            for r in rows
        ]
        last = ohlc[-1][0] if ohlc else (since_s or 0)
        ident = pair_id(symbol)
        return _body({ident: ohlc, "last": last})
