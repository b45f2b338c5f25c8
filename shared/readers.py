"""Market data read back from a TickerML store: an agent's database or the hub store.

Both keep the synced tables (:mod:`shared.sync.tables`) under the same names and
data columns; only the key differs. An agent's rows are keyed on ``id``; the
hub's on ``(agent_id, epoch, local_id)``, one copy per agent that sent them, one
series per database the agent had (the epoch; ``(agent_id, local_id)`` in a hub
store from before epochs, still read). Which kind a file is comes from its schema
(:func:`store_kind`), so every reader here takes the same connection either way,
and an optional ``agent``:

* agent database: it holds one agent's rows, ``agent`` filters nothing (check it
  first with :func:`check_agent`);
* hub store, ``agent`` given: that agent's series, every epoch of it together (a
  replaced SD card goes on where the old one stopped), in time order, each market
  fact once (a trade or a candle both databases hold is read once, as below);
* hub store, no ``agent``: every agent's rows, each market fact once. Two agents
  collecting the same market store the same trades and candles: a trade is taken
  once per (exchange, symbol, trade_id) (the lowest agent id's copy), a candle
  once per (exchange, symbol, open_time_ms) (the copy built from the most trades:
  a whole minute beats one an agent joined or left halfway; then the lowest agent
  id). Books are not merged: two agents' snapshots or raw messages are two views
  of the book with their own clocks and sequence, so they are read from one agent
  only — the only one that has them, else :class:`OperationalError` asking for it.

Every function reads; none writes. Callers open the connection (read-only).
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, Literal

import orjson

from shared.book import OrderBook, levels_to_ticks
from shared.candles import DAY_MS, MINUTE_MS, resample, timeframe_ms, timeframe_name
from shared.errors import OperationalError
from shared.marketdata import Candle, Trade
from shared.markets import DEFAULT_FEE
from shared.sync.tables import EPOCH_TABLE, TABLES
from shared.trading.backtest import BOOK, CANDLE, TRADE, Event, candle_close_ns
from shared.trading.types import Instrument

StoreKind = Literal["agent", "hub"]
SourceKind = Literal["raw", "snapshots", "candles"]
SOURCES: tuple[SourceKind, ...] = ("raw", "snapshots", "candles")
RawRecord = tuple[str, int, str, Any]
"""A stored raw message: (kind, ts_recv_ns, url, data), as capture records carry them."""

_BOOK_TABLES: dict[SourceKind, tuple[str, str, str]] = {
    # kind: (table, time column, symbol filter): raw messages are per exchange.
    "raw": ("raw_messages", "ts_recv_ns", ""),
    "snapshots": ("book_snapshots", "ts_ns", " AND symbol = ?"),
}


# -- which store ---------------------------------------------------------------------


def store_kind(conn: sqlite3.Connection, where: str = "store") -> StoreKind:
    """``agent`` or ``hub``, from the synced tables' key columns.

    ``OperationalError`` naming ``where`` for a file that is not SQLite or holds
    no synced table.
    """
    try:
        present = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        for name in TABLES:
            if name not in present:
                continue
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')]
            if columns[:3] == ["agent_id", "epoch", "local_id"] or columns[:2] == [
                "agent_id", "local_id"
            ]:
                return "hub"
            if columns[:1] == ["id"]:
                return "agent"
    except sqlite3.DatabaseError as exc:
        raise OperationalError(f"{where}: not a TickerML store ({exc})") from None
    raise OperationalError(
        f"{where}: not a TickerML store (none of the synced tables, such as trades or "
        "candles_1m, is in it)"
    )


def agent_epoch(conn: sqlite3.Connection) -> str | None:
    """An agent database's epoch (its ``store_epoch`` row), or None for a database from
    before epochs (never migrated by an agent of schema 2): its rows are the hub's
    ``legacy`` series."""
    try:
        row = conn.execute(f"SELECT epoch FROM {EPOCH_TABLE}").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else str(row[0])


def hub_agents(conn: sqlite3.Connection) -> list[str]:
    """The agents a hub store has heard from, by id ([] for an agent database)."""
    if store_kind(conn) == "agent":
        return []
    return [row[0] for row in conn.execute("SELECT agent_id FROM agents ORDER BY agent_id")]


def check_agent(
    conn: sqlite3.Connection, agent: str | None, *, where: str, own_agent: str | None = None
) -> str | None:
    """The ``agent`` to pass to the readers, after checking the store has it.

    On the hub store an unknown agent is an error naming the agents present. An
    agent database does not record whose it is: ``agent`` is checked against
    ``own_agent`` (the agent_id of its config) and an error without one; the
    readers then get ``None`` (nothing to filter).
    """
    if agent is None:
        return None
    if store_kind(conn, where) == "hub":
        present = hub_agents(conn)
        if agent not in present:
            raise OperationalError(
                f"{where}: no agent {agent!r} in this hub store (agents: "
                f"{', '.join(present) or 'none yet'})"
            )
        return agent
    if own_agent is None:
        raise OperationalError(
            f"{where}: an agent database, not the hub store; it holds one agent's rows and "
            f"does not record which agent's, so agent {agent!r} cannot be checked: drop "
            "--agent, or give the agent's config (-c edge.yaml) to check it against"
        )
    if agent != own_agent:
        raise OperationalError(
            f"{where}: the database of agent {own_agent!r}, not of {agent!r} "
            f"(agents present: {own_agent})"
        )
    return None


def _scope(conn: sqlite3.Connection, agent: str | None) -> tuple[str, tuple[Any, ...], str]:
    """(extra WHERE clause, its arguments, tie-break ORDER BY) for ``agent``'s rows.

    On the hub store the tie-break is the row's key, and a read that may see several
    copies of a fact (several agents, or one agent's several databases) keeps one.
    """
    if store_kind(conn) == "agent":
        return "", (), "id"
    columns = [row[1] for row in conn.execute('PRAGMA table_info("trades")')]
    key = "agent_id, epoch, local_id" if "epoch" in columns else "agent_id, local_id"
    if agent is None:
        return "", (), key
    return " AND agent_id = ?", (agent,), key


def _row_key(order: str) -> str:
    """A text unique to one stored row, from its key columns (``order``)."""
    return " || '/' || ".join(order.split(", "))


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


# -- events --------------------------------------------------------------------------


def raw_records(
    conn: sqlite3.Connection, exchange: str, end_ns: int, agent: str | None = None
) -> Iterator[RawRecord]:
    """Stored raw messages of ``exchange`` up to ``end_ns`` in receive order (one agent's)."""
    agent = book_agent(conn, "raw", exchange, "", 0, end_ns, agent)
    scope, args, order = _scope(conn, agent)
    rows = conn.execute(
        "SELECT kind, ts_recv_ns, url, data FROM raw_messages "
        f"WHERE exchange = ? AND ts_recv_ns <= ?{scope} ORDER BY ts_recv_ns, {order}",
        (exchange, end_ns, *args),
    )
    yield from rows


def trade_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None,
) -> Iterator[Event]:
    """Stored trades, timed by the exchange's clock (the indexed column)."""
    scope, args, order = _scope(conn, agent)
    columns = "trade_id, price, size, side, ts_exchange_ns, ts_recv_ns"
    window = (
        f"FROM trades WHERE exchange = ? AND symbol = ? AND ts_exchange_ns BETWEEN ? AND ?{scope}"
    )
    if order != "id":
        # Every agent's (and every database's) copy of a trade has its trade id and
        # exchange time: keep one. A trade without an id is only ever its own copy.
        sql = (
            f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY "
            f"coalesce(trade_id, 'row:' || {_row_key(order)}) ORDER BY {order}) AS copy "
            f"{window}) WHERE copy = 1 ORDER BY ts_exchange_ns, {order}"
        )
    else:
        sql = f"SELECT {columns} {window} ORDER BY ts_exchange_ns, {order}"
    for trade_id, price, size, side, ts_exchange, ts_recv in conn.execute(
        sql, (exchange, symbol, start_ns, end_ns, *args)
    ):
        trade = Trade(
            exchange, symbol, str(trade_id), Decimal(price), Decimal(size), side,
            ts_exchange, ts_recv,
        )
        yield ts_exchange, TRADE, trade


def snapshot_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None,
) -> Iterator[Event]:
    """Stored top-N book snapshots (one agent's), each loaded into one book then yielded."""
    agent = book_agent(conn, "snapshots", exchange, symbol, start_ns, end_ns, agent)
    scope, args, order = _scope(conn, agent)
    rows = conn.execute(
        "SELECT ts_ns, sequence, bids, asks FROM book_snapshots "
        f"WHERE exchange = ? AND symbol = ? AND ts_ns BETWEEN ? AND ?{scope} "
        f"ORDER BY ts_ns, {order}",
        (exchange, symbol, start_ns, end_ns, *args),
    )
    book: OrderBook | None = None
    for ts, sequence, bids_json, asks_json in rows:
        bids, asks = orjson.loads(bids_json), orjson.loads(asks_json)
        if book is None:
            # Snapshots are written with the book's own fixed decimals: the first
            # one tells them, and every later one has the same.
            book = OrderBook(
                exchange, symbol,
                price_decimals=_decimals(level[0] for level in bids + asks),
                size_decimals=_decimals(level[1] for level in bids + asks),
            )
        book.load_snapshot(
            levels_to_ticks(bids, book.price_decimals, book.size_decimals),
            levels_to_ticks(asks, book.price_decimals, book.size_decimals),
        )
        book.sequence = sequence
        book.ts_recv_ns = book.ts_exchange_ns = ts
        yield ts, BOOK, book


