"""A real HTTP server on loopback that serves news feeds the way publishers do.

Each path is a :class:`Route`: a body with its status and headers, validators
(ETag, Last-Modified: a matching If-None-Match / If-Modified-Since gets 304,
as from a real CDN), a redirect, a delay (a slow server), or a body sent
without Content-Length (the size cap must hold while streaming). Every request
is recorded with its headers, so a test can check what the harvester sent.

Also helpers to build an edge config and a writer around it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.news.harvest import Harvester
from edge.news.report import HarvestReport
from edge.store.db import connect
from edge.store.writer import StoreWriter
from shared.clock import ManualClock
from shared.config.edge import EdgeConfig
from shared.config.news import NewsConfig, NewsFeedConfig
from shared.config.store import StoreConfig

FEEDS = Path(__file__).resolve().parent / "feeds"
"""The test documents (see feeds/ATTRIBUTION.md for the ones copied from elsewhere)."""

SECOND = 1_000_000_000
NOW_NS = 1_717_545_600 * SECOND
"""2024-06-05 00:00 UTC: after every item in the test documents."""


@dataclass
class Route:
    """What one path answers."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    location: str | None = None
    """Redirect target (path or URL) for a 3xx status."""
    delay_s: float = 0.0
    """Wait this long before answering (cut short when the server stops)."""
    send_length: bool = True
    """False: no Content-Length, the body ends when the connection closes."""
    chunk_delay_s: float = 0.0
    """Send the body in ten pieces this far apart (a server that trickles)."""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names lowercased."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, loopback adds the
    # client's delayed-ACK wait (~40 ms) to every response, which is no publisher's.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read :attr:`FeedServer.requests` instead."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(SeenRequest(parts.path, parse_qs(parts.query), headers))
            route = owner.routes.get(parts.path)
        if route is None:
            self._answer(404, b"not found", "text/plain", {})
            return
        if route.delay_s and owner.stopping.wait(route.delay_s):
            return
        extra = dict(route.headers)
        if route.etag:
            extra["ETag"] = route.etag
        if route.last_modified:
            extra["Last-Modified"] = route.last_modified
        if route.location:
            extra["Location"] = route.location
        fresh = (route.etag and headers.get("if-none-match") == route.etag) or (
            route.last_modified and headers.get("if-modified-since") == route.last_modified
        )
        if fresh and route.status == 200:
            self._answer(304, b"", None, extra)
            return
        if not route.send_length:
            self.close_connection = True
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Connection", "close")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(route.body)
            return
        if route.chunk_delay_s:
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            step = max(1, len(route.body) // 10)
            for start in range(0, len(route.body), step):
                if owner.stopping.wait(route.chunk_delay_s):
                    return
                self.wfile.write(route.body[start : start + step])
                self.wfile.flush()
            return
        self._answer(route.status, route.body, route.content_type, extra)

    def _answer(
        self, status: int, body: bytes, content_type: str | None, extra: dict[str, str]
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in extra.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A slow route's thread must not hold up stop(); it exits on ``stopping``.
    block_on_close = False
    owner: FeedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-body (the size cap, a timeout) is expected here."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FeedServer:
    """``with FeedServer() as server: server.route("/rss", Route(body)); server.url("/rss")``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[SeenRequest] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="feed-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + path

    def route(self, path: str, route: Route) -> str:
        """Serve ``route`` at ``path`` (replacing any earlier one); returns its URL."""
        with self.lock:
            self.routes[path] = route
        return self.url(path)

    def seen(self, path: str) -> list[SeenRequest]:
        """The requests received for ``path``, oldest first."""
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def feed_file(name: str) -> bytes:
    """The bytes of a test document under feeds/."""
    return (FEEDS / name).read_bytes()


def edge_config(
    tmp_path: Path, feeds: list[tuple[str, str]], **news: Any
) -> EdgeConfig:
    """An edge config with ``feeds`` (name, url) and ``news`` settings, data in tmp_path.

    Generous timeouts by default: other test runs may share a busy machine.
    """
    settings: dict[str, Any] = {"timeout_s": 20.0, **news}
    return EdgeConfig(
        agent_id="news-test",
        data_dir=str(tmp_path),
        store=StoreConfig(commit_interval_s=0.05),
        news=NewsConfig(
            feeds=[NewsFeedConfig(name=name, url=url) for name, url in feeds], **settings
        ),
    )


def open_writer(config: EdgeConfig) -> tuple[StoreWriter, Path]:
    """The agent's writer on the config's database, and that database's path."""
    path = Path(config.data_dir) / config.store.path
    return StoreWriter(path, config.store), path


@dataclass(frozen=True)
class Item:
    """One item of a generated RSS 2.0 document."""

    title: str
    link: str
    description: str = ""
    pub_date: str | None = None
    """RFC 822, as RSS has it (``Tue, 04 Jun 2024 12:00:00 GMT``)."""


def rss_document(items: list[Item], *, title: str = "Generated feed") -> bytes:
    """An RSS 2.0 document (UTF-8) holding ``items``, text escaped as XML needs."""
    from xml.sax.saxutils import escape

    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://generated.example/</link>",
    ]
    for item in items:
        parts.append(
            f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>"
            f"<description>{escape(item.description)}</description>"
            + (f"<pubDate>{item.pub_date}</pubDate>" if item.pub_date else "")
            + "</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


class Rig:
    """A config, the one writer, a harvester and a manual clock around a tmp database."""

    def __init__(self, config: EdgeConfig, environ: dict[str, str] | None = None) -> None:
        self.config = config
        self.writer, self.db = open_writer(config)
        self.clock = ManualClock(NOW_NS)
        self.harvester = Harvester(config, self.writer, self.db, self.clock, environ=environ or {})

    def harvest(self) -> HarvestReport:
        return self.harvester.harvest_once()

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        conn = connect(self.db, readonly=True)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def count(self) -> int:
        return int(self.rows("SELECT count(*) FROM news_articles")[0][0])

    def source(self, name: str) -> tuple[Any, ...]:
        """etag, last_modified, failures, next_try_ns, last_status, last_error."""
        return self.rows(
            "SELECT etag, last_modified, failures, next_try_ns, last_status, last_error "
            "FROM news_sources WHERE name = ?", name,
        )[0]

    def close(self) -> None:
        self.writer.close()


class Rigs:
    """Makes rigs for one test and closes them after it (``with Rigs(tmp_path) as rigs``)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.made: list[Rig] = []

    def make(self, feeds: list[tuple[str, str]], **news: Any) -> Rig:
        """A rig harvesting ``feeds``; ``environ=`` goes to the harvester, the rest to news."""
        environ = news.pop("environ", None)
        rig = Rig(edge_config(self.tmp_path, feeds, **news), environ)
        self.made.append(rig)
        return rig

    def __enter__(self) -> Rigs:
        return self

    def __exit__(self, *exc: object) -> None:
        for rig in self.made:
            rig.close()
