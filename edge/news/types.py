"""What the news pieces hand each other: articles to score and the scores they get.

The harvester (``edge.news.harvest``) stores articles; the scorer
(``edge.news.scoring``) scores stored articles with the LLM or the built-in
scorer; the roll-up (``edge.news.rollup``) turns scores into hourly rows. They
meet in the agent's database and in these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Label = Literal["negative", "neutral", "positive"]
ScorerName = Literal["llm", "builtin"]

MARKET = "*"
"""The symbol of an article's market-wide score (every article gets one)."""


@dataclass(frozen=True, slots=True)
class ArticleText:
    """A stored article as a scorer sees it."""

    article_id: int
    title: str
    summary: str
    symbols: tuple[str, ...]
    """Base assets the article was tagged with (``BTC``, ``ETH``); may be empty."""


@dataclass(frozen=True, slots=True)
class SentimentScore:
    """One article's sentiment towards one symbol (or :data:`MARKET`)."""

    symbol: str
    scorer: ScorerName
    model: str
    """The Ollama model name, or the built-in scorer's version."""
    prompt_hash: str
    """sha256 of the prompt template (the built-in scorer: of its lexicon version)."""
    score: float
    """-1 (bearish) … 1 (bullish)."""
    label: Label
    confidence: float
    """0 … 1."""
    relevance: float
    """0 … 1: how much the article is about the symbol."""
