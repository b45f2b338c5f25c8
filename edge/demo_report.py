"""What the demo reads back from the agents' and the hub's SQLite files, and the
summary it prints at the end.

Plain sqlite3 on read-only connections: the demo is an edge module and never
imports the hub's code, so the hub's store is read by its documented layout (one
table per synced table, keyed on agent and local id; ``agents`` for statuses).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from edge.replay import replay_files, report_rows
from shared.sync.digest import rows_digest
from shared.sync.messages import AgentStatus
from shared.sync.tables import TABLES as SYNCED

TABLES = ("trades", "candles_1m", "book_snapshots", "feed_events")
"""The tables the live view counts per agent."""


def read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection: the demo only looks, while the writers keep writing."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def count(conn: sqlite3.Connection, table: str, agent_id: str | None = None) -> int:
    """Rows of ``table`` (of one agent in the hub's store); 0 when it does not exist."""
    where, args = ("WHERE agent_id = ?", (agent_id,)) if agent_id else ("", ())
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table} {where}", args).fetchone()[0])
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


def hub_view(db: Path, agent_id: str) -> dict[str, Any]:
    """What the hub's store says of an agent: rows held, its state, and from its
    last status its backlog and books."""
    if not db.exists():
        return {}
    try:
        conn = read_only(db)
        try:
            found = conn.execute(
                "SELECT state, status_json FROM agents WHERE agent_id = ?", (agent_id,)
            ).fetchone()
            rows = sum(count(conn, table, agent_id) for table in SYNCED)
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    out: dict[str, Any] = {"rows": rows, "state": found[0] if found else "-"}
    if found and found[1]:
        with contextlib.suppress(ValidationError):
            status = AgentStatus.model_validate_json(found[1])
            out["backlog"] = f"{sum(b.rows for b in status.backlog.values()):,}"
            out["books"] = f"{sum(f.synced for f in status.feeds)}/{len(status.feeds)}"
    return out


def sync_check(agents: list[dict[str, Any]], hub_db: Path) -> list[dict[str, Any]]:
    """Per agent and synced table: rows at the edge and at the hub, and whether their
    contents are the same (:func:`shared.sync.digest.rows_digest` on both sides)."""
    empty = rows_digest(())
    checks = []
    hub_conn = read_only(hub_db)
    try:
        for agent in agents:
            edge_conn = read_only(agent["db"])
            try:
                for name, table in SYNCED.items():
                    edge = _digest(edge_conn, f"SELECT {', '.join(table.columns)} FROM {name} "
                                   "ORDER BY id", (), empty)
                    at_hub = _digest(
                        hub_conn, f"SELECT local_id, {', '.join(table.data_columns)} FROM {name} "
                        "WHERE agent_id = ? ORDER BY local_id", (agent["agent_id"],), empty,
                    )
                    checks.append({
                        "agent": agent["agent_id"], "table": name, "edge_rows": edge[0],
                        "hub_rows": at_hub[0], "match": edge == at_hub,
                    })
            finally:
                edge_conn.close()
    finally:
        hub_conn.close()
    return checks


def _digest(
    conn: sqlite3.Connection, sql: str, args: tuple[str, ...], empty: tuple[int, str]
) -> tuple[int, str]:
    """The digest of a query's rows; a table this side does not have holds no rows."""
    try:
        return rows_digest(conn.execute(sql, args))
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return empty


def print_summary(
    console: Console, agents: list[dict[str, Any]], commands: list[str],
    checks: list[dict[str, Any]],
) -> None:
    """The end of the demo: the replay of the captures, what each agent stored, the
    paper ledgers, the hub's commands and answers, and the edge-vs-hub comparison."""
    console.rule("replay of what the agents captured, through the same parsers")
    rows = report_rows(replay_files([a["capture"] for a in agents if a["capture"].exists()]))
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
    table = Table()
    for key, header in columns.items():
        table.add_column(header, justify="left" if key in ("exchange", "symbol") else "right")
    for row in rows:
        table.add_row(*(str(row[key]) for key in columns))
    console.print(table)
    console.rule("stored per agent")
    for agent in agents:
        counts = table_counts(agent["db"])
        console.print(
            f"{agent['agent_id']} ({agent['exchange']}): "
            + json.dumps({t: counts.get(t, 0) for t in TABLES})
            + f"  db={agent['db']}"
        )
    console.rule("paper trading (paper money only), from each agent's ledger")
    table = Table()
    for column in ("agent", "strategy", "orders", "fills", "rejections", "equity", "realized",
                   "fees"):
        table.add_column(column, justify="left" if column in ("agent", "strategy") else "right")
    for agent in agents:
        for paper_row in _paper_rows(agent["db"]):
            table.add_row(agent["agent_id"], *paper_row)
    console.print(table)
    console.rule("commands from the hub, and the agents' answers")
    for line in commands or ["(none sent: the agents stopped first)"]:
        console.print(line, highlight=False)
    _print_sync_check(console, checks)
    console.print("Next issues add news sentiment and the model.")


def _print_sync_check(console: Console, checks: list[dict[str, Any]]) -> None:
    console.rule("each agent's tables against the hub's copy (row count and contents)")
    table = Table()
    for column in ("agent", "table", "edge rows", "hub rows", "contents"):
        table.add_column(column, justify="left" if column in ("agent", "table") else "right")
    for check in checks:
        if check["edge_rows"] or check["hub_rows"]:
            table.add_row(
                check["agent"], check["table"], f"{check['edge_rows']:,}",
                f"{check['hub_rows']:,}",
                "[green]match[/green]" if check["match"] else "[red]DIFFER[/red]",
            )
    console.print(table)
    busy = {c["table"] for c in checks if c["edge_rows"] or c["hub_rows"]}
    quiet = [name for name in SYNCED if name not in busy]
    if quiet:
        console.print(f"empty at both ends for every agent: {', '.join(quiet)}")
    differ = [f"{c['agent']}:{c['table']}" for c in checks if not c["match"]]
    verdict = f"; DIFFERENT: {', '.join(differ)}" if differ else ""
    console.print(f"{len(checks) - len(differ)}/{len(checks)} agent tables identical at the hub"
                  + verdict)


def _paper_rows(db: Path) -> list[tuple[str, ...]]:
    """Per strategy: distinct orders, fills, rejections and the last portfolio state."""
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
            figures = [f"{float(v):,.4f}" for v in state] if state else ["-", "-", "-"]
            rows.append((name, str(orders), str(fills), str(rejected), *figures))
        return rows
    finally:
        conn.close()
