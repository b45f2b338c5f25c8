"""What there is to replay from a store in a window, and whose books a read uses
(:mod:`shared.readers`)."""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from shared.errors import OperationalError
from shared.readers.stores import agent_scope, store_kind

SourceKind = Literal["raw", "snapshots", "candles"]
SOURCES: tuple[SourceKind, ...] = ("raw", "snapshots", "candles")

_BOOK_TABLES: dict[SourceKind, tuple[str, str, str]] = {
    # kind: (table, time column, symbol filter): raw messages are per exchange.
    "raw": ("raw_messages", "ts_recv_ns", ""),
    "snapshots": ("book_snapshots", "ts_ns", " AND symbol = ?"),
}


def book_agent(
    conn: sqlite3.Connection, kind: SourceKind, exchange: str, symbol: str,
    start_ns: int, end_ns: int, agent: str | None, *, where: str = "store",
) -> str | None:
    """Whose books a ``raw`` or ``snapshots`` read uses: ``agent`` if given, else the
    one agent of a hub store with such rows in the window (``None``: an agent
    database, candles, or no rows). Several agents: ``OperationalError`` naming them."""
    if agent is not None or kind == "candles" or store_kind(conn, where) == "agent":
        return agent
    table, column, symbol_filter = _BOOK_TABLES[kind]
    args: tuple[Any, ...] = (exchange, symbol) if symbol_filter else (exchange,)
    try:
        found = [
            row[0] for row in conn.execute(
                f"SELECT DISTINCT agent_id FROM {table} WHERE exchange = ?{symbol_filter} "
                f"AND {column} BETWEEN ? AND ? ORDER BY agent_id",
                (*args, start_ns, end_ns),
            )
        ]
    except sqlite3.OperationalError:
        return None
    if len(found) > 1:
        what = "raw messages" if kind == "raw" else "book snapshots"
        raise OperationalError(
            f"{where}: {what} of {exchange}:{symbol} in the window come from agents "
            f"{', '.join(found)}; books are not merged across agents: give --agent "
            "(or --source candles, which merges every agent's candles)"
        )
    return found[0] if found else None


def count_rows(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
    """The count ``sql`` selects; 0 from a store without its table."""
    try:
        return int(conn.execute(sql, args).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # a store without that table (an older agent's, say)


def available(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None,
) -> dict[SourceKind, int]:
    """How many rows each source has in the window (raw: the exchange's messages).

    Candles count once per minute however many agents have them; raw messages and
    snapshots count every agent's (they are read from one, :func:`book_agent`).
    """
    scope, args, _ = agent_scope(conn, agent)
    first_ms, end_ms = -(-start_ns // 1_000_000), end_ns // 1_000_000
    return {
        "raw": count_rows(
            conn,
            "SELECT COUNT(*) FROM raw_messages WHERE exchange = ? "
            f"AND ts_recv_ns BETWEEN ? AND ?{scope}",
            (exchange, start_ns, end_ns, *args),
        ),
        "snapshots": count_rows(
            conn,
            "SELECT COUNT(*) FROM book_snapshots WHERE exchange = ? AND symbol = ? "
            f"AND ts_ns BETWEEN ? AND ?{scope}",
            (exchange, symbol, start_ns, end_ns, *args),
        ),
        "candles": count_rows(
            conn,
            "SELECT COUNT(DISTINCT open_time_ms) FROM candles_1m WHERE exchange = ? "
            f"AND symbol = ? AND open_time_ms BETWEEN ? AND ?{scope}",
            (exchange, symbol, first_ms, end_ms, *args),
        ),
    }


def choose_source(counts: dict[SourceKind, int], requested: str, where: str) -> SourceKind:
    """The source to use: the best one with data for ``auto``, else the requested one.

    ``where`` names the store and market in the error when nothing fits.
    """
    if requested == "auto":
        for best in SOURCES:
            if counts[best]:
                return best
        raise OperationalError(
            f"{where}: no raw messages, book snapshots or candles in the window; "
            "check --exchange, --symbol, --from and --to"
        )
    if requested not in SOURCES:
        raise OperationalError(
            f"--source must be auto, raw, snapshots or candles, not {requested!r}"
        )
    kind: SourceKind = requested
    if not counts[kind]:
        raise OperationalError(f"{where}: no {kind} rows in the window (have: {counts})")
    return kind
