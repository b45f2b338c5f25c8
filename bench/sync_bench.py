"""Edge → hub sync (issue 4): drain a 1,000,000-row backlog through mosquitto into
the hub store, the raw transport limit for the same bytes, and steady-state lag.

Three real processes as in the field — mosquitto, ``tickerml hub run`` and
``tickerml edge sync`` — on loopback; the agent's backlog is a real edge database
(migrations applied) holding 1,000,000 trade rows. Timings come from the hub
store: the drain runs from the first batch received to the last committed.

The raw transport figure sends the very same batch payloads (same rows, same
compression) through the same broker with a bare paho publisher and subscriber,
QoS 1, the same number of messages in flight, and nothing else: no reading the
database, no validation, no commit, no acknowledgement round trip. The ratio
says how much of the wire's throughput the sync keeps.

``python -m bench.sync_bench`` prints the section on its own.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.store.db import connect, migrate
from shared.sync.codec import encode_batch
from shared.sync.messages import BatchHeader
from shared.sync.tables import TABLES

BACKLOG_ROWS = 1_000_000
BATCH_ROWS = 5_000
INFLIGHT = 8
AGENT = "pi-bench"


def make_backlog(db: Path, rows: int = BACKLOG_ROWS) -> None:
    """An edge database holding ``rows`` trades (as a day of a busy symbol would)."""
    conn = connect(db)
    migrate(conn)
    start_ns = 1_763_769_600_000_000_000
    with conn:
        conn.executemany(
            "INSERT INTO trades (exchange, symbol, trade_id, price, size, side, ts_exchange_ns, "
            "ts_recv_ns, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live')",
            (
                ("binanceus", "BTC/USDT", str(10_000_000 + i),
                 f"{64_000 + (i * 7919) % 2_000}.{i % 100:02d}", f"0.{(i * 104_729) % 99_999:05d}",
                 "buy" if i % 3 else "sell", start_ns + i * 86_400_000,
                 start_ns + i * 86_400_000 + 1_500_000)
                for i in range(rows)
            ),
        )
    conn.close()


def backlog_payloads(db: Path, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[int, bytes]]:
    """(rows, payload) for each batch of the backlog, as the agent would build them."""
    table = TABLES["trades"]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        last = 0
        while True:
            rows = conn.execute(
                f"SELECT {', '.join(table.columns)} FROM trades WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch_rows),
            ).fetchall()
            if not rows:
                return
            header = BatchHeader(
                agent_id=AGENT, table="trades", columns=table.columns, first_id=rows[0][0],
                last_id=rows[-1][0], rows=len(rows), created_ns=time.time_ns(),
                sent_ns=time.time_ns(),
            )
            last = rows[-1][0]
            yield len(rows), encode_batch(header, rows)
    finally:
        conn.close()


@dataclass
class RawResult:
    rows: int
    messages: int
    payload_mib: float
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def raw_transport(port: int, payloads: list[tuple[int, bytes]]) -> RawResult:
    """The same payloads through the broker with bare paho clients: QoS 1, same inflight."""
    received = threading.Event()
    count = 0
    expected = len(payloads)
    subscribed = threading.Event()

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        nonlocal count
        count += 1
        if count == expected:
            received.set()

    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="raw-sub", protocol=paho.MQTTv5)
    sub.on_message = on_message
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    sub.subscribe("bench/raw", qos=1)
    subscribed.wait(10)
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="raw-pub", protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(INFLIGHT)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    start = time.perf_counter()
    for _, payload in payloads:
        pub.publish("bench/raw", payload, qos=1)
    if not received.wait(600):
        raise RuntimeError(f"raw transport: {count} of {expected} messages arrived")
    seconds = time.perf_counter() - start
    for client in (pub, sub):
        client.loop_stop()
        client.disconnect()
    return RawResult(
        sum(n for n, _ in payloads), expected, sum(len(p) for _, p in payloads) / 2**20, seconds
    )
