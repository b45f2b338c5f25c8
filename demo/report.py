"""What the demo reads back from the agents' and the hub's SQLite files, its live
view, and the summary it prints at the end.

The hub's store is read through the hub's own API (:class:`hub.store.HubStore`, a
read-only one beside the running hub); each agent's database with plain sqlite3 on
read-only connections, by the layout the agent syncs (``shared.sync.tables``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.text import Text

from demo.news_server import FEEDS, NewsFeedServer
from edge.replay import replay_files, report_rows
from hub.store.store import HubStore
from shared.cli_tables import OutputTable, label, number, print_tables, text
from shared.readers.stores import agent_epoch
from shared.sync.digest import rows_digest
from shared.sync.tables import LEGACY_EPOCH
from shared.sync.tables import TABLES as SYNCED

TABLES = ("trades", "candles_1m", "book_snapshots", "feed_events")
"""The tables the live view counts per agent."""

FALLBACK_LOGGED = "news: LLM unreachable"
"""How an agent's log says its scorer gave up on Ollama (:mod:`edge.news.scoring`)."""


@dataclass(frozen=True)
class NewsDemo:
    """The demo's news setup: the LLM host the agents are given and the feed server."""

    ollama_host: str
    server: NewsFeedServer

    @property
    def feeds(self) -> dict[str, str]:
        """Feed name → URL."""
        return {name: self.server.url(name) for name in FEEDS}


def read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection: the demo only looks, while the writers keep writing."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def count(conn: sqlite3.Connection, table: str) -> int:
    """Rows of an agent's ``table``; 0 when it does not exist."""
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def table_counts(db: Path) -> dict[str, Any]:
    """An agent's rows in :data:`TABLES`, in every synced table together, and its last
    stored top of book; empty while its database is not there yet."""
    if not db.exists():
        return {}
    try:
        conn = read_only(db)
        try:
            out: dict[str, Any] = {t: count(conn, t) for t in TABLES}
            out["synced_rows"] = sum(count(conn, t) for t in SYNCED)
            row = conn.execute(
                "SELECT symbol, best_bid, best_ask FROM book_snapshots ORDER BY id DESC LIMIT 1"
            ).fetchone()
            out["last_book"] = f"{row[0]} {row[1]:.2f} / {row[2]:.2f}" if row else "-"
            return out
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def news_counts(db: Path) -> dict[str, int]:
    """An agent's news so far: articles, articles scored, score rows per scorer
    (``builtin``, ``llm``) and hourly roll-up rows; empty while there is no database."""
    if not db.exists():
        return {}
    try:
        conn = read_only(db)
        try:
            out = {"articles": count(conn, "news_articles"),
                   "hourly": count(conn, "news_sentiment_hourly")}
            out["scored"] = int(conn.execute(
                "SELECT count(DISTINCT article_id) FROM news_scores").fetchone()[0])
            out.update(conn.execute("SELECT scorer, count(*) FROM news_scores GROUP BY scorer"))
            return out
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def hub_view(store: HubStore | None, agent_id: str) -> dict[str, Any]:
    """What the hub's store says of an agent: rows held, its state, and from its
    last status its backlog and books; empty while there is no store to read."""
    if store is None:
        return {}
    try:
        found = store.agent(agent_id)
        rows = sum(store.row_counts(agent_id).values())
    except sqlite3.Error:
        return {}
    out: dict[str, Any] = {"rows": rows, "state": found.state if found else "-"}
    # A status the hub could not read (an older contract) leaves only the state.
    status = found.status if found else None
    if status is not None:
        out["backlog"] = f"{sum(b.rows for b in status.backlog.values()):,}"
        out["books"] = f"{sum(f.synced for f in status.feeds)}/{len(status.feeds)}"
    return out


def sync_check(agents: list[dict[str, Any]], store: HubStore) -> list[dict[str, Any]]:
    """Per agent and synced table: rows at the edge and at the hub, and whether their
    contents are the same (:func:`shared.sync.digest.rows_digest` on both sides). The
    hub's side is the series of the agent's database (its epoch), not every database
    the agent ever had."""
    empty = rows_digest(())
    checks = []
    for agent in agents:
        edge_conn = read_only(agent["db"])
        try:
            epoch = agent_epoch(edge_conn) or LEGACY_EPOCH
            for name, table in SYNCED.items():
                edge = _edge_digest(edge_conn, name, table.columns, empty)
                at_hub = store.table_digest(name, agent["agent_id"], epoch)
                checks.append({
                    "agent": agent["agent_id"], "table": name, "edge_rows": edge[0],
                    "hub_rows": at_hub[0], "match": edge == at_hub,
                })
        finally:
            edge_conn.close()
    return checks


