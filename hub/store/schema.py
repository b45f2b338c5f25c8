"""Named migrations of the hub store, applied in order.

The hub keeps one table per synced table (``shared.sync.tables.TABLES``), keyed on
(agent, local id): a row the agent sends twice is stored once, because rows are
immutable at the edge. Each synced table has its own named migration
(``synced_<table>_v1``), so a table added to the contract gets created on the next
start without touching the others; a changed column list is a schema-version bump
and needs a migration of its own (``open_store`` refuses a table whose columns
differ from the contract rather than storing rows in the wrong places).

Data columns carry no declared type on purpose: values arrive already typed by the
agent's own schema (exact decimal strings, integers, floats), and a column without
type affinity keeps each value exactly as sent, so a row's digest on the hub equals
the digest of the same row at the edge.
"""

from __future__ import annotations

from shared.sync.tables import TABLES, SyncedTable

HUB_TABLES = ("agents", "dead_letters", "ingest_batches", "commands")
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


def synced_table_sql(table: SyncedTable) -> str:
    """The CREATE statements for one synced table and its time index."""
    if table.name in HUB_TABLES:
        raise ValueError(f"synced table {table.name!r} collides with a hub table")
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


def _migrations() -> list[tuple[str, str]]:
    found = [("hub_0001_bookkeeping", _HUB_0001)]
    found += [(f"synced_{t.name}_v1", synced_table_sql(t)) for t in TABLES.values()]
    return found


MIGRATIONS: list[tuple[str, str]] = _migrations()
"""(name, SQL) in the order they apply; each is recorded in ``_migrations`` when applied."""
