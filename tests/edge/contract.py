"""Checking an agent database's rows against the sync contract, as the hub will."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from shared.sync.tables import TABLES


def contract_problems(db: Path) -> tuple[dict[str, int], list[tuple[str, int, str, str]]]:
    """(rows per synced table, every (table, id, column, why) the hub would refuse)."""
    counts: dict[str, int] = {}
    refused: list[tuple[str, int, str, str]] = []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        for name, table in TABLES.items():
            rows = conn.execute(f"SELECT {', '.join(table.columns)} FROM {name}").fetchall()
            counts[name] = len(rows)
            for row in rows:
                wrong = table.row_problem(row)
                if wrong is not None:
                    refused.append((name, row[0], *wrong))
    return counts, refused