def _edge_digest(
    conn: sqlite3.Connection, table: str, columns: tuple[str, ...], empty: tuple[int, str]
) -> tuple[int, str]:
    """The digest of an agent's rows of ``table``; a table it does not have holds none."""
    try:
        return rows_digest(conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"))
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return empty


def live_view(
    agents: list[dict[str, Any]], store: HubStore | None, lines: list[str], elapsed: float,
    duration: float, news_interval_s: float,
) -> Group:
    """The demo's screen while it runs: per agent what it stored, what the hub holds of
    it, its news so far; then the hub's commands (``lines``) and their answers."""
    tables = live_tables(agents, store, elapsed, duration, news_interval_s)
    return Group(*tables, *(Text(line) for line in lines))


def live_tables(
    agents: list[dict[str, Any]], store: HubStore | None, elapsed: float, duration: float,
    news_interval_s: float,
) -> list[OutputTable]:
    """The live view's tables (printed at the end where the output is not a terminal)."""
    collect = OutputTable(
        [label("agent"), label("exchange"), number("trades"), number("candles"),
         number("snapshots"), number("events"), text("last snapshot bid / ask")],
        title=f"TickerML demo — {elapsed:.0f}/{duration:.0f} s (paper trading only)",
    )
    sync = OutputTable(
        [label("agent"), label("link"), number("rows at hub"), number("rows stored"),
         number("backlog"), number("books synced")],
        title="sync to the hub (backlog and books: the agent's last status)",
    )
    news = OutputTable(
        [label("agent"), number("articles"), number("scored"), number("built-in rows"),
         number("LLM rows"), number("hourly rows")],
        title=f"news: harvest, score, roll up every {news_interval_s:.0f} s",
    )
    for agent in agents:
        counts = table_counts(agent["db"])
        collect.add_row(
            agent["agent_id"],
            agent["exchange"],
            *(f"{counts.get(t, 0):,}" for t in TABLES),
            counts.get("last_book", "-"),
        )
        at_hub = hub_view(store, agent["agent_id"])
        sync.add_row(
            agent["agent_id"], at_hub.get("state", "-"), f"{at_hub.get('rows', 0):,}",
            f"{counts.get('synced_rows', 0):,}", at_hub.get("backlog", "-"),
            at_hub.get("books", "-"),
        )
        stored = news_counts(agent["db"])
        news.add_row(agent["agent_id"], *(f"{stored.get(key, 0):,}" for key in
                                          ("articles", "scored", "builtin", "llm", "hourly")))
    return [collect, sync, news]


def print_summary(
    console: Console, agents: list[dict[str, Any]], commands: list[str],
    checks: list[dict[str, Any]], news: NewsDemo,
) -> None:
    """The end of the demo: the replay of the captures, what each agent stored, the
    paper ledgers, the news, the hub's commands and answers, and the edge-vs-hub
    comparison."""
    console.rule("replay of what the agents captured, through the same parsers")
    rows = _replay_rows(agents)
    columns = {
        "exchange": "exchange",
        "symbol": "symbol",
        "messages": "msgs",
        "level_updates": "levels",
        "snapshots": "snaps",
        "checksums_ok": "cksum ok",
        "checksums_failed": "cksum bad",
        "gaps": "gaps",
        "resyncs": "resyncs",
        "crossed": "crossed",
        "trades": "trades",
    }
    table = OutputTable([
        label(header) if key in ("exchange", "symbol") else number(header)
        for key, header in columns.items()
    ])
    table.add_rows([row[key] for key in columns] for row in rows)
    print_tables(table, console=console)
    console.rule("stored per agent")
    for agent in agents:
        counts = table_counts(agent["db"])
        console.print(
            f"{agent['agent_id']} ({agent['exchange']}): "
            + json.dumps({t: counts.get(t, 0) for t in TABLES})
            + f"  db={agent['db']}"
        )
    console.rule("paper trading (paper money only), from each agent's ledger")
    table = OutputTable([
        label("agent"), label("strategy"),
        *(number(n) for n in ("orders", "fills", "rejections", "equity", "realized", "fees")),
    ])
    for agent in agents:
        for paper in _paper_rows(agent["db"]):
            table.add_row(agent["agent_id"], paper["strategy"], paper["orders"], paper["fills"],
                          paper["rejections"], *(None if paper[k] is None else
                                                 f"{float(paper[k]):,.4f}" for k in MONEY))
    print_tables(table, console=console)
    _print_news(console, agents, news)
    console.rule("commands from the hub, and the agents' answers")
    for line in commands or ["(none sent: the agents stopped first)"]:
        console.print(line, highlight=False)
    _print_sync_check(console, checks)
    console.print("Next issues add the model: trained on the hub from these synced rows, "
                  "news sentiment features included, and shipped back to the agents.")


def _print_sync_check(console: Console, checks: list[dict[str, Any]]) -> None:
    console.rule("each agent's tables against the hub's copy (row count and contents)")
    table = OutputTable(
        [label("agent"), label("table"), number("edge rows"), number("hub rows"),
         number("contents")]
    )
    for check in checks:
        if check["edge_rows"] or check["hub_rows"]:
            table.add_row(
                check["agent"], check["table"], f"{check['edge_rows']:,}",
                f"{check['hub_rows']:,}",
                Text("match", style="green") if check["match"] else Text("DIFFER", style="red"),
            )
    print_tables(table, console=console)
    busy = {c["table"] for c in checks if c["edge_rows"] or c["hub_rows"]}
    quiet = [name for name in SYNCED if name not in busy]
    if quiet:
        console.print(f"empty at both ends for every agent: {', '.join(quiet)}")
    differ = [f"{c['agent']}:{c['table']}" for c in checks if not c["match"]]
    verdict = f"; DIFFERENT: {', '.join(differ)}" if differ else ""
    console.print(f"{len(checks) - len(differ)}/{len(checks)} agent tables identical at the hub"
                  + verdict)


def summary_json(
    agents: list[dict[str, Any]], commands: list[str], checks: list[dict[str, Any]],
    news: NewsDemo,
) -> dict[str, Any]:
    """What :func:`print_summary` prints, as ``tickerml demo --json`` gives it: each of its
    tables as a list of objects, the figures as stored (exact decimal strings)."""
    return {
        "replay": _replay_rows(agents),
        "stored": [{"agent": a["agent_id"], "exchange": a["exchange"], "db": str(a["db"]),
                    **{t: table_counts(a["db"]).get(t, 0) for t in TABLES}} for a in agents],
        "paper": [{"agent": a["agent_id"], **row} for a in agents for row in _paper_rows(a["db"])],
        "news": {
            "feed_server_answers": news.server.answers,
            "agents": [{"agent": a["agent_id"], **news_counts(a["db"])} for a in agents],
            "headlines": [dict(agent=a["agent_id"], **dict(zip(HEADLINE_KEYS, row, strict=True)))
                          for a in agents for row in _news_rows(a["db"], _HEADLINES_SQL)],
            "rollups": [dict(agent=a["agent_id"], **dict(zip(ROLLUP_KEYS, row, strict=True)))
                        for a in agents for row in _news_rows(a["db"], _ROLLUP_SQL)],
        },
        "commands": commands,
        "sync_check": checks,
    }


def _replay_rows(agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return report_rows(replay_files([a["capture"] for a in agents if a["capture"].exists()]))


MONEY = ("equity", "realized", "fees")


def _paper_rows(db: Path) -> list[dict[str, Any]]:
    """Per strategy: distinct orders, fills, rejections and the last portfolio state
    (:data:`MONEY`, as stored; None before the first)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = []
        names = [r[0] for r in conn.execute("SELECT strategy FROM paper_portfolios ORDER BY id")]
        for name in names:
            orders = conn.execute(
                "SELECT count(DISTINCT order_id) FROM order_events WHERE strategy = ?", (name,)
            ).fetchone()[0]
            fills = conn.execute(
                "SELECT count(*) FROM fills WHERE strategy = ?", (name,)
            ).fetchone()[0]
            rejected = conn.execute(
                "SELECT count(*) FROM risk_rejections WHERE strategy = ?", (name,)
            ).fetchone()[0]
            state = conn.execute(
                "SELECT equity, realized, fees FROM portfolio_state WHERE strategy = ? "
                "ORDER BY id DESC LIMIT 1", (name,),
            ).fetchone()
            rows.append({"strategy": name, "orders": orders, "fills": fills,
                         "rejections": rejected,
                         **dict(zip(MONEY, state or (None, None, None), strict=True))})
        return rows
    finally:
        conn.close()


def _print_news(console: Console, agents: list[dict[str, Any]], news: NewsDemo) -> None:
    """Per agent: articles, scores by scorer and why, a few headlines, the roll-up."""
    console.rule("news: harvested from the demo's RSS feeds, scored, rolled up per hour")
    served = "; ".join(
        f"{name} {', '.join(f'{n} x {status}' for status, n in sorted(answers.items()))}"
        for name, answers in news.server.answers.items()
    )
    console.print(f"feed server answers (304: nothing new since that agent's last ETag): "
                  f"{served or 'none'}", highlight=False)
    headlines = OutputTable(
        [label("agent"), label("source"), number("score"), label("label"), text("coins"),
         text("headline")],
        title="a few headlines, newest of each label (market-wide score)",
    )
    rollups: list[tuple[str, tuple[Any, ...]]] = []
    for agent in agents:
        counts = news_counts(agent["db"])
        by_scorer = ", ".join(
            f"{counts.get(s, 0):,} by the {name}" for s, name in
            (("builtin", "built-in scorer"), ("llm", "LLM"))
        )
        waiting = counts.get("articles", 0) - counts.get("scored", 0)
        console.print(
            f"{agent['agent_id']}: {counts.get('articles', 0):,} articles, "
            f"{counts.get('scored', 0):,} scored"
            + (f" ({waiting:,} await the next cycle)" if waiting else "")
            + f"; score rows (market-wide + one per coin): {by_scorer}", highlight=False,
        )
        log = agent["config"].parent / "stderr.log"
        if log.exists() and FALLBACK_LOGGED in log.read_text(errors="replace"):
            console.print(f"  Ollama unreachable at {news.ollama_host}: built-in scorer "
                          f"(its log: \"{FALLBACK_LOGGED} ...\")", highlight=False)
        for row in _news_rows(agent["db"], _HEADLINES_SQL):
            headlines.add_row(agent["agent_id"], row[0], f"{row[1]:+.2f}", row[2], row[3] or None,
                              row[4])
        rollups += [(agent["agent_id"], row) for row in _news_rows(agent["db"], _ROLLUP_SQL)]
    print_tables(headlines, console=console)
    if not rollups:
        console.print("hourly roll-up: no hour has closed yet; `tickerml news show` lists "
                      "roll-ups once one has", highlight=False)
        return
    table = OutputTable(
        [label("agent"), label("symbol"), number("hour (UTC)"), number("articles"),
         number("weighted"), label("regime"), number("regime score")],
        title="latest hourly roll-up per symbol (* = market-wide)",
    )
    for agent_id, (symbol, hour_ns, articles, weighted, regime, regime_score) in rollups:
        hour = datetime.fromtimestamp(hour_ns / 1e9, UTC).strftime("%Y-%m-%d %H:00")
        table.add_row(agent_id, symbol, hour, articles, f"{weighted:+.2f}", regime,
                      f"{regime_score:+.2f}")
    print_tables(table, console=console)


HEADLINE_KEYS = ("source", "score", "label", "symbols", "title")
ROLLUP_KEYS = ("symbol", "hour_start_ns", "articles", "weighted", "regime", "regime_score")
_HEADLINES_SQL = """
    SELECT source, score, label, symbols, title FROM (
        SELECT a.source, s.score, s.label, a.symbols, a.title, a.id,
               row_number() OVER (PARTITION BY s.label ORDER BY a.id DESC) AS newest
        FROM news_articles AS a JOIN news_scores AS s ON s.article_id = a.id
        WHERE s.symbol = '*'
    ) WHERE newest = 1 ORDER BY score DESC
"""

_ROLLUP_SQL = """
    SELECT symbol, hour_start_ns, articles, weighted, regime, regime_score
    FROM news_sentiment_hourly
    WHERE id IN (SELECT max(id) FROM news_sentiment_hourly GROUP BY symbol)
    ORDER BY symbol
"""


def _news_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """``sql``'s rows from an agent's database; none when it or the table is missing."""
    if not db.exists():
        return []
    try:
        conn = read_only(db)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []
