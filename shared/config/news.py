"""News harvesting and sentiment scoring on the agent (edge ``news:`` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from shared.config.base import ConfigModel
from shared.config.feeds import BackoffConfig


class NewsFeedConfig(ConfigModel):
    """One RSS or Atom feed."""

    name: str = Field(description="Short source name stored with each article (e.g. coindesk).")
    url: str = Field(description="The feed's URL (http or https).")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url


def _default_feeds() -> list[NewsFeedConfig]:
    return [
        NewsFeedConfig(name="coindesk", url="https://www.coindesk.com/arc/outboundfeeds/rss/"),
        NewsFeedConfig(name="cointelegraph", url="https://cointelegraph.com/rss"),
        NewsFeedConfig(name="decrypt", url="https://decrypt.co/feed"),
        NewsFeedConfig(name="theblock", url="https://www.theblock.co/rss.xml"),
        NewsFeedConfig(name="bitcoinmagazine", url="https://bitcoinmagazine.com/.rss/full/"),
        NewsFeedConfig(name="cryptoslate", url="https://cryptoslate.com/feed/"),
    ]


def _default_aliases() -> dict[str, list[str]]:
    return {
        "BTC": ["bitcoin", "btc", "xbt", "satoshi", "sats"],
        "ETH": ["ethereum", "eth", "ether", "vitalik"],
        "SOL": ["solana", "sol"],
        "XRP": ["ripple", "xrp"],
        "ADA": ["cardano", "ada"],
        "DOGE": ["dogecoin", "doge"],
        "BNB": ["binance coin", "bnb"],
        "LTC": ["litecoin", "ltc"],
    }


class NewsApiConfig(ConfigModel):
    """NewsAPI (newsapi.org), used only when its key is in the environment."""

    key_env: str = Field(
        "NEWSAPI_KEY", description="Environment variable holding the NewsAPI key (never the file)."
    )
    url: str = Field(
        "https://newsapi.org/v2/everything", description="NewsAPI endpoint (override for tests)."
    )
    query: str = Field(
        "bitcoin OR ethereum OR crypto OR cryptocurrency", description="Search query."
    )
    page_size: int = Field(50, gt=0, le=100, description="Articles asked for per harvest.")


class OllamaConfig(ConfigModel):
    """The local LLM that scores headlines, through Ollama's HTTP API."""

    enabled: bool = Field(True, description="Score with the LLM when it answers in time.")
    host: str = Field("http://127.0.0.1:11434", description="Ollama server URL.")
    model: str = Field(
        "qwen3:1.7b", description="Model name, e.g. qwen3:1.7b or gemma3:1b (must be pulled)."
    )
    timeout_s: float = Field(30.0, gt=0, description="Longest one request may take (seconds).")
    budget_s: float = Field(
        10.0, gt=0,
        description="An answer slower than this counts as too slow: the harvest falls back to "
        "the built-in scorer until the LLM is fast again (seconds).",
    )
    keep_alive: str = Field(
        "30m",
        description="How long Ollama keeps the model loaded after a request (e.g. 30m): longer "
        "than interval_s spares a Pi reloading it every harvest.",
    )
    retries: int = Field(2, ge=0, le=10, description="Retries of a failed or malformed answer.")
    concurrency: int = Field(
        1, ge=1, le=16, description="Requests at once (1 suits a Pi's CPU)."
    )
    recheck_s: float = Field(
        300.0, gt=0, description="After a failure, how long before the LLM is tried again."
    )
    rescore_batch: int = Field(
        50, ge=0, description="Built-in-scored articles rescored by the LLM per harvest once back."
    )


class NewsConfig(ConfigModel):
    """Crypto news: harvest, score, roll up hourly."""

    enabled: bool = Field(False, description="Harvest news on a schedule while collecting.")
    interval_s: float = Field(900.0, gt=0, description="Seconds between harvests (15 min).")
    feeds: list[NewsFeedConfig] = Field(
        default_factory=_default_feeds, description="RSS/Atom feeds to harvest."
    )
    newsapi: NewsApiConfig = Field(
        default_factory=NewsApiConfig, description="NewsAPI, when its key is set."
    )
    timeout_s: float = Field(15.0, gt=0, description="HTTP timeout per feed request (seconds).")
    max_feed_bytes: int = Field(
        5_000_000, gt=0, description="Largest feed document accepted (bytes)."
    )
    user_agent: str = Field(
        "TickerML-news/1 (+paper trading research)", description="HTTP User-Agent sent."
    )
    backoff: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=60.0, max_s=3600.0),
        description="Per-source backoff after failures.",
    )
    aliases: dict[str, list[str]] = Field(
        default_factory=_default_aliases,
        description="Symbol (base asset) → words that tag an article with it (case-insensitive).",
    )
    scorer: Literal["auto", "llm", "builtin"] = Field(
        "auto",
        description="auto: the LLM, falling back to the built-in scorer when it is down or "
        "slow; llm: the LLM only (articles wait); builtin: never the LLM.",
    )
    ollama: OllamaConfig = Field(default_factory=OllamaConfig, description="The local LLM.")
    regime_hours: int = Field(
        24, ge=1, le=24 * 14, description="Hours of roll-ups the sentiment regime looks back on."
    )
