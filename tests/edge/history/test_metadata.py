"""Market metadata through a real ccxt instance talking to a loopback Binance server."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import ccxt
import pytest

from edge.history.metadata import (
    SUPPORTED_EXCHANGES,
    cache_file,
    load_market_metadata,
    public_exchange,
    rehost_urls,
    tick_from_precision,
)
from provisioning.certs import CertificateAuthority
from shared.clock import ManualClock
from shared.errors import OperationalError, TemporaryError, TickerMLError

from .conftest import BinanceServer

HOUR_NS = 3_600 * 1_000_000_000
T0_NS = 1_700_000_000 * 1_000_000_000


def closed_port_url() -> str:
    """A loopback URL nothing listens on: the network is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_markets_are_fetched_with_exact_tick_lot_minimums_and_fees(
    markets_server: BinanceServer, tmp_path: Path
) -> None:
    meta = load_market_metadata(
        "binanceus", tmp_path, max_age_hours=24, base_url=markets_server.base_url,
        clock=ManualClock(T0_NS),
    )

    btc = meta.market("BTC/USDT")
    assert (btc.market_id, btc.tick_size, btc.lot_size) == ("BTCUSDT", Decimal("0.01"),
                                                           Decimal("0.000001"))
    assert (btc.min_amount, btc.min_notional) == (Decimal("0.000001"), Decimal("10"))
    assert (btc.maker_fee, btc.taker_fee) == (Decimal("0.001"), Decimal("0.001"))
    eth = meta.market("ETH/BTC")
    assert (eth.tick_size, eth.lot_size, eth.min_notional) == (
        Decimal("0.000001"), Decimal("0.0001"), Decimal("0.0001"))
    assert not meta.from_cache and not meta.stale
    # Spot only: the futures exchangeInfo endpoints are never asked.
    assert markets_server.state.paths == ["/api/v3/exchangeInfo"]


def test_the_cache_is_json_with_the_fetch_time_and_decimal_strings(
    markets_server: BinanceServer, tmp_path: Path
) -> None:
    load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                         base_url=markets_server.base_url, clock=ManualClock(T0_NS))

    doc = json.loads(cache_file(tmp_path, "binanceus").read_text())

    assert doc["fetched_at_ms"] == T0_NS // 1_000_000
    assert doc["markets"]["BTC/USDT"]["tick_size"] == "0.01"
    assert doc["markets"]["BTC/USDT"]["lot_size"] == "0.000001"


def test_a_fresh_cache_is_used_without_asking_the_exchange(
    markets_server: BinanceServer, tmp_path: Path
) -> None:
    clock = ManualClock(T0_NS)
    load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                         base_url=markets_server.base_url, clock=clock)
    clock.advance_ns(23 * HOUR_NS)

    meta = load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                                base_url=markets_server.base_url, clock=clock)

    assert meta.from_cache and not meta.stale
    assert meta.market("BTC/USDT").tick_size == Decimal("0.01")
    assert len(markets_server.state.paths) == 1


def test_an_old_cache_is_refreshed(markets_server: BinanceServer, tmp_path: Path) -> None:
    clock = ManualClock(T0_NS)
    load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                         base_url=markets_server.base_url, clock=clock)
    clock.advance_ns(25 * HOUR_NS)

    meta = load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                                base_url=markets_server.base_url, clock=clock)

    assert not meta.from_cache
    assert meta.fetched_at_ms == (T0_NS + 25 * HOUR_NS) // 1_000_000
    assert len(markets_server.state.paths) == 2


def test_without_network_an_old_cache_is_used_and_called_stale(
    markets_server: BinanceServer, tmp_path: Path
) -> None:
    clock = ManualClock(T0_NS)
    load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                         base_url=markets_server.base_url, clock=clock)
    clock.advance_ns(30 * HOUR_NS)

    meta = load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                                base_url=closed_port_url(), clock=clock, timeout_s=2)

    assert meta.from_cache and meta.stale
    assert meta.warning is not None
    assert "binanceus" in meta.warning and "STALE" in meta.warning and "30.0 h" in meta.warning
    assert meta.market("BTC/USDT").tick_size == Decimal("0.01")


def test_without_network_or_cache_the_error_names_the_exchange(tmp_path: Path) -> None:
    with pytest.raises(TemporaryError, match="binanceus: cannot load markets"):
        load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                             base_url=closed_port_url(), timeout_s=2)


def test_an_unknown_symbol_is_an_error_naming_exchange_and_symbol(
    markets_server: BinanceServer, tmp_path: Path
) -> None:
    meta = load_market_metadata("binanceus", tmp_path, max_age_hours=24,
                                base_url=markets_server.base_url)

    with pytest.raises(OperationalError, match=r"binanceus: no spot market 'BTC/EUR'.*BTC/USDT"):
        meta.market("BTC/EUR")


