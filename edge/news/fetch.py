"""One conditional HTTP GET of a news source, bounded in time and size.

feedparser 6 can fetch URLs itself but takes no timeout and no size limit, so a
hung or hostile server could stall a Pi's harvest or fill its memory. Here httpx
fetches, and the bytes go to the parser: the whole response must arrive within
``timeout_s`` and stay within ``max_bytes`` (after decompression, so a gzip bomb
is refused too). A document over the cap is refused, never truncated: half a
feed would look like a complete one with fewer articles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from shared.config.news import NewsConfig
from shared.errors import TemporaryError

MAX_REDIRECTS = 5
"""Redirects followed per request: feeds move (http to https, a new CMS), but not far."""


class FetchError(TemporaryError):
    """A source could not be fetched; the message names the source and the URL.

    Temporary by nature: the harvester backs the source off and tries again later.
    """

    def __init__(
        self,
        source: str,
        url: str,
        problem: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{source} ({url}): {problem}")
        self.source = source
        self.url = url
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one GET brought back."""

    status: int
    """200, or 304 when the source has nothing new since ``etag`` / ``last_modified``."""
    url: str
    """The URL the body came from, after redirects (relative links resolve against it)."""
    body: bytes
    """The document (empty on 304)."""
    content_type: str
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        """True when the server answered 304 Not Modified."""
        return self.status == 304


def make_client(config: NewsConfig) -> httpx.Client:
    """An HTTP client for one harvest: the configured User-Agent, bounded redirects."""
    return httpx.Client(
        headers={"User-Agent": config.user_agent},
        timeout=httpx.Timeout(config.timeout_s),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
    )


def _retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form: an HTTP-date would need the wall clock here.
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def fetch(
    client: httpx.Client,
    source: str,
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    etag: str | None = None,
    last_modified: str | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> FetchResult:
    """GET ``url`` conditionally; raise :class:`FetchError` on anything but 200 or 304.

    ``etag`` / ``last_modified`` are the validators the source sent last time
    (sent back as If-None-Match / If-Modified-Since). ``timeout_s`` bounds the
    whole response, not only each read: a server trickling a byte a second
    would otherwise never time out.
    """
    request_headers = dict(headers or {})
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    # time.monotonic, not the injected clock: this is a real network deadline.
    deadline = time.monotonic() + timeout_s
    try:
        with client.stream("GET", url, params=params, headers=request_headers) as response:
            final_url = str(response.url)
            status = response.status_code
            if status == 304:
                return FetchResult(
                    304, final_url, b"", "",
                    response.headers.get("ETag") or etag,
                    response.headers.get("Last-Modified") or last_modified,
                )
            if status != 200:
                raise FetchError(
                    source, url, f"HTTP {status} {response.reason_phrase}".rstrip(),
                    status=status,
                    retry_after_s=_retry_after(response.headers.get("Retry-After")),
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(
                    source, url, f"document of {declared} bytes refused (cap {max_bytes})",
                    status=status,
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(
                        source, url, f"document over {max_bytes} bytes refused", status=status
                    )
                if time.monotonic() > deadline:
                    raise FetchError(source, url, f"timed out after {timeout_s:g} s")
            return FetchResult(
                200, final_url, bytes(body), response.headers.get("Content-Type", ""),
                response.headers.get("ETag"), response.headers.get("Last-Modified"),
            )
    except httpx.TooManyRedirects:
        raise FetchError(source, url, f"more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise FetchError(source, url, f"timed out after {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(source, url, f"{type(exc).__name__}: {exc}") from None
