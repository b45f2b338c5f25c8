"""The tables an agent syncs to the hub, column by column, with each column's type.

Every synced table is append-only at the edge with ``id INTEGER PRIMARY KEY
AUTOINCREMENT`` first: a local id that only grows. The agent sends rows after its
acknowledged id; the hub keys each row on (agent, database epoch, local id), so a row
sent twice is stored once and a new database (a replaced SD card) is a new series.

This module is the one definition of what a synced row is. Every column has a
:class:`Column`: a kind (``text``, ``int``, ``decimal`` — an exact decimal string —,
``float``, ``json`` — text holding JSON), whether it may be NULL and, where there is
one, the set of values it allows. It is used

* by the agent: :func:`schema_problem` checks that the migrated table declares these
  columns with these SQLite types and NOT NULL flags (a migration that forgot the
  contract stops the writer and the sync);
* by the hub: the wire validation (:meth:`SyncedTable.row_problem`) refuses a batch
  with one wrong value, naming the table, the row's id and the column; the hub
  store's tables have these columns (typeless there on purpose: see
  ``hub/store/schema.py``).

Changing a column means bumping :data:`~shared.sync.messages.SCHEMA_VERSION`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

Kind = Literal["text", "int", "decimal", "float", "json"]

SQLITE_TYPES: dict[Kind, str] = {
    "text": "TEXT", "int": "INTEGER", "decimal": "TEXT", "float": "REAL", "json": "TEXT",
}
"""The SQLite type each kind is declared with at the edge."""

LEGACY_EPOCH = "legacy"
"""The epoch of rows stored before agent databases had one (schema 1 batches, rows
migrated from an older hub store, an imported database from before the epoch)."""

EPOCH_TABLE = "store_epoch"
"""The agent database's one-row table holding its epoch (edge migration 0006)."""

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
# What decimal_text (format(d, "f")) and str(Decimal) write: digits, a point, and the
# exponent str(Decimal) uses for small values (1E-8). Never NaN or Infinity.
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?(E[+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a synced table: what a value of it must be."""

    name: str
    kind: Kind = "text"
    nullable: bool = False
    allowed: frozenset[str | int] | None = None
    """The only values allowed (``side``: buy or sell), or None for any of the kind."""

    @property
    def sqlite_type(self) -> str:
        return SQLITE_TYPES[self.kind]

    def problem(self, value: Any) -> str | None:
        """Why ``value`` cannot be in this column, or None when it can."""
        if value is None:
            return None if self.nullable else "is NULL, the column is NOT NULL"
        kind = self.kind
        if kind == "int":
            if type(value) is not int:
                return f"is {value!r} ({type(value).__name__}), not an integer"
            if not _INT_MIN <= value <= _INT_MAX:
                return f"is {value}, outside SQLite's 64-bit integers"
        elif kind == "float":
            if type(value) is not float:
                return f"is {value!r} ({type(value).__name__}), not a float"
        elif type(value) is not str:
            what = {"text": "text", "decimal": "a decimal string", "json": "JSON text"}[kind]
            return f"is {value!r} ({type(value).__name__}), not {what}"
        elif kind == "decimal":
            if not _DECIMAL.fullmatch(value):
                return f"is {_short(value)}, not a decimal string"
        elif kind == "json":
            try:
                orjson.loads(value)
            except orjson.JSONDecodeError:
                return f"is {_short(value)}, not JSON text"
        if self.allowed is not None and value not in self.allowed:
            return f"is {_short(value)}, not one of {', '.join(sorted(map(str, self.allowed)))}"
        return None

    def all_fit(self, values: Sequence[Any]) -> bool:
        """Whether every value fits (``problem`` is None for each): the same rules,
        checked a column at a time with C-level builtins (a batch holds thousands of
        rows, and the hub checks every value before storing any)."""
        present: Sequence[Any] = values
        if None in values:
            if not self.nullable:
                return False
            present = [v for v in values if v is not None]
        if not present:
            return True
        types = set(map(type, present))
        kind = self.kind
        if kind == "int":
            if types != {int} or min(present) < _INT_MIN or max(present) > _INT_MAX:
                return False
        elif kind == "float":
            if types != {float}:
                return False
        elif types != {str}:
            return False
        elif kind == "decimal":
            if not all(map(_DECIMAL.fullmatch, present)):
                return False
        elif kind == "json" and any(self.problem(v) is not None for v in present):
            return False
        return self.allowed is None or set(present) <= self.allowed


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True)
class SyncedTable:
    """One synced table: its columns (``id`` first), the column that dates a row, and
    what the agent's insert does with a repeated row."""

    name: str
    columns: tuple[str, ...]
    time_column: str
    time_unit_ns: int = 1
    """Nanoseconds per unit of ``time_column`` (1 for ``*_ns``, 1e6 for ``*_ms``)."""
    on_conflict: Literal["ABORT", "IGNORE"] = "ABORT"
    """What the agent's insert does with a row that repeats a unique key beyond ``id``
    (SQLite's conflict clause): ``IGNORE`` keeps the stored row, for tables whose rows
    can honestly arrive twice (a trade after a reconnect, a rebuilt candle, an article
    fetched again); ``ABORT``, a plain ``INSERT``, everywhere else."""
    specs: tuple[Column, ...] = field(default=())
    """Every column's type, ``id`` first, in the order of ``columns``."""

    @property
    def data_columns(self) -> tuple[str, ...]:
        """The columns after ``id``: what the hub stores beside (agent, epoch, local id)."""
        return self.columns[1:]

    def rows_problem(
        self, rows: Sequence[Sequence[Any]]
    ) -> tuple[Any, str, str] | None:
        """(row id, column, why) for the first row that :meth:`row_problem` refuses, or
        None when every row fits: checked column by column first, row by row only to
        name the culprit."""
        if not rows:
            return None
        width = len(self.specs)
        if all(len(row) == width for row in rows) and all(
            spec.all_fit(values)
            for spec, values in zip(self.specs, zip(*rows, strict=True), strict=True)
        ):
            return None
        for row in rows:
            wrong = self.row_problem(row)
            if wrong is not None:
                return (row[0] if row else None), *wrong
        return None

    def row_problem(self, row: Sequence[Any]) -> tuple[str, str] | None:
        """(column, why) for the first value of ``row`` (``id`` first, the contract's
        order) that does not fit its column; None when every value does."""
        for spec, value in zip(self.specs, row, strict=True):
            problem = spec.problem(value)
            if problem is not None:
                return spec.name, problem
        return None


def schema_problem(table: SyncedTable, pragma_rows: list[tuple[Any, ...]]) -> str | None:
    """Why a database table (its ``PRAGMA table_info`` rows) differs from the contract:
    other column names or order, another declared type, another NOT NULL flag."""
    found = tuple(row[1] for row in pragma_rows)
    if found != table.columns:
        return (
            f"{table.name} has columns {list(found)}, the sync contract "
            f"(shared/sync/tables.py) says {list(table.columns)}"
        )
    for row, spec in zip(pragma_rows[1:], table.specs[1:], strict=True):
        declared, not_null = str(row[2]).upper(), bool(row[3])
        if declared != spec.sqlite_type or not_null == spec.nullable:
            want = f"{spec.sqlite_type}{'' if spec.nullable else ' NOT NULL'}"
            have = f"{declared}{' NOT NULL' if not_null else ''}"
            return (
                f"{table.name}.{spec.name} is declared {have}, the sync contract "
                f"(shared/sync/tables.py) says {want}"
            )
    return None


SIDES = frozenset({"buy", "sell"})
_KINDS: dict[str, Kind] = {
    "text": "text", "int": "int", "dec": "decimal", "float": "float", "json": "json",
}


def _table(
    name: str,
    columns: str,
    time_column: str,
    time_unit_ns: int = 1,
    on_conflict: Literal["ABORT", "IGNORE"] = "ABORT",
    allowed: dict[str, frozenset[str | int]] | None = None,
) -> SyncedTable:
    """``columns``: ``name[:kind][?]`` words; kind text unless given (``dec`` for
    decimal strings), ``?`` for a nullable column."""
    specs = [Column("id", "int")]
    for word in columns.split():
        nullable = word.endswith("?")
        column, _, kind = word.rstrip("?").partition(":")
        specs.append(Column(column, _KINDS[kind or "text"], nullable, (allowed or {}).get(column)))
    names = tuple(spec.name for spec in specs)
    return SyncedTable(name, names, time_column, time_unit_ns, on_conflict, tuple(specs))


TABLES: dict[str, SyncedTable] = {
    t.name: t
    for t in (
        _table("trades", "exchange symbol trade_id? price:dec size:dec side "
               "ts_exchange_ns:int ts_recv_ns:int source", "ts_recv_ns",
               on_conflict="IGNORE", allowed={"side": SIDES}),
        _table("candles_1m", "exchange symbol open_time_ms:int open:dec high:dec low:dec "
               "close:dec volume:dec trades:int source", "open_time_ms", 1_000_000,
               on_conflict="IGNORE"),
        _table("book_snapshots", "exchange symbol ts_ns:int sequence:int best_bid:float? "
               "best_ask:float? bids:json asks:json", "ts_ns"),
        _table("feed_events", "exchange symbol kind detail ts_ns:int", "ts_ns"),
        _table("raw_messages", "exchange kind url ts_recv_ns:int data", "ts_recv_ns"),
        _table("paper_portfolios", "strategy quote starting_balance:dec ts_ns:int", "ts_ns"),
        _table("order_events", "order_id:int strategy exchange symbol side type tif "
               "post_only:int qty:dec price:dec? stop_price:dec? status filled_qty:dec "
               "avg_price:dec fees:dec queue_ahead:dec parent_id:int? oco_id:int? "
               "bracket_stop:dec? bracket_take:dec? tag reason created_ns:int arrive_ns:int "
               "ts_ns:int", "ts_ns", allowed={"side": SIDES, "post_only": frozenset({0, 1})}),
        _table("fills", "order_id:int strategy exchange symbol side price:dec qty:dec fee:dec "
               "liquidity ts_ns:int", "ts_ns", allowed={"side": SIDES}),
        _table("risk_rejections", "strategy exchange symbol reason detail order_id:int? "
               "ts_ns:int", "ts_ns"),
        _table("portfolio_state", "strategy ts_ns:int cash:dec positions_value:dec equity:dec "
               "realized:dec unrealized:dec fees:dec drawdown:dec exposure:dec "
               "peak_equity:dec open_positions:int", "ts_ns"),
        _table("arbitrage_opportunities", "symbol buy_exchange sell_exchange start_ns:int "
               "end_ns:int? duration_ns:int? buy_price:dec sell_price:dec size:dec "
               "edge_bps:float profit:dec max_edge_bps:float max_size:dec max_profit:dec "
               "updates:int", "start_ns"),
        _table("news_articles", "url title title_key summary source symbols published_ns:int? "
               "fetched_ns:int", "fetched_ns", on_conflict="IGNORE"),
        _table("news_scores", "article_id:int symbol scorer model prompt_hash score:float "
               "label confidence:float relevance:float scored_ns:int", "scored_ns",
               on_conflict="IGNORE",
               allowed={"scorer": frozenset({"llm", "builtin"}),
                        "label": frozenset({"negative", "neutral", "positive"})}),
        _table("news_sentiment_hourly", "symbol hour_start_ns:int articles:int mean:float "
               "weighted:float dispersion:float negative_share:float llm_share:float regime "
               "regime_score:float computed_ns:int", "computed_ns", on_conflict="IGNORE"),
        # What the agent deleted unsynced when its disk budget ran out: the hub learns
        # of every gap it will never fill, with its id range and reason.
        _table("sync_drops", "table_name first_id:int last_id:int rows:int reason ts_ns:int",
               "ts_ns"),
    )
}
"""Every synced table by name, in the order a fresh agent drains them."""