def test_a_corrupt_cache_names_the_file(tmp_path: Path) -> None:
    cache_file(tmp_path, "kraken").write_text("{not json")

    with pytest.raises(OperationalError, match=r"kraken\.json: unreadable"):
        load_market_metadata("kraken", tmp_path, max_age_hours=24)


def test_the_exchange_has_no_credentials_and_cannot_place_an_order(
    markets_server: BinanceServer
) -> None:
    exchange = public_exchange("binanceus", base_url=markets_server.base_url)
    exchange.load_markets()

    assert not exchange.apiKey and not exchange.secret
    assert exchange.check_required_credentials(False) is False
    with pytest.raises(ccxt.AuthenticationError):
        exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 20_000)
    # ccxt refused before sending anything: the server saw only the markets request.
    assert markets_server.state.paths == ["/api/v3/exchangeInfo"]


@pytest.mark.parametrize("name", SUPPORTED_EXCHANGES)
def test_every_rest_endpoint_can_be_moved_to_a_local_server(name: str) -> None:
    exchange = public_exchange(name, base_url="http://127.0.0.1:9")

    def urls(tree: object) -> list[str]:
        if isinstance(tree, str):
            return [tree]
        if isinstance(tree, dict):
            return [u for value in tree.values() for u in urls(value)]
        return []

    found = urls(exchange.urls["api"])
    assert found
    assert all(u.startswith("http://127.0.0.1:9/") or u == "http://127.0.0.1:9" for u in found)


def test_an_unsupported_exchange_is_refused() -> None:
    with pytest.raises(OperationalError, match="ftx: unsupported exchange"):
        public_exchange("ftx")


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        (0.01, ccxt.TICK_SIZE, Decimal("0.01")),
        (1e-08, ccxt.TICK_SIZE, Decimal("0.00000001")),
        ("0.00010000", ccxt.TICK_SIZE, Decimal("0.0001")),
        (2, ccxt.DECIMAL_PLACES, Decimal("0.01")),
        (8.0, ccxt.DECIMAL_PLACES, Decimal("0.00000001")),
        (0, ccxt.DECIMAL_PLACES, Decimal("1")),
        (5, ccxt.SIGNIFICANT_DIGITS, None),
        (None, ccxt.TICK_SIZE, None),
    ],
)
def test_tick_sizes_are_decimals_in_every_precision_mode(
    value: object, mode: int, expected: Decimal | None
) -> None:
    assert tick_from_precision(value, mode) == expected


def test_rehosting_keeps_paths_and_queries() -> None:
    urls = {"public": "https://api.binance.us/api/v3", "x": {"y": "https://h.example/a?b=1"}}

    assert rehost_urls(urls, "http://127.0.0.1:8080") == {
        "public": "http://127.0.0.1:8080/api/v3",
        "x": {"y": "http://127.0.0.1:8080/a?b=1"},
    }


def test_rehosting_puts_the_base_urls_path_before_each_endpoints_path() -> None:
    """Tried: a base URL with a path (the simulator's /binance). Kept: the path,
    in front of the endpoint's own (it used to be dropped: 404 on /api/v3/...)."""
    urls = {"public": "https://api.binance.com/api/v3", "kraken": "https://api.kraken.com"}

    assert rehost_urls(urls, "http://127.0.0.1:8765/binance/") == {
        "public": "http://127.0.0.1:8765/binance/api/v3",
        "kraken": "http://127.0.0.1:8765/binance",
    }


def test_an_unresolvable_host_is_reported_with_the_url_and_the_resolvers_error(
    tmp_path: Path,
) -> None:
    """Tried: a host that can never resolve (.invalid, RFC 6761). Kept: the error
    names the URL ccxt asked and the resolver's own words, not just ccxt's class."""
    with pytest.raises(socket.gaierror) as resolver:
        socket.getaddrinfo("exchange.invalid", 80)

    with pytest.raises(TemporaryError) as caught:
        load_market_metadata("binance", tmp_path, max_age_hours=24,
                             base_url="http://exchange.invalid", timeout_s=5)

    message = str(caught.value)
    assert "http://exchange.invalid/api/v3/exchangeInfo" in message
    assert str(resolver.value) in message


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate comes from a CA no client trusts."""
    ca = CertificateAuthority.ensure(tmp_path / "ca")
    issued = ca.ensure_server(tmp_path / "server.crt", tmp_path / "server.key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_file, issued.key_file)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_certificate_from_an_unknown_ca_is_reported_with_the_url_and_the_tls_error(
    tls_server: str, tmp_path: Path
) -> None:
    """Tried: HTTPS to a server whose CA the client does not trust. Kept: the error
    names the URL and the TLS verification failure (ccxt alone said only the URL)."""
    with pytest.raises(TickerMLError) as caught:
        load_market_metadata("binance", tmp_path, max_age_hours=24, base_url=tls_server,
                             timeout_s=5)

    message = str(caught.value)
    assert f"{tls_server}/api/v3/exchangeInfo" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message
