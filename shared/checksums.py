"""Exchange checksum functions over an :class:`~shared.book.OrderBook`.

Each exchange that publishes a book checksum defines it over the top levels as
it formats them. Because a book keeps integer ticks at the exchange's own number
of decimals, "price as sent with the '.' removed and leading zeros stripped" is
simply ``str(ticks)``.
"""

from __future__ import annotations

from zlib import crc32

from shared.book import OrderBook, ticks_to_str


def kraken(book: OrderBook, levels: int = 10) -> int:
    """Kraken's CRC32 (WS v1 and v2): top asks ascending, then top bids descending.

    For each level, price then quantity, each formatted to the pair's precision
    with the decimal point removed and leading zeros stripped. The book must use
    the pair's price and quantity precision as its decimals.
    """
    asks, bids = book.asks, book.bids
    parts = [f"{p}{asks[p]}" for p in book.ask_prices()[:levels]]
    parts += [f"{p}{bids[p]}" for p in reversed(book.bid_prices()[-levels:])]
    return crc32("".join(parts).encode())


def okx(book: OrderBook, levels: int = 25) -> int:
    """OKX's signed CRC32 of ``bid_px:bid_sz:ask_px:ask_sz:...`` over 25 levels.

    OKX formats numbers without trailing zeros; the strings are rebuilt that way.
    """
    pd, sd = book.price_decimals, book.size_decimals

    def fmt(ticks: int, decimals: int) -> str:
        text = ticks_to_str(ticks, decimals)
        return text.rstrip("0").rstrip(".") if "." in text else text

    bids, asks = book.top_bids(levels), book.top_asks(levels)
    parts: list[str] = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts += (fmt(bids[i][0], pd), fmt(bids[i][1], sd))
        if i < len(asks):
            parts += (fmt(asks[i][0], pd), fmt(asks[i][1], sd))
    value = crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value
