"""Named migrations of the hub store, applied in order.

The hub keeps one table per synced table (``shared.sync.tables.TABLES``), keyed on
(agent, epoch, local id). The epoch is the agent database's (edge migration 0006): a
database that starts its ids again is a new series, never taken for rows the hub has.
A row the agent sends twice is stored once, because rows are immutable at the edge;
a row that comes again with other content is kept apart in ``row_conflicts`` (with
the batch it came in) and never overwrites nor hides the first. ``agent_epochs``
records each agent's epochs, first and last seen.

Each synced table has its own named migrations (``synced_<table>_v1`` created it
keyed on (agent, local id); ``synced_<table>_v2`` rebuilds it with the epoch, rows
stored before that under the epoch ``legacy``), so a table added to the contract gets
created on the next start without touching the others; a changed column list is a
schema-version bump and needs a migration of its own (``open_store`` refuses a table
whose columns differ from the contract rather than storing rows in the wrong places).

Data columns carry no declared type on purpose: a column without type affinity keeps
each value exactly as sent, so a row's digest on the hub equals the digest of the
same row at the edge (a ``TEXT`` column would turn an integer sent into text, a
``NUMERIC`` one a decimal string into a number). The types are checked in code
instead, from the same contract, before anything is stored
(``SyncedTable.row_problem``, called by ``hub/ingest/validate.py``).
"""

from __future__ import annotations

from shared.sync.tables import LEGACY_EPOCH, TABLES, SyncedTable

HUB_TABLES = (
    "agents", "dead_letters", "ingest_batches", "commands", "agent_epochs", "row_conflicts",
    "ingest_counts", "retained_refusals",
)
"""The hub's own tables; a synced table may never take one of these names."""

_HUB_0001 = """
CREATE TABLE agents (
    agent_id TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'unknown',
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns INTEGER,
    status_json TEXT,
    status_ts_ns INTEGER,
    status_received_ns INTEGER
);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_bytes INTEGER NOT NULL,
    received_ns INTEGER NOT NULL
);
CREATE INDEX dead_letters_agent ON dead_letters (agent_id, id);

CREATE TABLE ingest_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    rows_new INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    payload_bytes INTEGER NOT NULL,
    sent_ns INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    committed_ns INTEGER NOT NULL
);
CREATE INDEX ingest_batches_agent ON ingest_batches (agent_id, table_name, id);

CREATE TABLE commands (
    command_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    args_json TEXT NOT NULL DEFAULT '{}',
    issued_ns INTEGER,
    outcome TEXT,
    detail TEXT,
    answered_ns INTEGER
);
CREATE INDEX commands_agent ON commands (agent_id, issued_ns)
"""


_HUB_0002 = f"""
CREATE TABLE agent_epochs (
    agent_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns INTEGER NOT NULL,
    PRIMARY KEY (agent_id, epoch)
) WITHOUT ROWID;
INSERT INTO agent_epochs (agent_id, epoch, first_seen_ns, last_seen_ns)
    SELECT agent_id, '{LEGACY_EPOCH}', min(received_ns), max(received_ns)
    FROM ingest_batches GROUP BY agent_id;

CREATE TABLE row_conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    table_name TEXT NOT NULL,
    local_id INTEGER NOT NULL,
    row_json TEXT NOT NULL,
    row_digest TEXT NOT NULL,
    stored_digest TEXT NOT NULL,
    batch_first_id INTEGER NOT NULL,
    batch_last_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    sent_ns INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    UNIQUE (agent_id, epoch, table_name, local_id, row_digest)
);
CREATE INDEX row_conflicts_agent ON row_conflicts (agent_id, id);

ALTER TABLE ingest_batches ADD COLUMN epoch TEXT NOT NULL DEFAULT '{LEGACY_EPOCH}';
ALTER TABLE ingest_batches ADD COLUMN rows_conflict INTEGER NOT NULL DEFAULT 0
"""
"""Epochs: each agent's database series (an agent heard from before gets ``legacy``),
the rows that came again with other content, and both columns in the batch log."""


