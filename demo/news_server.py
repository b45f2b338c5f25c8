"""The demo's news: two RSS feeds of crypto headlines on a loopback HTTP server.

``tickerml demo`` runs offline, so its agents harvest from this server instead of
the publishers in ``news.feeds``' defaults. It behaves like a publisher where the
harvester cares: each feed starts with a backlog of headlines dated over the last
hours and grows as the demo runs (``markets-wire`` every few seconds, ``policy-desk``
rarely), and each answers with an ETag and a Last-Modified, so a harvest that finds
nothing new gets ``304 Not Modified``. :attr:`NewsFeedServer.answers` counts the
statuses sent, for the demo's summary.

The headlines were written for this demo; none is copied from a news site or a
data set. Their links point at ``.example`` domains, which never resolve.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape


@dataclass(frozen=True, slots=True)
class DemoHeadline:
    """One feed item and when it appears."""

    offset_s: float
    """Seconds after the server started that the item is published; negative ones
    are the backlog, already in the feed (and dated that long ago) at start."""
    title: str
    slug: str


def _minutes_ago(minutes: float) -> float:
    return -60.0 * minutes


FEEDS: dict[str, tuple[DemoHeadline, ...]] = {
    "markets-wire": (
        DemoHeadline(_minutes_ago(352), "What the halving means for Bitcoin miners' margins",
                     "halving-miner-margins-explained"),
        DemoHeadline(_minutes_ago(318), "Bitcoin dominance holds near 54% while altcoins trade "
                     "sideways", "btc-dominance-54"),
        DemoHeadline(_minutes_ago(290), "Spot Ethereum ETFs record third straight day of "
                     "outflows", "eth-etf-outflows-third-day"),
        DemoHeadline(_minutes_ago(256), "Solana stablecoin supply doubles in three months",
                     "solana-stablecoin-supply-doubles"),
        DemoHeadline(_minutes_ago(231), "Bitcoin miners sell reserves as hashprice falls to a "
                     "yearly low", "miners-sell-reserves-hashprice-low"),
        DemoHeadline(_minutes_ago(204), "Options traders bet on ETH reaching $4,500 by the end "
                     "of the quarter", "eth-options-4500-calls"),
        DemoHeadline(_minutes_ago(177), "Ethereum gas fees drop to their lowest level since "
                     "2020", "eth-gas-fees-lowest-since-2020"),
        DemoHeadline(_minutes_ago(150), "Crypto liquidations reach $600 million as Bitcoin "
                     "briefly dips under $66,000", "liquidations-600m-btc-dips"),
        DemoHeadline(_minutes_ago(121), "SOL rebounds 9% after the network clears its "
                     "transaction backlog", "sol-rebounds-9pct"),
        DemoHeadline(_minutes_ago(96), "Bitcoin trades flat ahead of the Fed minutes",
                     "btc-flat-fed-minutes"),
        DemoHeadline(_minutes_ago(71), "BTC funding rates turn negative as traders pile into "
                     "shorts", "btc-funding-negative"),
        DemoHeadline(_minutes_ago(48), "Ether slips 4% after a large holder moves 40,000 ETH "
                     "to exchanges", "ether-slips-whale-deposit"),
        DemoHeadline(_minutes_ago(26), "Solana DEX volume hits a record as memecoin trading "
                     "surges", "solana-dex-volume-record"),
        DemoHeadline(_minutes_ago(9), "Bitcoin climbs above $71,000 as spot ETF inflows top "
                     "$400 million", "btc-71000-etf-inflows"),
        DemoHeadline(6, "Bitcoin tops $72,000 in early Asia trading", "btc-tops-72000-asia"),
        DemoHeadline(12, "ETH/BTC ratio sinks to a three-year low", "eth-btc-ratio-low"),
        DemoHeadline(18, "Solana futures open interest climbs to a record $4 billion",
                     "sol-futures-oi-record"),
        DemoHeadline(24, "Bitcoin whales add 20,000 BTC in a week, on-chain data shows",
                     "btc-whales-accumulate"),
        DemoHeadline(30, "Ether steady near $3,500 as traders await the upgrade date",
                     "ether-steady-3500"),
        DemoHeadline(36, "Bitcoin drops 3% as US Treasury yields jump",
                     "btc-drops-treasury-yields"),
        DemoHeadline(42, "SOL falls 7% after a large token unlock", "sol-falls-token-unlock"),
        DemoHeadline(48, "Crypto market cap returns to $2.5 trillion as Bitcoin and Ether "
                     "rally", "market-cap-2-5-trillion"),
        DemoHeadline(54, "Bitcoin ETF net flows flat for the session", "btc-etf-flows-flat"),
        DemoHeadline(60, "Ethereum staking deposits reach a new high", "eth-staking-high"),
        DemoHeadline(66, "Solana outage halts block production for two hours",
                     "solana-outage-two-hours"),
        DemoHeadline(72, "Bitcoin hovers near $70,000 as volumes thin into the weekend",
                     "btc-hovers-70000"),
    ),
    "policy-desk": (
        DemoHeadline(_minutes_ago(341), "Tax agency issues new guidance on reporting crypto "
                     "staking rewards", "staking-tax-guidance"),
        DemoHeadline(_minutes_ago(297), "Exchange halts withdrawals after a $30 million "
                     "hot-wallet hack", "exchange-hack-withdrawals-halted"),
        DemoHeadline(_minutes_ago(262), "SEC approves options trading on spot Bitcoin ETFs",
                     "sec-approves-btc-etf-options"),
        DemoHeadline(_minutes_ago(228), "EU regulators publish final stablecoin rules",
                     "eu-final-stablecoin-rules"),
        DemoHeadline(_minutes_ago(199), "Court dismisses lawsuit against Ethereum developers",
                     "court-dismisses-eth-dev-lawsuit"),
        DemoHeadline(_minutes_ago(166), "DeFi protocol on Solana loses $12 million in an "
                     "oracle exploit", "solana-defi-oracle-exploit"),
        DemoHeadline(_minutes_ago(138), "Ethereum developers set a date for the next network "
                     "upgrade", "eth-upgrade-date-set"),
        DemoHeadline(_minutes_ago(112), "State regulator fines crypto lender $10 million over "
                     "unregistered securities", "lender-fined-10m"),
        DemoHeadline(_minutes_ago(83), "Major bank launches Bitcoin custody for institutional "
                     "clients", "bank-launches-btc-custody"),
        DemoHeadline(_minutes_ago(57), "Central bank warns citizens about unlicensed crypto "
                     "exchanges", "central-bank-warning"),
        DemoHeadline(_minutes_ago(33), "Payments firm adds Solana settlement for merchants",
                     "payments-solana-settlement"),
        DemoHeadline(_minutes_ago(14), "Solana validators vote on a fee-burn change",
                     "solana-fee-burn-vote"),
        DemoHeadline(24, "SEC delays decision on spot Solana ETF applications",
                     "sec-delays-sol-etf"),
        DemoHeadline(60, "Ethereum client bug briefly takes 8% of validators offline",
                     "eth-client-bug-validators"),
        DemoHeadline(90, "Bitcoin Core release speeds up block validation",
                     "bitcoin-core-release"),
    ),
}
"""Feed name → its items, oldest first."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Without it, loopback adds the client's delayed-ACK wait (~40 ms) to each answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo draws its own screen; :attr:`NewsFeedServer.answers` counts."""

    def do_GET(self) -> None:
        owner = self.server.owner
        name = self.path.split("?", 1)[0].strip("/").removesuffix(".rss")
        if name not in FEEDS:
            self._answer(404, b"no such feed\n", {"Content-Type": "text/plain"})
            return
        items = owner.published(name)
        newest = owner.started_wall + items[-1].offset_s
        validators = {
            "ETag": f'"{name}-{len(items)}"',
            "Last-Modified": formatdate(newest, usegmt=True),
        }
        tag = self.headers.get("If-None-Match")
        since = self.headers.get("If-Modified-Since")
        fresh = tag == validators["ETag"] if tag else since == validators["Last-Modified"]
        if fresh:
            owner.count(name, 304)
            self._answer(304, b"", validators)
            return
        owner.count(name, 200)
        body = owner.document(name, items)
        self._answer(200, body, {"Content-Type": "application/rss+xml; charset=utf-8",
                                 **validators})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: NewsFeedServer


