"""Kraken's wire details for :mod:`edge.feeds.kraken`: names, depths, messages, precision.

Split out so the feed module holds only the book-sync state machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zlib import crc32

import orjson

from shared.book import float_to_ticks

V1_URL = "wss://ws.kraken.com"
V2_URL = "wss://ws.kraken.com/v2"
DEPTHS = (10, 25, 100, 500, 1000)
"""Book depths Kraken accepts (v1 and v2)."""

_V1_ASSET = {"BTC": "XBT", "DOGE": "XDG"}
_UNIFIED_ASSET = {v1: unified for unified, v1 in _V1_ASSET.items()}
ASSET_ALIASES: dict[str, str] = {
    **_UNIFIED_ASSET,
    # REST asset ids of the oldest assets carry an X (crypto) or Z (fiat) prefix.
    "XXBT": "BTC", "XXDG": "DOGE", "XETH": "ETH", "XLTC": "LTC", "XXRP": "XRP",
    "XXLM": "XLM", "XXMR": "XMR", "XETC": "ETC", "XZEC": "ZEC", "XREP": "REP",
    "ZUSD": "USD", "ZEUR": "EUR", "ZGBP": "GBP", "ZJPY": "JPY", "ZCAD": "CAD",
}
"""Kraken's asset codes (WebSocket v1, REST) -> unified ones."""
_SCALE = 18  # decimals used to read a v2 number once, before its precision is known


def to_v1_pair(symbol: str) -> str:
    """Unified ``BTC/USD`` -> Kraken v1 ``XBT/USD`` (v2 uses the unified name)."""
    base, _, quote = symbol.partition("/")
    return f"{_V1_ASSET.get(base, base)}/{_V1_ASSET.get(quote, quote)}"


def from_v1_pair(pair: str) -> str:
    """Kraken v1 ``XDG/XBT`` -> unified ``DOGE/BTC``."""
    base, _, quote = pair.partition("/")
    return f"{_UNIFIED_ASSET.get(base, base)}/{_UNIFIED_ASSET.get(quote, quote)}"


def kraken_depth(requested: int) -> int:
    """The smallest depth Kraken accepts that holds ``requested`` levels (at most 1000)."""
    for depth in DEPTHS:
        if depth >= requested:
            return depth
    return DEPTHS[-1]


def str_decimals(text: str) -> int:
    """Digits after the point in a decimal string."""
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def v2_message(method: str, **params: Any) -> str:
    """A v2 request, e.g. ``{"method":"subscribe","params":{"channel":"book",...}}``."""
    return orjson.dumps({"method": method, "params": params}).decode()


def v1_message(event: str, pairs: list[str], subscription: dict[str, Any]) -> str:
    """A v1 request, e.g. ``{"event":"subscribe","pair":[...],"subscription":{...}}``."""
    return orjson.dumps({"event": event, "pair": pairs, "subscription": subscription}).decode()


def _needed_decimals(values: Iterable[int]) -> int:
    """Decimals the widest value needs, given values read at ``_SCALE`` decimals."""
    need = 0
    for value in values:
        if value:
            text = str(value)
            need = max(need, _SCALE - (len(text) - len(text.rstrip("0"))))
    return need


def infer_precision(
    bids: Sequence[Mapping[str, Any]], asks: Sequence[Mapping[str, Any]], checksum: int
) -> tuple[int, int] | None:
    """(price, qty) precision that reproduces a v2 snapshot's checksum, or None.

    JSON numbers lose trailing zeros, so the digits seen are only a lower bound;
    every precision from there up to 12 is tried against the exchange's CRC32.
    A wrong guess passing by chance is a 1-in-2**32 event per try.
    """
    top_asks = sorted(
        (float_to_ticks(x["price"], _SCALE), float_to_ticks(x["qty"], _SCALE)) for x in asks
    )[:10]
    top_bids = sorted(
        ((float_to_ticks(x["price"], _SCALE), float_to_ticks(x["qty"], _SCALE)) for x in bids),
        reverse=True,
    )[:10]
    levels = top_asks + top_bids
    if not levels:
        return None
    p_min = _needed_decimals(p for p, _ in levels)
    q_min = _needed_decimals(q for _, q in levels)
    for pd in range(p_min, max(p_min, 12) + 1):
        for qd in range(q_min, max(q_min, 12) + 1):
            p_div, q_div = 10 ** (_SCALE - pd), 10 ** (_SCALE - qd)
            text = "".join(f"{p // p_div}{q // q_div}" for p, q in levels)
            if crc32(text.encode()) == checksum:
                return pd, qd
    return None
