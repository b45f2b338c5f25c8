"""The prompt and the JSON schema the local LLM scores an article with.

One chat request per article: a short system prompt that says what bullish and
bearish mean for crypto, a user message with the headline, the summary and the
symbols the article was tagged with, and a JSON schema passed as Ollama's
``format`` so the model's grammar can only produce the object we parse
(``{"market": {...}, "symbols": {"BTC": {...}}}``). :func:`parse_answer` then
checks what came back, since a model may ignore ``format`` or the server may
not support it.

Every stored LLM score carries :func:`prompt_hash`: change a word of the prompt
or the schema and the hash changes, so a rescore with the new prompt adds rows
next to the old ones instead of being mistaken for them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from edge.news.types import MARKET, ArticleText, Label

PROMPT_VERSION = "1"
"""Bump with any change below; :func:`prompt_hash` changes with it anyway."""

SUMMARY_CHARS = 600
"""Summary characters sent: enough for the lede; a Pi pays for every prompt token."""

SYSTEM_PROMPT = """\
You rate crypto news for a trading system. For one article, judge how it is likely \
to move the price: of the crypto market as a whole, and of each listed coin.

Bullish (positive): ETF approvals or inflows, adoption by companies or states, \
favourable rulings or regulation, upgrades shipped, listings, partnerships, price \
rallies or new highs, large purchases, short squeezes.
Bearish (negative): hacks and exploits, bans or crackdowns, lawsuits and charges, \
exchange failures or withdrawals halted, delistings, outflows, liquidations, price \
drops, large sales or unlocks, depegs.
Neutral: explainers, opinion without news, prices moving sideways, events that \
cut both ways.

For each item give:
- label: "negative", "neutral" or "positive";
- score: -1 (very bearish) to 1 (very bullish), 0 for neutral;
- confidence: 0 to 1, how sure you are of the label;
- relevance (coins only): 0 to 1, how much the article is about that coin \
(1: it is the subject; 0: only named in passing).

Answer with the JSON object only."""

USER_TEMPLATE = """\
Headline: {title}
Summary: {summary}
Coins: {symbols}"""

LABELS = ["negative", "neutral", "positive"]

RANGE_TOLERANCE = 0.1
"""How far past its range a number may be and still be clamped rather than refused."""

LABEL_THRESHOLDS = (-0.2, 0.2)
"""Label of an answer whose own label is missing or unknown: from its score."""

_LABELS: dict[str, Label] = {"negative": "negative", "neutral": "neutral", "positive": "positive"}

_NO_SYMBOLS = "(none)"


def _verdict_schema(*, with_relevance: bool) -> dict[str, Any]:
    # label before score: the grammar makes the model commit to a direction
    # first, which keeps small models from writing a score that contradicts it.
    properties: dict[str, Any] = {
        "label": {"type": "string", "enum": LABELS},
        "score": {"type": "number", "minimum": -1, "maximum": 1},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    }
    if with_relevance:
        properties["relevance"] = {"type": "number", "minimum": 0, "maximum": 1}
    return {"type": "object", "properties": properties, "required": list(properties)}


def response_schema(symbols: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of the answer for an article tagged with ``symbols``.

    Every tagged symbol is a required key of ``symbols``, so a model that
    honours the schema cannot leave one out.
    """
    coin = _verdict_schema(with_relevance=True)
    return {
        "type": "object",
        "properties": {
            "market": _verdict_schema(with_relevance=False),
            "symbols": {
                "type": "object",
                "properties": {symbol: coin for symbol in symbols},
                "required": list(symbols),
            },
        },
        "required": ["market", "symbols"],
    }


def user_message(article: ArticleText) -> str:
    """The user turn for ``article`` (title, trimmed summary, tagged coins)."""
    summary = " ".join(article.summary.split())
    if len(summary) > SUMMARY_CHARS:
        summary = summary[: SUMMARY_CHARS - 1].rstrip() + "…"
    return USER_TEMPLATE.format(
        title=" ".join(article.title.split()),
        summary=summary or "(none)",
        symbols=", ".join(article.symbols) or _NO_SYMBOLS,
    )


def build_messages(article: ArticleText) -> list[dict[str, str]]:
    """The chat messages for one article."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(article)},
    ]


@cache
def prompt_hash() -> str:
    """sha256 (hex) of the prompt version, template and schema: stored with each score.

    The schema is hashed for a made-up coin, since its shape, not the coins
    an article happens to name, is what a change of prompt would alter.
    """
    material = json.dumps(
        {
            "version": PROMPT_VERSION,
            "system": SYSTEM_PROMPT,
            "user": USER_TEMPLATE,
            "summary_chars": SUMMARY_CHARS,
            "schema": response_schema(["COIN"]),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# --- The answer ----------------------------------------------------------------------


class AnswerRefused(ValueError):
    """The model's answer is not JSON, or not the object :func:`response_schema` asks for."""


def _bounded(value: float, low: float, high: float) -> float:
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    if value < low - RANGE_TOLERANCE or value > high + RANGE_TOLERANCE:
        raise ValueError(f"{value} is outside {low}..{high}")
    return min(high, max(low, value))


class Verdict(BaseModel):
    """One verdict as the model wrote it, checked (extra keys are the model's business).

    A number a hair outside its range (within :data:`RANGE_TOLERANCE`) is clamped;
    one further out is refused: the model misread the scale (0..100, -5..5).
    """

    model_config = ConfigDict(extra="ignore")

    label: str | None = None
    score: float
    confidence: float
    relevance: float = 1.0

    @field_validator("score")
    @classmethod
    def _score(cls, value: float) -> float:
        return _bounded(value, -1.0, 1.0)

    @field_validator("confidence", "relevance")
    @classmethod
    def _unit(cls, value: float) -> float:
        return _bounded(value, 0.0, 1.0)

    def final_label(self) -> Label:
        """The model's label, or one from the score when its label is missing or unknown."""
        label = _LABELS.get((self.label or "").strip().lower())
        if label is not None:
            return label
        low, high = LABEL_THRESHOLDS
        return "negative" if self.score < low else "positive" if self.score > high else "neutral"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    market: Verdict
    symbols: dict[str, Verdict] = {}


def parse_answer(content: str, symbols: Sequence[str]) -> dict[str, Verdict]:
    """The verdicts in ``content`` for MARKET and each of ``symbols``.

    Raises :class:`AnswerRefused` when the answer is not JSON or is refused.
    """
    text = content.strip()
    try:
        data: Any = json.loads(text)
    except ValueError:
        # A model without grammar support may wrap the object in prose or a code fence.
        start, end = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except ValueError:
            data = None
        if data is None:
            raise AnswerRefused(f"answer is not JSON: {text[:120]!r}") from None
    try:
        answer = _Answer.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise AnswerRefused(f"answer refused at {where}: {first['msg']}") from None
    by_key = {key.strip().upper(): verdict for key, verdict in answer.symbols.items()}
    verdicts = {MARKET: answer.market}
    for symbol in symbols:
        verdict = by_key.get(symbol.upper())
        if verdict is None:
            raise AnswerRefused(f"answer has no verdict for {symbol}")
        verdicts[symbol] = verdict
    return verdicts