class NewsFeedServer:
    """The feeds on ``127.0.0.1:<free port>``, served from a daemon thread.

    ``start()`` then :meth:`url` per feed; ``stop()`` when done.
    """

    def __init__(self) -> None:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.1,), name="news-feeds", daemon=True
        )
        self._lock = threading.Lock()
        self.answers: dict[str, Counter[int]] = {name: Counter() for name in FEEDS}
        """Feed → HTTP status → answers sent (200: a document, 304: not modified)."""
        # Wall time dates the items (pubDate, Last-Modified); the monotonic clock says
        # which have appeared, so a clock step cannot unpublish one.
        self.started_wall = time.time()
        self._started = time.monotonic()

    def url(self, name: str) -> str:
        """The URL of feed ``name``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/{name}.rss"

    def start(self) -> NewsFeedServer:
        self.started_wall = time.time()
        self._started = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.ident is not None:
            self._httpd.shutdown()
            self._thread.join(10)
        self._httpd.server_close()

    def published(self, name: str) -> list[DemoHeadline]:
        """Feed ``name``'s items that have appeared by now, oldest first."""
        elapsed = time.monotonic() - self._started
        return [item for item in FEEDS[name] if item.offset_s <= elapsed]

    def count(self, name: str, status: int) -> None:
        with self._lock:
            self.answers[name][status] += 1

    def document(self, name: str, items: list[DemoHeadline]) -> bytes:
        """The RSS 2.0 document of ``items``, newest first as publishers list them."""
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<rss version="2.0"><channel>',
            f"<title>{name} (TickerML demo)</title><link>https://{name}.example/</link>",
            "<description>Headlines written for the TickerML demo</description>",
        ]
        for item in reversed(items):
            published = formatdate(self.started_wall + item.offset_s, usegmt=True)
            parts.append(
                f"<item><title>{escape(item.title)}</title>"
                f"<link>https://{name}.example/news/{item.slug}</link>"
                f"<pubDate>{published}</pubDate></item>"
            )
        parts.append("</channel></rss>")
        return "\n".join(parts).encode("utf-8")