_HUB_INGEST_LIMITS = """
CREATE TABLE ingest_counts (
    agent_id TEXT PRIMARY KEY,
    refused INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    dropped_bytes INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    rate_limited_bytes INTEGER NOT NULL DEFAULT 0,
    retained_repeats INTEGER NOT NULL DEFAULT 0,
    updated_ns INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO ingest_counts (agent_id, refused, updated_ns)
    SELECT coalesce(agent_id, ''), count(*), max(received_ns)
    FROM dead_letters GROUP BY agent_id;

CREATE TABLE retained_refusals (
    digest TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    received_ns INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX dead_letters_received ON dead_letters (received_ns)
"""
"""The ingest's limits (``hub/ingest/limits.py``): per agent (``''``: a topic naming no
valid agent) the messages refused, those beyond the dead-letter budget (counted, not
kept) and those over the rate limit (dropped unread), all since the store began, so
they outlive dead-letter retention; the digests of refused retained messages, so a
broker's replay of one at every hub start is not kept again; and the index retention
prunes by."""


def _check_name(table: SyncedTable) -> None:
    if table.name in HUB_TABLES:
        raise ValueError(f"synced table {table.name!r} collides with a hub table")


def _v1_sql(table: SyncedTable) -> str:
    """``synced_<table>_v1``: keyed on (agent, local id), as first released."""
    _check_name(table)
    columns = ",\n    ".join(table.data_columns)
    return (
        f"CREATE TABLE {table.name} (\n"
        f"    agent_id TEXT NOT NULL,\n"
        f"    local_id INTEGER NOT NULL,\n"
        f"    {columns},\n"
        f"    PRIMARY KEY (agent_id, local_id)\n"
        f") WITHOUT ROWID;\n"
        f"CREATE INDEX {table.name}_time ON {table.name} ({table.time_column})"
    )


def synced_table_sql(table: SyncedTable, name: str | None = None) -> str:
    """The CREATE statement of one synced table as it is now (named ``name``, default
    the table's own), keyed on (agent, epoch, local id); typeless data columns."""
    _check_name(table)
    columns = ",\n    ".join(table.data_columns)
    return (
        f"CREATE TABLE {name or table.name} (\n"
        f"    agent_id TEXT NOT NULL,\n"
        f"    epoch TEXT NOT NULL,\n"
        f"    local_id INTEGER NOT NULL,\n"
        f"    {columns},\n"
        f"    PRIMARY KEY (agent_id, epoch, local_id)\n"
        f") WITHOUT ROWID"
    )


def _v2_sql(table: SyncedTable) -> str:
    """``synced_<table>_v2``: rebuilt with the epoch in its key, every row stored so far
    in the ``legacy`` epoch (copied as is: typeless columns keep each value)."""
    columns = ", ".join(table.data_columns)
    new = f"{table.name}__v2"
    return (
        f"{synced_table_sql(table, new)};\n"
        f"INSERT INTO {new} (agent_id, epoch, local_id, {columns}) "
        f"SELECT agent_id, '{LEGACY_EPOCH}', local_id, {columns} FROM {table.name};\n"
        f"DROP TABLE {table.name};\n"
        f"ALTER TABLE {new} RENAME TO {table.name};\n"
        f"CREATE INDEX {table.name}_time ON {table.name} ({table.time_column})"
    )


def _migrations() -> list[tuple[str, str]]:
    found = [("hub_0001_bookkeeping", _HUB_0001)]
    found += [(f"synced_{t.name}_v1", _v1_sql(t)) for t in TABLES.values()]
    found += [("hub_0002_epochs", _HUB_0002)]
    found += [(f"synced_{t.name}_v2", _v2_sql(t)) for t in TABLES.values()]
    found += [("hub_0003_ingest_limits", _HUB_INGEST_LIMITS)]
    return found


MIGRATIONS: list[tuple[str, str]] = _migrations()
"""(name, SQL) in the order they apply; each is recorded in ``_migrations`` when applied."""
