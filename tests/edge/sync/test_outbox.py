"""The outbox's rules on a real SQLite file, without MQTT: batches, acks, re-sends."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.store.db import connect, database_epoch
from edge.sync.outbox import Outbox, Outgoing, check_columns
from shared.clock import ManualClock
from shared.errors import OperationalError
from shared.sync.codec import decode_header, decode_rows
from shared.sync.messages import Ack
from tests.edge.sync.helpers import AGENT, new_writer, put_events, put_trades


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "edge.db"
    writer = new_writer(path)
    put_events(writer, 0, 100)
    put_trades(writer, 0, 30)
    writer.close()
    yield path


def outbox(path: Path, tables: list[str], **kwargs: Any) -> Outbox:
    conn = connect(path, readonly=True)
    settings: dict[str, Any] = {"batch_rows": 10, "max_inflight": 4, "ack_timeout_s": 5.0,
                                "poll_interval_s": 1.0}
    settings.update(kwargs)
    return Outbox(conn, AGENT, tables, ManualClock(1), **settings)


def ack(message: Outgoing, outcome: str = "committed") -> Ack:
    return Ack.model_validate({
        "agent_id": AGENT, "table": message.table, "first_id": message.first_id,
        "last_id": message.last_id, "outcome": outcome, "ts_ns": 1,
    })


def drain(box: Outbox, now: float = 0.0) -> list[Outgoing]:
    out = []
    while (message := box.next_message(now)) is not None:
        out.append(message)
    return out


def test_batches_hold_at_most_batch_rows_rows_in_id_order(db: Path) -> None:
    """Tried: 100 rows with batch_rows 10 and four in flight. Kept: four batches of ten
    consecutive ids, the header and rows agreeing, and nothing more until acks come."""
    box = outbox(db, ["feed_events"])

    sent = drain(box)

    assert [(m.first_id, m.last_id, m.rows) for m in sent] == [
        (1, 10, 10), (11, 20, 10), (21, 30, 10), (31, 40, 10)
    ]
    header, start = decode_header(sent[0].payload)
    rows = decode_rows(sent[0].payload, header, start, max_bytes=1_000_000)
    assert [row[0] for row in rows] == list(range(1, 11))
    assert rows[0][4] == "e0" and header.attempt == 1 and header.agent_id == AGENT


def test_batches_stay_near_batch_bytes(db: Path) -> None:
    """Tried: a byte bound far below ten rows' JSON. Kept: batches under the bound
    (after the first read measures the rows), never empty."""
    box = outbox(db, ["feed_events"], batch_rows=100, batch_bytes=10_000, max_inflight=100)
    conn = sqlite3.connect(db)
    big = "x" * 3_000
    conn.execute("UPDATE feed_events SET detail = ?", (big,))
    conn.commit()

    sent = drain(box)

    assert all(1 <= m.rows <= 3 for m in sent)
    assert sum(m.rows for m in sent) == 100


def test_the_cursor_moves_only_over_the_contiguous_acknowledged_prefix(db: Path) -> None:
    """Tried: acks for batches 3, 1, then 2 (out of order). Kept: the cursor at 10 after
    batch 1, then straight to 30 once batch 2 closes the gap — never past a hole."""
    box = outbox(db, ["feed_events"])
    b1, b2, b3, _ = drain(box)

    assert box.on_ack(ack(b3), 0) is None
    assert box.cursors["feed_events"] == 0
    assert box.on_ack(ack(b1), 0) == 10
    assert box.on_ack(ack(b2), 0) == 30
    assert box.cursors["feed_events"] == 30


def test_an_acknowledgement_frees_a_slot_for_the_next_batch(db: Path) -> None:
    """Tried: max_inflight 4 all used, then one ack. Kept: exactly one new batch."""
    box = outbox(db, ["feed_events"])
    first = drain(box)
    box.on_ack(ack(first[0]), 0)

    more = drain(box)

    assert [(m.first_id, m.last_id) for m in more] == [(41, 50)]


def test_a_batch_not_acknowledged_in_time_is_sent_again_with_the_next_attempt(db: Path) -> None:
    """Tried: no ack for ack_timeout_s. Kept: the same range again, attempt 2, and nothing
    before the timeout."""
    box = outbox(db, ["feed_events"], max_inflight=1)
    (_first,) = drain(box, now=0.0)

    assert drain(box, now=4.9) == []
    (again,) = drain(box, now=5.0)

    assert (again.first_id, again.last_id, again.attempt) == (1, 10, 2)
    assert decode_header(again.payload)[0].attempt == 2


def test_every_unacknowledged_batch_is_sent_again_after_a_reconnect(db: Path) -> None:
    """Tried: four in flight, one acked, then a reconnect. Kept: the three others again
    at once (attempt 2), oldest first; the acked one not."""
    box = outbox(db, ["feed_events"])
    sent = drain(box, now=0.0)
    box.on_ack(ack(sent[1]), 0.0)
    box.on_reconnect(1.0)

    again = drain(box, now=1.0)

    assert [(m.first_id, m.attempt) for m in again[:3]] == [(1, 2), (21, 2), (31, 2)]
    assert again[3].first_id == 41  # the freed slot: a new batch


def test_tables_are_served_round_robin(db: Path) -> None:
    """Tried: a busy table (100 rows) beside a small one (30). Kept: batches alternate,
    so the small table is not held behind the busy one."""
    box = outbox(db, ["feed_events", "trades"], max_inflight=6)

    sent = drain(box)

    assert [m.table for m in sent] == ["feed_events", "trades"] * 3


def test_an_ack_for_an_unknown_range_is_ignored(db: Path) -> None:
    """Tried: acks for a range never sent, an unsynced table, and a repeat. Kept: no cursor
    moves and nothing raises."""
    box = outbox(db, ["feed_events"])
    (b1, *_) = drain(box)
    stray = Ack.model_validate({"agent_id": AGENT, "table": "feed_events", "first_id": 2,
                                "last_id": 10, "outcome": "committed", "ts_ns": 1})
    other = Ack.model_validate({"agent_id": AGENT, "table": "fills", "first_id": 1,
                                "last_id": 10, "outcome": "committed", "ts_ns": 1})

    assert box.on_ack(stray, 0) is None
    assert box.on_ack(other, 0) is None
    assert box.on_ack(ack(b1), 0) == 10
    assert box.on_ack(ack(b1), 0) is None
    assert box.cursors["feed_events"] == 10


def test_a_rejected_batch_keeps_the_cursor_and_is_retried_after_a_backoff(db: Path) -> None:
    """Tried: the hub rejects batch 1. Kept: cursor 0, no new batch of that table, the same
    range again only after the backoff delay, then committed moves the cursor."""
    box = outbox(db, ["feed_events"], max_inflight=1)
    (b1,) = drain(box, now=0.0)

    box.on_ack(ack(b1, "rejected"), 0.0)

    assert box.cursors["feed_events"] == 0
    assert box.next_message(0.0) is None
    retry = box.next_message(100.0)
    assert retry is not None and (retry.first_id, retry.attempt) == (1, 2)
    assert box.on_ack(ack(retry), 100.0) == 10


def test_a_caught_up_table_is_looked_at_again_after_the_poll_interval(tmp_path: Path) -> None:
    """Tried: all rows sent, then new rows written. Kept: they go out after the poll
    interval, not before (no busy polling of SQLite)."""
    path = tmp_path / "edge.db"
    writer = new_writer(path)
    put_events(writer, 0, 5)
    writer.flush()
    box = outbox(path, ["feed_events"])
    assert [m.rows for m in drain(box, now=0.0)] == [5]
    put_events(writer, 5, 3)
    writer.close()

    assert drain(box, now=0.5) == []
    assert [(m.first_id, m.rows) for m in drain(box, now=1.0)] == [(6, 3)]


def test_a_restarted_outbox_starts_after_the_stored_cursor(db: Path) -> None:
    """Tried: a cursor of 40 in sync_cursors. Kept: the first batch starts at 41."""
    writer = new_writer(db)
    writer.put("sync_cursors", ("feed_events", 40, time.time_ns()))
    writer.put("sync_cursors", ("feed_events", 20, time.time_ns()))  # never backwards
    writer.close()
    box = outbox(db, ["feed_events"])

    assert box.cursors["feed_events"] == 40
    assert drain(box)[0].first_id == 41


def test_a_table_whose_columns_differ_from_the_contract_is_refused(tmp_path: Path) -> None:
    """Tried: a trades table with an extra column. Kept: OperationalError naming it."""
    path = tmp_path / "edge.db"
    new_writer(path).close()
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE trades ADD COLUMN extra TEXT")
    conn.commit()

    with pytest.raises(OperationalError, match="trades has columns"):
        check_columns(connect(path, readonly=True), ["trades"])


def test_every_header_names_the_databases_epoch_and_the_tables_newest_id(db: Path) -> None:
    """Tried: the first batch of feed_events (100 rows stored, ten a batch). Kept: its
    header carries the database's epoch and 100, the table's newest id then."""
    box = outbox(db, ["feed_events"], max_inflight=1)

    [sent] = drain(box)

    header, _ = decode_header(sent.payload)
    assert header.epoch == box.epoch == database_epoch(connect(db, readonly=True), where="db")
    assert (header.last_id, header.table_last_id) == (10, 100)


def test_an_ack_for_another_epoch_is_ignored(db: Path) -> None:
    """Tried: an ack naming the batch's range but another database's epoch (an answer
    meant for the database this one replaced). Kept: nothing moves, the batch waits."""
    box = outbox(db, ["feed_events"], max_inflight=1)
    [sent] = drain(box)

    stranger = ack(sent).model_copy(update={"epoch": "f" * 32})

    assert box.on_ack(stranger, 0.0) is None
    assert box.cursors["feed_events"] == 0 and box.unacked == 1


def test_a_conflict_answer_moves_the_cursor_and_is_counted_not_resent(
    db: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """Tried: the hub answers the first batch 'conflict' (it holds other rows under those
    ids and kept both). Kept: the cursor moves past it (re-sending could only conflict
    again), the conflict counted and logged as an error, and it is never sent again."""
    box = outbox(db, ["feed_events"], max_inflight=1, ack_timeout_s=1.0)
    [sent] = drain(box)
    answer = ack(sent, "conflict").model_copy(
        update={"epoch": box.epoch, "rows_conflict": 3, "reason": "3 row(s) differ"}
    )

    with caplog.at_level("ERROR", logger="edge.sync"):
        assert box.on_ack(answer, 0.0) == 10

    assert (box.conflicts, box.conflict_rows, box.unacked) == (1, 3, 0)
    assert any("3 row(s) differ" in r.getMessage() for r in caplog.records)
    assert [m.first_id for m in drain(box, now=60.0)] == [11]
