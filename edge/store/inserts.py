"""The statement the store writer runs for each table it fills (:mod:`edge.store.writer`)."""

from __future__ import annotations

from shared.sync.tables import TABLES, SyncedTable


def _insert_sql(table: SyncedTable) -> str:
    """The insert of one synced table's data columns, in the contract's order (``id`` is
    the table's own AUTOINCREMENT), with the table's conflict clause."""
    columns = table.data_columns
    verb = "INSERT" if table.on_conflict == "ABORT" else f"INSERT OR {table.on_conflict}"
    marks = ", ".join("?" * len(columns))
    return f"{verb} INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


INSERTS: dict[str, str] = {
    **{name: _insert_sql(table) for name, table in TABLES.items()},
    # The agent's own state, never synced: upserts, written by hand.
    # A cursor only ever moves forward: an acknowledgement that arrives late (a
    # re-sent batch acknowledged again) must not undo a newer one.
    "sync_cursors": (
        "INSERT INTO sync_cursors (table_name, acked_id, ts_ns) VALUES (?, ?, ?) "
        "ON CONFLICT(table_name) DO UPDATE SET acked_id = max(acked_id, excluded.acked_id), "
        "ts_ns = excluded.ts_ns"
    ),
    # Batches the hub answered "conflict" (edge/sync/outbox.py): appended, never synced.
    "sync_conflicts": (
        "INSERT INTO sync_conflicts (table_name, first_id, last_id, rows, reason, ts_ns) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    ),
    "news_sources": (
        "INSERT INTO news_sources (name, url, etag, last_modified, failures, next_try_ns, "
        "last_status, last_error, checked_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET url = excluded.url, etag = excluded.etag, "
        "last_modified = excluded.last_modified, failures = excluded.failures, "
        "next_try_ns = excluded.next_try_ns, last_status = excluded.last_status, "
        "last_error = excluded.last_error, checked_ns = excluded.checked_ns"
    ),
}
"""The statement for each table the writer fills: every synced table's generated from
:data:`shared.sync.tables.TABLES` (``put_*`` rows follow its column order), plus the
agent's own upserts."""