def candle_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None,
) -> Iterator[Event]:
    """Stored 1-minute candles that open within the window, at their close time.

    A window is read as a person reads it: ``--to 2023-03-21`` takes that day's
    23:59 candle, which closes at midnight, after the window's last nanosecond, so
    a replay runs on to :func:`replay_end_ns` to handle it.
    """
    scope, args, order = _scope(conn, agent)
    first_ms = -(-start_ns // 1_000_000)
    last_ms = end_ns // 1_000_000
    columns = "open_time_ms, open, high, low, close, volume, trades"
    window = (
        f"FROM candles_1m WHERE exchange = ? AND symbol = ? AND open_time_ms BETWEEN ? AND ?"
        f"{scope}"
    )
    if order != "id":
        sql = (
            f"SELECT {columns} FROM (SELECT *, row_number() OVER (PARTITION BY open_time_ms "
            f"ORDER BY trades DESC, {order}) AS copy {window}) WHERE copy = 1 "
            "ORDER BY open_time_ms"
        )
    else:
        sql = f"SELECT {columns} {window} ORDER BY open_time_ms, {order}"
    for open_ms, o, h, low, c, v, n in conn.execute(
        sql, (exchange, symbol, first_ms, last_ms, *args)
    ):
        candle = Candle(
            exchange, symbol, open_ms, Decimal(o), Decimal(h), Decimal(low), Decimal(c),
            Decimal(v), int(n),
        )
        yield candle_close_ns(candle), CANDLE, candle


# -- longer timeframes ---------------------------------------------------------------


def _stored_timeframe(
    conn: sqlite3.Connection, exchange: str, symbol: str, timeframe: str, first_ms: int,
    last_ms: int,
) -> Iterator[Candle]:
    """An agent database's own candles of ``timeframe`` (``candles_tf``, filled by
    ``tickerml data import``); none from a store without that table (the hub's)."""
    try:
        rows = conn.execute(
            "SELECT open_time_ms, open, high, low, close, volume, trades FROM candles_tf "
            "WHERE exchange = ? AND symbol = ? AND timeframe = ? "
            "AND open_time_ms BETWEEN ? AND ? ORDER BY open_time_ms",
            (exchange, symbol, timeframe, first_ms, last_ms),
        )
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return
        raise
    for open_ms, o, h, low, c, v, n in rows:
        yield Candle(
            exchange, symbol, open_ms, Decimal(o), Decimal(h), Decimal(low), Decimal(c),
            Decimal(v), int(n),
        )


def timeframe_candle_events(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    agent: str | None = None, *, timeframe: str = "1m",
) -> Iterator[Event]:
    """Candles of ``timeframe`` (``5m``, ``1h``...) that open within the window, at
    their close time (open + the interval): the last one closes after ``end_ns``
    (see :func:`replay_end_ns`).

    ``1m`` is :func:`candle_events`. A longer one is read from the store's own
    candles of that timeframe where it has them (``candles_tf``, imported from an
    exchange's files), and resampled exactly from the 1-minute candles for every
    other bucket (:func:`shared.candles.resample`: complete buckets only).
    ``ValueError`` for a timeframe that is not one.
    """
    interval_ms = timeframe_ms(timeframe)
    if interval_ms == MINUTE_MS:
        yield from candle_events(conn, exchange, symbol, start_ns, end_ns, agent)
        return
    name = timeframe_name(interval_ms)
    interval_ns = interval_ms * 1_000_000
    first_ms = -(-start_ns // 1_000_000)
    last_ms = end_ns // 1_000_000
    stored = ((c.open_time_ms, 0, c) for c in _stored_timeframe(
        conn, exchange, symbol, name, first_ms, last_ms))
    sources: list[Iterator[tuple[int, int, Candle]]] = [stored]
    if DAY_MS % interval_ms == 0:
        bucket_ms = first_ms + (-first_ms) % interval_ms  # the first bucket opening in it
        last_bucket_ms = last_ms - last_ms % interval_ms
        minutes = (
            candle for _, _, candle in candle_events(
                conn, exchange, symbol, bucket_ms * 1_000_000,
                (last_bucket_ms + interval_ms - MINUTE_MS) * 1_000_000, agent,
            ) if isinstance(candle, Candle)
        )
        sources.append((c.open_time_ms, 1, c) for c in resample(minutes, interval_ms))
    previous = None
    for open_ms, _, candle in heapq.merge(*sources):
        if open_ms == previous:
            continue  # the store's own candle of that bucket stands
        previous = open_ms
        if first_ms <= open_ms <= last_ms:
            yield open_ms * 1_000_000 + interval_ns, CANDLE, candle


def replay_end_ns(end_ns: int, timeframe: str = "1m") -> int:
    """How far a replay of a window ending at ``end_ns`` runs: far enough for every
    candle that opens by then, which is an event at its close, up to one interval
    later. Books and trades are read up to ``end_ns`` only, so nothing else comes in.
    """
    return end_ns + timeframe_ms(timeframe) * 1_000_000


def stored_timeframe_count(
    conn: sqlite3.Connection, exchange: str, symbol: str, start_ns: int, end_ns: int,
    timeframe: str,
) -> int:
    """How many of the store's own ``timeframe`` candles open in the window."""
    name = timeframe_name(timeframe_ms(timeframe))
    return _count(
        conn,
        "SELECT COUNT(*) FROM candles_tf WHERE exchange = ? AND symbol = ? AND timeframe = ? "
        "AND open_time_ms BETWEEN ? AND ?",
        (exchange, symbol, name, start_ns // 1_000_000, end_ns // 1_000_000),
    )


# -- what there is -------------------------------------------------------------------


def _count(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> int:
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
    scope, args, _ = _scope(conn, agent)
    first_ms, end_ms = -(-start_ns // 1_000_000), end_ns // 1_000_000
    return {
        "raw": _count(
            conn,
            "SELECT COUNT(*) FROM raw_messages WHERE exchange = ? "
            f"AND ts_recv_ns BETWEEN ? AND ?{scope}",
            (exchange, start_ns, end_ns, *args),
        ),
        "snapshots": _count(
            conn,
            "SELECT COUNT(*) FROM book_snapshots WHERE exchange = ? AND symbol = ? "
            f"AND ts_ns BETWEEN ? AND ?{scope}",
            (exchange, symbol, start_ns, end_ns, *args),
        ),
        "candles": _count(
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


# -- instruments ---------------------------------------------------------------------


def _decimals(values: Iterable[str]) -> int:
    """Most decimals in ``values`` (trailing zeros included: exchanges pad to their scale)."""
    most = 0
    for text in values:
        _, dot, frac = str(text).partition(".")
        if dot:
            most = max(most, len(frac))
    return most


def _significant_decimals(values: Iterable[str]) -> int:
    most = 0
    for text in values:
        _, dot, frac = str(text).partition(".")
        if dot:
            most = max(most, len(frac.rstrip("0")))
    return most


def inferred_instrument(
    conn: sqlite3.Connection, exchange: str, symbol: str, *, fee: Decimal = DEFAULT_FEE,
    sample_rows: int = 20_000, agent: str | None = None,
) -> Instrument:
    """An instrument whose tick and lot are the finest steps seen in stored prices and sizes.

    Used when no market metadata is cached: it can only be as fine as the venue,
    never finer, so rounding to it refuses nothing the venue would accept.
    """
    scope, args, _ = _scope(conn, agent)
    prices: list[str] = []
    sizes: list[str] = []
    for table, size_column in (
        ("trades", "size"), ("candles_1m", "volume"), ("candles_tf", "volume")
    ):
        price_column = "price" if table == "trades" else "close"
        try:
            rows = conn.execute(
                f"SELECT {price_column}, {size_column} FROM {table} "
                f"WHERE exchange = ? AND symbol = ?{scope} LIMIT ?",
                (exchange, symbol, *args, sample_rows),
            ).fetchall()
        except sqlite3.OperationalError:
            continue
        prices += [r[0] for r in rows]
        if table == "trades" or not sizes:
            sizes += [r[1] for r in rows]
    if not prices:
        raise OperationalError(
            f"no stored trades or candles of {exchange}:{symbol} to infer its tick size from"
        )
    tick = Decimal(1).scaleb(-_significant_decimals(prices))
    lot = Decimal(1).scaleb(-_significant_decimals(sizes)) if sizes else Decimal("1e-8")
    return Instrument(exchange, symbol, tick, lot, maker_fee=fee, taker_fee=fee)
