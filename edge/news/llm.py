"""Scoring articles with a local LLM through Ollama's ``/api/chat``.

One non-streaming chat request per article, ``temperature`` 0 and the answer's
JSON schema as ``format`` (:mod:`edge.news.prompt`). The answer is validated
before anything is stored (:func:`edge.news.prompt.parse_answer`): scores a
hair outside their range are clamped, ones far outside (a model answering on a
0..100 scale) are refused, coins the article was not tagged with are ignored
and a tagged coin left out refuses the whole answer.

Failures are classified, because the scorer's fallback policy and the operator
need different things from each: :class:`LlmUnreachable` (nothing listens),
:class:`LlmModelMissing` (``ollama pull`` it), :class:`LlmTooSlow` (timed out),
:class:`LlmMalformed` (the answer is not what was asked for) and
:class:`LlmServerError` (an HTTP error). Malformed answers, 5xx and timeouts
are retried up to ``retries`` times with a short backoff, but only while the
article is still within ``budget_s``: past it the answer would count as too
slow anyway, and the built-in scorer is the better use of the time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
import ollama

from edge.news.prompt import (
    AnswerRefused,
    Verdict,
    build_messages,
    parse_answer,
    prompt_hash,
    response_schema,
)
from edge.news.types import MARKET, ArticleText, SentimentScore
from shared.config.news import OllamaConfig
from shared.errors import TemporaryError

LlmReason = Literal["unreachable", "model_missing", "too_slow", "malformed", "server_error"]


class LlmError(TemporaryError):
    """The LLM could not score an article; ``reason`` says why, ``retryable`` whether to retry."""

    reason: ClassVar[LlmReason] = "server_error"
    retryable: bool = True


class LlmUnreachable(LlmError):
    """Nothing answers at the configured host (refused, or no connection in time)."""

    reason = "unreachable"
    retryable = False


class LlmModelMissing(LlmError):
    """The server answered 404: the model has not been pulled."""

    reason = "model_missing"
    retryable = False


class LlmTooSlow(LlmError):
    """No answer within ``timeout_s``."""

    reason = "too_slow"


class LlmMalformed(LlmError):
    """The answer was not JSON, or not the object the schema asks for."""

    reason = "malformed"


class LlmServerError(LlmError):
    """Any other HTTP error; 5xx are retried, 4xx are not."""

    reason = "server_error"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class LlmOutcome:
    """What became of one article: its scores, or the error that stopped it."""

    article_id: int
    scores: tuple[SentimentScore, ...]
    error: LlmError | None
    seconds: float
    """Wall time from the first request to the answer, retries included."""
    attempts: int
    slow: bool
    """Answered, but after ``budget_s``: the scores are good, the LLM is too slow to keep using."""


class LlmScorer:
    """Scores articles with the Ollama model named in ``config``.

    Thread-safe; at most ``config.concurrency`` requests are in flight at once,
    however many threads call it.
    """

    name = "llm"

    def __init__(self, config: OllamaConfig, *, backoff_s: float = 0.25) -> None:
        self.config = config
        self.model = config.model
        self.keep_alive = config.keep_alive
        self.prompt_hash = prompt_hash()
        self.backoff_s = backoff_s
        # The client's default timeout is none: a hung server would hang the harvest.
        self._client = ollama.Client(host=config.host, timeout=config.timeout_s)
        self._slots = threading.BoundedSemaphore(config.concurrency)
        # Thinking models (qwen3) would spend the budget on hidden reasoning; a server
        # that rejects the flag for a model that cannot think gets requests without it.
        self._think: bool | None = False
        self._lock = threading.Lock()
        self.requests = 0
        """HTTP requests made so far (retries included)."""

    def warm_up(self) -> float:
        """Load the model (a chat with no messages) and return the seconds it took.

        Not counted against ``budget_s``: a model that was unloaded between harvests
        takes a while to load on a Pi, and that says nothing about how fast it scores.
        """
        started = time.monotonic()
        self._request(lambda think: self._client.chat(
            model=self.model, messages=[], think=think, keep_alive=self.keep_alive,
        ))
        return time.monotonic() - started

    def score(self, article: ArticleText) -> list[SentimentScore]:
        """One MARKET score and one per tagged symbol; raises :class:`LlmError`."""
        outcome = self.score_one(article)
        if outcome.error is not None:
            raise outcome.error
        return list(outcome.scores)

    def score_one(self, article: ArticleText) -> LlmOutcome:
        """Score one article, retrying as the module docstring says; never raises LlmError."""
        symbols = list(dict.fromkeys(article.symbols))
        messages, schema = build_messages(article), response_schema(symbols)
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self._request(
                    lambda think: self._client.chat(
                        model=self.model, messages=messages, format=schema,
                        options={"temperature": 0}, stream=False, think=think,
                        keep_alive=self.keep_alive,
                    )
                )
                verdicts = parse_answer(response.message.content or "", symbols)
            except AnswerRefused as exc:
                error: LlmError = LlmMalformed(str(exc))
            except LlmError as exc:
                error = exc
            else:
                elapsed = time.monotonic() - started
                scores = tuple(self._score_row(symbol, v) for symbol, v in verdicts.items())
                return LlmOutcome(
                    article.article_id, scores, None, elapsed, attempts,
                    elapsed > self.config.budget_s,
                )
            elapsed = time.monotonic() - started
            if not error.retryable or attempts > self.config.retries:
                return LlmOutcome(article.article_id, (), error, elapsed, attempts, False)
            if elapsed >= self.config.budget_s:
                return LlmOutcome(article.article_id, (), error, elapsed, attempts, True)
            # Jittered so that concurrent workers do not hit a struggling server in step.
            time.sleep(self.backoff_s * (2 ** (attempts - 1)) * random.uniform(0.5, 1.0))

    def score_many(self, articles: Sequence[ArticleText]) -> list[LlmOutcome | None]:
        """Outcomes in ``articles`` order, ``concurrency`` at a time.

        Stops at the first failure or too-slow answer: the articles not yet
        started then get ``None`` (the caller scores them some other way), since
        an LLM that just failed or dawdled would most likely do it again.
        """
        # Checked by each worker before it starts an article: cancelling futures from
        # this thread would race with a worker that already took the next one.
        stop = threading.Event()

        def run(article: ArticleText) -> LlmOutcome | None:
            if stop.is_set():
                return None
            outcome = self.score_one(article)
            if outcome.error is not None or outcome.slow:
                stop.set()
            return outcome

        if not articles:
            return []
        with ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="llm") as pool:
            return list(pool.map(run, articles))

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _score_row(self, symbol: str, verdict: Verdict) -> SentimentScore:
        return SentimentScore(
            symbol=symbol, scorer="llm", model=self.model, prompt_hash=self.prompt_hash,
            score=verdict.score, label=verdict.final_label(), confidence=verdict.confidence,
            relevance=1.0 if symbol == MARKET else verdict.relevance,
        )

    def _request(self, call: Any) -> Any:
        """``call(think)`` under a concurrency slot, with its exceptions classified."""
        with self._slots:
            while True:
                with self._lock:
                    self.requests += 1
                    think = self._think
                try:
                    return call(think)
                except ollama.ResponseError as exc:
                    if exc.status_code == 400 and think is not None and "think" in exc.error:
                        with self._lock:
                            self._think = None
                        continue
                    raise self._classify_http(exc) from None
                except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout):
                    raise LlmUnreachable(
                        f"Ollama is not reachable at {self.config.host} "
                        "(is `ollama serve` running?)"
                    ) from None
                except httpx.TimeoutException:
                    raise LlmTooSlow(
                        f"{self.model} gave no answer within {self.config.timeout_s:g}s"
                    ) from None
                except httpx.TransportError as exc:
                    raise LlmServerError(f"{self.config.host}: {exc!r}") from None
                except ValueError as exc:
                    # The HTTP body itself was not the JSON Ollama sends.
                    raise LlmMalformed(f"unreadable response: {exc}") from None

    def _classify_http(self, exc: ollama.ResponseError) -> LlmError:
        if exc.status_code == 404:
            return LlmModelMissing(
                f"model {self.model} not pulled: run `ollama pull {self.model}` "
                f"(server said: {exc.error})"
            )
        return LlmServerError(
            f"Ollama answered HTTP {exc.status_code}: {exc.error}",
            retryable=exc.status_code >= 500 or exc.status_code < 0,
        )

