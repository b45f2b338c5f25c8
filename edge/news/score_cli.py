"""``tickerml news score``: score headlines now, with the LLM or the built-in scorer.

A thin layer over :class:`edge.news.scoring.NewsScorer`, the same policy the
harvest uses: nothing is stored. Headlines are tagged with the config's
aliases by :class:`edge.news.tagging.SymbolTagger`, as harvested articles are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from edge.news.types import MARKET, ArticleText, SentimentScore
from shared.cli_options import config_option


def _result(article: ArticleText, scores: Sequence[SentimentScore]) -> dict[str, Any]:
    market = next((s for s in scores if s.symbol == MARKET), None)
    if market is None:
        return {"headline": article.title, "symbols": list(article.symbols), "scorer": None,
                "model": None, "prompt_hash": None, "score": None, "label": "pending",
                "confidence": None, "per_symbol": {}}
    return {
        "headline": article.title,
        "symbols": list(article.symbols),
        "scorer": market.scorer,
        "model": market.model,
        "prompt_hash": market.prompt_hash,
        "score": round(market.score, 4),
        "label": market.label,
        "confidence": round(market.confidence, 4),
        "per_symbol": {
            s.symbol: {"score": round(s.score, 4), "label": s.label,
                       "confidence": round(s.confidence, 4), "relevance": round(s.relevance, 4)}
            for s in scores if s.symbol != MARKET
        },
    }


def _print_table(results: list[dict[str, Any]], note: str | None) -> None:
    from rich.console import Console

    from shared.cli_tables import OutputTable, label, number, print_tables, text

    table = OutputTable(
        [text("headline"), label("scorer"), number("score"), label("label"), number("conf."),
         text("symbols")],
        title="news sentiment",
    )
    for r in results:
        per_symbol = ", ".join(
            f"{sym} {v['score']:+.2f} (rel {v['relevance']:.1f})"
            for sym, v in r["per_symbol"].items()
        )
        table.add_row(
            r["headline"], r["scorer"],
            None if r["score"] is None else f"{r['score']:+.2f}", r["label"],
            None if r["confidence"] is None else f"{r['confidence']:.2f}", per_symbol or None,
        )
    console = Console()
    print_tables(table, console=console)
    if note:
        console.print(note)


@click.command(name="score")
@click.argument("texts", nargs=-1)
@click.option("--file", "file", type=click.File("r", encoding="utf-8"),
              help="Headlines, one per line ('-': standard input).")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("--scorer", type=click.Choice(["auto", "llm", "builtin"]), default=None,
              help="Override news.scorer: auto (LLM, else built-in), llm or builtin.")
@config_option(
    "edge", required=False, help="Edge config (its news: section); default: built-in defaults."
)
@click.option("--symbol", "symbols", multiple=True,
              help="Also tag every headline with this symbol, e.g. BTC (repeatable).")
def score_command(
    texts: tuple[str, ...], file: IO[str] | None, as_json: bool, scorer: str | None,
    config_file: Path | None, symbols: tuple[str, ...],
) -> None:
    """Score headlines given as arguments or one per line in --file: the market-wide
    score, label and confidence and one per tagged symbol, by the LLM (Ollama) or
    the built-in offline scorer, with the same fallback as the harvest. Works
    offline: without Ollama, auto falls back to the built-in scorer and says so.
    Exits 1 when --scorer llm leaves headlines unscored."""
    from edge.news.scoring import NewsScorer
    from edge.news.tagging import SymbolTagger
    from shared.clock import LiveClock
    from shared.config.base import load_config
    from shared.config.edge import EdgeConfig
    from shared.config.news import NewsConfig

    headlines = [t.strip() for t in texts if t.strip()]
    if file is not None:
        headlines += [line.strip() for line in file if line.strip()]
    if not headlines:
        raise click.UsageError("give headlines as arguments or with --file")
    news = load_config(EdgeConfig, config_file).news if config_file else NewsConfig()
    if scorer is not None:
        news = news.model_copy(update={"scorer": scorer})
    tagger = SymbolTagger(news.aliases)
    extra = [s.strip().upper() for s in symbols if s.strip()]
    articles = [
        ArticleText(article_id=i, title=h, summary="",
                    symbols=tuple(dict.fromkeys([*tagger.tag(h), *extra])))
        for i, h in enumerate(headlines, start=1)
    ]
    news_scorer = NewsScorer(news, LiveClock())
    try:
        scored = news_scorer.score(articles)
    finally:
        news_scorer.close()
    stats = news_scorer.stats
    by_article: dict[int, list[SentimentScore]] = {}
    for article_id, score in scored:
        by_article.setdefault(article_id, []).append(score)
    results = [_result(a, by_article.get(a.article_id, [])) for a in articles]
    note = None
    if stats.fallback:
        then = ("scored with the built-in scorer" if news.scorer == "auto"
                else "headlines left unscored" if stats.pending else "")
        note = f"{stats.fallback}" + (f"; {then}" if then else "")
    if as_json:
        click.echo(json.dumps({"scorer": news.scorer, "note": note, "results": results}, indent=2))
        if note:
            click.echo(note, err=True)
    else:
        _print_table(results, note)
    if stats.pending:
        raise SystemExit(1)
