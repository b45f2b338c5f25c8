"""A real HTTP server on loopback that speaks enough of Ollama's API to test against.

Ollama itself (and a model) cannot run in the test environment, so this stands
in for it at the protocol level: ``POST /api/chat`` and ``POST /api/generate``,
streamed as NDJSON chunks ending in ``"done": true`` (Ollama's default) or as one
object with ``"stream": false``; ``format`` honoured (``"json"`` or a JSON
schema: the answer is then a JSON object for the schema's coins, otherwise
prose); a chat with no messages loads the model (``done_reason: load``);
``GET /api/tags`` and ``GET /api/version``; an unknown model gets Ollama's 404.

Answers are derived from the headline in the prompt so tests can check them:
a headline with a word from :data:`BULLISH` scores +0.8, one from
:data:`BEARISH` -0.8, anything else 0 (neutral).

Tests script misbehaviour per request through :attr:`OllamaServer.script`
(consumed in order, then :attr:`OllamaServer.behaviour`): ``slow`` (sleeps
:attr:`OllamaServer.slow_s` first), ``malformed`` (content that is not JSON),
``out_of_range`` (a score of 7), ``missing_symbol`` (leaves the coins out),
``extra_symbol`` (adds a coin nobody asked about), ``error500``. The server
counts the requests and the most that were in flight at once.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BULLISH = ("surge", "surges", "rally", "rallies", "soars", "approves", "record")
BEARISH = ("crash", "crashes", "hack", "hacked", "plunges", "ban", "lawsuit")
NAMES = {"BTC": "bitcoin", "ETH": "ethereum", "SOL": "solana", "XRP": "ripple"}


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def verdict_for(headline: str) -> tuple[float, str]:
    """(score, label) the server answers for ``headline``."""
    words = set(re.findall(r"[a-z]+", headline.lower()))
    if words & set(BULLISH):
        return 0.8, "positive"
    if words & set(BEARISH):
        return -0.8, "negative"
    return 0.0, "neutral"


class OllamaServer:
    """The server; ``url`` is its base URL once :meth:`start` returned."""

    def __init__(self, models: tuple[str, ...] = ("test-model",)) -> None:
        self.models = list(models)
        self.behaviour = "normal"
        self.script: list[str] = []
        self.slow_s = 2.0
        self.hold_s = 0.0
        """Extra seconds every scoring answer takes (to make requests overlap)."""
        self.thinking = True
        """False: reject a ``think`` flag as Ollama does for models that cannot think."""
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> OllamaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def scoring_requests(self, path: str = "/api/chat") -> list[dict[str, Any]]:
        """Bodies of the requests to ``path`` that asked for a score (not loads)."""
        return [b for p, b in self.requests if p == path and (b.get("messages") or b.get("prompt"))]

    def next_behaviour(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.behaviour

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def answer(self, body: dict[str, Any], text: str, behaviour: str) -> str:
        """The model's content for a prompt ``text``, by ``format`` and ``behaviour``."""
        fmt = body.get("format")
        if behaviour == "malformed":
            return '{"market": {"score": 0.5, "label": "posi'
        headline = next(iter(re.findall(r"^Headline: (.*)$", text, re.M)), text)
        score, label = verdict_for(headline)
        if not fmt:
            return f"I would call this {label}."
        coins: list[str] = []
        if isinstance(fmt, dict):
            coins = list(fmt.get("properties", {}).get("symbols", {}).get("required", []))
        if behaviour == "out_of_range":
            score = 7.0
        symbols = {
            coin: {
                "label": label, "score": score, "confidence": 0.9,
                "relevance": 0.9 if NAMES.get(coin, coin.lower()) in headline.lower() else 0.2,
            }
            for coin in coins
        }
        if behaviour == "missing_symbol":
            symbols = {}
        if behaviour == "extra_symbol":
            symbols["ZZZ"] = {"label": "negative", "score": -1, "confidence": 1, "relevance": 1}
        answer = {"market": {"label": label, "score": score, "confidence": 0.9},
                  "symbols": symbols}
        return json.dumps(answer)


def _handler(server: OllamaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read ``server.requests`` instead."""

        def do_GET(self) -> None:
            if self.path == "/api/version":
                self._json(200, {"version": "0.6.5"})
            elif self.path == "/api/tags":
                self._json(200, {"models": [
                    {"name": m, "model": m, "size": 1, "digest": "0" * 64} for m in server.models
                ]})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            with server._lock:
                server.requests.append((self.path, body))
            if self.path not in ("/api/chat", "/api/generate"):
                self._json(404, {"error": "not found"})
                return
            model = body.get("model", "")
            if model not in server.models:
                self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
                return
            if body.get("think") is not None and not server.thinking:
                self._json(400, {"error": f'"{model}" does not support thinking'})
                return
            chat = self.path == "/api/chat"
            text = (
                "\n".join(m.get("content", "") for m in body.get("messages") or [])
                if chat else body.get("prompt", "")
            )
            if not text:
                self._reply(body, chat, "", done_reason="load")
                return
            behaviour = server.next_behaviour()
            server.enter()
            try:
                time.sleep(server.slow_s if behaviour == "slow" else server.hold_s)
                if behaviour == "error500":
                    self._json(500, {"error": "llama runner process has terminated"})
                    return
                self._reply(body, chat, server.answer(body, text, behaviour))
            except (BrokenPipeError, ConnectionResetError):
                return  # the client gave up waiting (a timeout test): nothing to tell it
            finally:
                server.leave()

        def _reply(self, body: dict[str, Any], chat: bool, content: str,
                   done_reason: str = "stop") -> None:
            model = body["model"]
            final = {"model": model, "created_at": "2025-01-01T00:00:00Z", "done": True,
                     "done_reason": done_reason, "total_duration": 1, "eval_count": 1}

            def piece(text: str, done: bool) -> dict[str, Any]:
                head = {"model": model, "created_at": "2025-01-01T00:00:00Z", "done": done}
                if chat:
                    head["message"] = {"role": "assistant", "content": text}
                else:
                    head["response"] = text
                return head

            if body.get("stream", True) is False:
                self._json(200, {**piece(content, True), **final})
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(content), 8):
                self._chunk(piece(content[i : i + 8], False))
            self._chunk({**piece("", True), **final})
            self.wfile.write(b"0\r\n\r\n")

        def _chunk(self, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _json(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def running(models: tuple[str, ...] = ("test-model",)) -> Iterator[OllamaServer]:
    """An :class:`OllamaServer` for the duration of a ``with`` block."""
    server = OllamaServer(models).start()
    try:
        yield server
    finally:
        server.stop()
