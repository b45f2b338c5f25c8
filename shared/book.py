"""The L2 order book both the edge and the hub use.

Prices and sizes are integer ticks at a fixed number of decimals per book
(``price_decimals``, ``size_decimals``): exact like ``Decimal``, but hashing and
comparing as fast as machine integers. Floats never become keys.

Each side is a ``dict`` (price -> size) plus a sorted ``list`` of its prices.
``bisect.insort`` and ``del list[i]`` run in C (a memmove), so an update costs a
dict write and, for a new or vanished level, a binary search; reading the top of
book is an index, never a sort. That is what lets a pure-Python book keep up with
the ``order-book`` C extension, which re-sorts its keys on every best-price read.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Literal

from shared.errors import BookError, MessageError

Side = Literal["bid", "ask"]
Level = tuple[int, int]

DEFAULT_DECIMALS = 12
"""Scale used when an exchange does not pin the number of decimals it sends."""


def to_ticks(text: str, decimals: int) -> int:
    """Parse a decimal string into integer ticks of ``10**-decimals``.

    Exact: raises :class:`MessageError` if the string has non-zero digits beyond
    ``decimals`` or is not a plain decimal number (no exponent, no sign games).
    """
    dot = text.find(".")
    if dot > 0 and len(text) - dot - 1 == decimals:
        # The common case (exchanges that print a fixed number of decimals): one
        # C-level replace instead of split, pad and join. A second '.' survives
        # the single replace and fails isdigit below.
        digits = text.replace(".", "", 1)
    else:
        whole, _, frac = text.partition(".")
        if len(frac) > decimals:
            if frac[decimals:].strip("0"):
                raise MessageError(f"{text!r} has more than {decimals} decimals")
            frac = frac[:decimals]
        if not (whole or frac):
            raise MessageError(f"{text!r} is not a non-negative decimal number")
        digits = whole + frac + "0" * (decimals - len(frac))
    if not digits.isdigit():
        raise MessageError(f"{text!r} is not a non-negative decimal number")
    return int(digits)


def levels_to_ticks(
    levels: Iterable[Sequence[str]], price_decimals: int, size_decimals: int
) -> list[Level]:
    """``[[price, size, ...], ...]`` strings as (price, size) ticks, exactly.

    The same rules as :func:`to_ticks`, with its fixed-decimals case inlined:
    a 1,000-level REST snapshot is 2,000 numbers, and the per-call overhead is
    most of the cost of loading one.
    """
    out: list[Level] = []
    append = out.append
    for level in levels:
        price, size = level[0], level[1]
        dot = price.find(".")
        if dot > 0 and len(price) - dot - 1 == price_decimals:
            digits = price.replace(".", "", 1)
            p = int(digits) if digits.isdigit() else to_ticks(price, price_decimals)
        else:
            p = to_ticks(price, price_decimals)
        dot = size.find(".")
        if dot > 0 and len(size) - dot - 1 == size_decimals:
            digits = size.replace(".", "", 1)
            q = int(digits) if digits.isdigit() else to_ticks(size, size_decimals)
        else:
            q = to_ticks(size, size_decimals)
        append((p, q))
    return out


def float_to_ticks(value: float | int | str, decimals: int) -> int:
    """Ticks from a JSON number as the exchange sent it (shortest repr of a float).

    ``repr`` of a float parsed from JSON gives back the digits that were sent for
    any price or size with 15 or fewer significant digits.
    """
    if isinstance(value, str):
        return to_ticks(value, decimals)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MessageError(f"{value!r} is not a number")
    text = repr(value) if isinstance(value, float) else str(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return to_ticks(text, decimals)


def ticks_to_str(ticks: int, decimals: int) -> str:
    """Ticks back to a fixed-point string with exactly ``decimals`` decimals."""
    if decimals == 0:
        return str(ticks)
    sign = "-" if ticks < 0 else ""
    whole, frac = divmod(abs(ticks), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def ticks_to_decimal(ticks: int, decimals: int) -> Decimal:
    """Ticks as an exact ``Decimal``."""
    return Decimal(ticks).scaleb(-decimals)


class OrderBook:
    """An exchange's L2 book for one symbol, as integer ticks.

    ``depth`` truncates each side to the subscribed number of levels after every
    update (Kraken requires it for its checksum); ``None`` keeps every level.
    ``sequence`` is the exchange's last applied update id, kept for the feed.
    """

    __slots__ = (
        "_ask_px",
        "_bid_px",
        "asks",
        "bids",
        "depth",
        "exchange",
        "price_decimals",
        "sequence",
        "size_decimals",
        "symbol",
        "ts_exchange_ns",
        "ts_recv_ns",
    )

    def __init__(
        self,
        exchange: str,
        symbol: str,
        *,
        price_decimals: int = DEFAULT_DECIMALS,
        size_decimals: int = DEFAULT_DECIMALS,
        depth: int | None = None,
    ) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.price_decimals = price_decimals
        self.size_decimals = size_decimals
        self.depth = depth
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bid_px: list[int] = []  # ascending; best bid is the last
        self._ask_px: list[int] = []  # ascending; best ask is the first
        self.sequence = 0
        self.ts_exchange_ns = 0
        self.ts_recv_ns = 0

    # -- updates ---------------------------------------------------------------

    def clear(self) -> None:
        """Forget every level (before a snapshot or when a resync starts)."""
        self.bids.clear()
        self.asks.clear()
        self._bid_px.clear()
        self._ask_px.clear()
        self.sequence = 0

    def set_bid(self, price: int, size: int) -> None:
        """Set one bid level; size 0 deletes it (deleting a missing level is a no-op)."""
        bids = self.bids
        if size:
            if size < 0:
                raise BookError(f"{self.symbol}: negative bid size {size} at {price}")
            if price not in bids:
                insort(self._bid_px, price)
                bids[price] = size
                depth = self.depth
                if depth is not None and len(bids) > depth:
                    self._truncate_bids(depth)
            else:
                bids[price] = size
        elif bids.pop(price, None) is not None:
            px = self._bid_px
            del px[bisect_left(px, price)]

    def set_ask(self, price: int, size: int) -> None:
        """Set one ask level; size 0 deletes it (deleting a missing level is a no-op)."""
        asks = self.asks
        if size:
            if size < 0:
                raise BookError(f"{self.symbol}: negative ask size {size} at {price}")
            if price not in asks:
                insort(self._ask_px, price)
                asks[price] = size
                depth = self.depth
                if depth is not None and len(asks) > depth:
                    self._truncate_asks(depth)
            else:
                asks[price] = size
        elif asks.pop(price, None) is not None:
            px = self._ask_px
            del px[bisect_left(px, price)]

    def apply(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Apply one update's level changes (size 0 deletes), bids then asks.

        The same result as ``set_bid``/``set_ask`` per level, in one call: a feed's
        diff touches tens of levels, and the call per level is most of their cost.
        With a ``depth``, the book is truncated once, after the whole update.
        """
        symbol = self.symbol
        for levels, book, px, side in ((bids, self.bids, self._bid_px, "bid"),
                                       (asks, self.asks, self._ask_px, "ask")):
            for price, size in levels:
                if size:
                    if size < 0:
                        raise BookError(f"{symbol}: negative {side} size {size} at {price}")
                    if price not in book:
                        insort(px, price)
                    book[price] = size
                elif book.pop(price, None) is not None:
                    del px[bisect_left(px, price)]
        depth = self.depth
        if depth is not None:
            self._truncate_bids(depth)
            self._truncate_asks(depth)

    def set(self, side: Side, price: int, size: int) -> None:
        """Set a level on ``side``."""
        if side == "bid":
            self.set_bid(price, size)
        else:
            self.set_ask(price, size)

    def load_snapshot(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book with a snapshot (zero sizes are skipped)."""
        self.clear()
        for price, size in bids:
            if size < 0:
                raise BookError(f"{self.symbol}: negative bid size in snapshot at {price}")
            if size:
                self.bids[price] = size
        for price, size in asks:
            if size < 0:
                raise BookError(f"{self.symbol}: negative ask size in snapshot at {price}")
            if size:
                self.asks[price] = size
        self._bid_px = sorted(self.bids)
        self._ask_px = sorted(self.asks)
        if self.depth is not None:
            self._truncate_bids(self.depth)
            self._truncate_asks(self.depth)

    def truncate(self, depth: int) -> tuple[bool, bool]:
        """Keep the best ``depth`` levels of each side; whether bids, asks were cut."""
        cut = len(self._bid_px) > depth, len(self._ask_px) > depth
        self._truncate_bids(depth)
        self._truncate_asks(depth)
        return cut

    def keep_within(self, bid_floor: int | None, ask_ceiling: int | None) -> None:
        """Drop bids below ``bid_floor`` and asks above ``ask_ceiling`` (None: none)."""
        if bid_floor is not None:
            px = self._bid_px
            cut = bisect_left(px, bid_floor)
            if cut:
                bids = self.bids
                for price in px[:cut]:
                    del bids[price]
                del px[:cut]
        if ask_ceiling is not None:
            px = self._ask_px
            cut = bisect_right(px, ask_ceiling)
            if cut < len(px):
                asks = self.asks
                for price in px[cut:]:
                    del asks[price]
                del px[cut:]

    def _truncate_bids(self, depth: int) -> None:
        px = self._bid_px
        excess = len(px) - depth
        if excess > 0:
            bids = self.bids
            for price in px[:excess]:
                del bids[price]
            del px[:excess]

    def _truncate_asks(self, depth: int) -> None:
        px = self._ask_px
        if len(px) > depth:
            asks = self.asks
            for price in px[depth:]:
                del asks[price]
            del px[depth:]

    # -- reads -----------------------------------------------------------------

    def best_bid(self) -> Level | None:
        """(price, size) of the highest bid, or None."""
        px = self._bid_px
        if px:
            price = px[-1]
            return price, self.bids[price]
        return None

    def best_ask(self) -> Level | None:
        """(price, size) of the lowest ask, or None."""
        px = self._ask_px
        if px:
            price = px[0]
            return price, self.asks[price]
        return None

    def best_bid_price(self) -> int | None:
        px = self._bid_px
        return px[-1] if px else None

    def best_ask_price(self) -> int | None:
        px = self._ask_px
        return px[0] if px else None

    def is_crossed(self) -> bool:
        """True when both sides exist and best bid >= best ask."""
        bp, ap = self._bid_px, self._ask_px
        return bool(bp and ap and bp[-1] >= ap[0])

    def top_bids(self, n: int) -> list[Level]:
        """The best ``n`` bids, best first."""
        bids = self.bids
        px = self._bid_px
        return [(p, bids[p]) for p in reversed(px[-n:])] if n > 0 else []

    def top_asks(self, n: int) -> list[Level]:
        """The best ``n`` asks, best first."""
        asks = self.asks
        return [(p, asks[p]) for p in self._ask_px[:n]]

    def bid_prices(self) -> Sequence[int]:
        """All bid prices, ascending (best last). Do not mutate."""
        return self._bid_px

    def ask_prices(self) -> Sequence[int]:
        """All ask prices, ascending (best first). Do not mutate."""
        return self._ask_px

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)

    def mid(self) -> Decimal | None:
        """Mid price as Decimal, or None when a side is empty."""
        bp, ap = self._bid_px, self._ask_px
        if not (bp and ap):
            return None
        return ticks_to_decimal(bp[-1] + ap[0], self.price_decimals) / 2

    def spread_ticks(self) -> int | None:
        bp, ap = self._bid_px, self._ask_px
        if not (bp and ap):
            return None
        return ap[0] - bp[-1]

    def depth_within(self, bps: float) -> tuple[int, int]:
        """Total bid and ask size (ticks) within ``bps`` basis points of the mid."""
        bp, ap = self._bid_px, self._ask_px
        if not (bp and ap):
            return 0, 0
        mid2 = bp[-1] + ap[0]  # twice the mid, in ticks, to stay integral
        lo = (mid2 * (10_000 - bps)) / 20_000
        hi = (mid2 * (10_000 + bps)) / 20_000
        bid_total = sum(self.bids[p] for p in bp[bisect_left(bp, lo) :])
        ask_total = sum(self.asks[p] for p in ap[: bisect_right(ap, hi)])
        return bid_total, ask_total

    def imbalance(self, levels: int = 10) -> float | None:
        """(bid size - ask size) / (bid size + ask size) over the top ``levels``."""
        b = sum(s for _, s in self.top_bids(levels))
        a = sum(s for _, s in self.top_asks(levels))
        if a + b == 0:
            return None
        return (b - a) / (b + a)

    def microprice(self) -> Decimal | None:
        """Size-weighted mid: best bid * ask size + best ask * bid size, over both sizes."""
        bb, ba = self.best_bid(), self.best_ask()
        if bb is None or ba is None:
            return None
        (bpx, bsz), (apx, asz) = bb, ba
        num = Decimal(bpx * asz + apx * bsz)
        return (num / (bsz + asz)).scaleb(-self.price_decimals)

    # -- conversions -------------------------------------------------------------

    def price(self, ticks: int) -> Decimal:
        return ticks_to_decimal(ticks, self.price_decimals)

    def size(self, ticks: int) -> Decimal:
        return ticks_to_decimal(ticks, self.size_decimals)

    def levels_as_strings(self, n: int) -> tuple[list[list[str]], list[list[str]]]:
        """Top ``n`` of each side as ``[[price, size], ...]`` fixed-point strings."""
        pd, sd = self.price_decimals, self.size_decimals
        bids = [[ticks_to_str(p, pd), ticks_to_str(s, sd)] for p, s in self.top_bids(n)]
        asks = [[ticks_to_str(p, pd), ticks_to_str(s, sd)] for p, s in self.top_asks(n)]
        return bids, asks

    def snapshot_levels(self) -> tuple[list[Level], list[Level]]:
        """Every level of each side, best first: feed it to :meth:`load_snapshot`."""
        return self.top_bids(len(self._bid_px)), self.top_asks(len(self._ask_px))

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.exchange}:{self.symbol}, bids={len(self.bids)}, "
            f"asks={len(self.asks)}, best={self.best_bid()}/{self.best_ask()})"
        )
