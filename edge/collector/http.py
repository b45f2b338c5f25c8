"""The collector's REST client: depth snapshots and token requests.

``urllib`` in a worker thread rather than an async HTTP library: a collector
makes a handful of REST calls an hour (one snapshot per symbol per resync), so a
thread per call costs nothing and the Pi installs nothing extra.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import orjson

from shared.errors import TemporaryError

USER_AGENT = "tickerml-edge/0.1 (public market data)"
MAX_BODY_BYTES = 32 * 1024 * 1024
"""A 5000-level depth snapshot is ~300 KB; anything this large is not one."""


class HTTPFetchError(TemporaryError):
    """A REST call failed (connection, timeout or non-2xx status); retry with backoff."""

    def __init__(self, url: str, detail: str, *, status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(f"{url}: {detail}")
        self.url = url
        self.status = status
        self.retry_after_s = retry_after_s


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from exchanges, and backoff still applies


def fetch_bytes_sync(url: str, *, method: str = "GET", timeout_s: float = 10.0) -> bytes:
    """One blocking request; raises :class:`HTTPFetchError` for any failure."""
    data = b"" if method.upper() == "POST" else None
    request = urllib.request.Request(
        url, data=data, method=method.upper(), headers={"User-Agent": USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body: bytes = response.read(MAX_BODY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        # 429/418 are Binance's rate-limit answers; Retry-After says how long to wait.
        snippet = exc.read(200).decode("utf-8", "replace") if exc.fp is not None else ""
        raise HTTPFetchError(
            url, f"HTTP {exc.code} {exc.reason}: {snippet}", status=exc.code,
            retry_after_s=_retry_after(exc.headers.get("Retry-After") if exc.headers else None),
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HTTPFetchError(url, f"request failed: {reason}") from None
    if len(body) > MAX_BODY_BYTES:
        raise HTTPFetchError(url, f"response larger than {MAX_BODY_BYTES} bytes")
    return body


async def fetch_bytes(url: str, *, method: str = "GET", timeout_s: float = 10.0) -> bytes:
    """:func:`fetch_bytes_sync` in a worker thread, so the event loop keeps reading sockets."""
    return await asyncio.to_thread(fetch_bytes_sync, url, method=method, timeout_s=timeout_s)


async def fetch_json(url: str, method: str = "GET", *, timeout_s: float = 10.0) -> Any:
    """A JSON REST call (the ``fetch_json`` a feed's ``prepare`` receives)."""
    body = await fetch_bytes(url, method=method, timeout_s=timeout_s)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPFetchError(url, f"not JSON: {exc}") from None
