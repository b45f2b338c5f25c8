"""The hub's MQTT ingest: one persistent session, one writer thread, acks after commit.

* **Session.** Client id ``hub``, ``clean_start=False`` from the very first connect
  and a session expiry, so the broker keeps the hub's subscriptions and queues the
  agents' batches while the hub is down (a clean first connect would drop them).
* **Flow.** paho's network thread only appends to an :class:`~hub.ingest.inbox.Inbox`;
  ONE writer thread takes up to ``commit_max_batches`` messages at a time, commits
  them in one transaction (:class:`~hub.ingest.writer.IngestWriter`), then publishes
  the acks. PUBACKs are manual and sent only after a message was handled, so a hub
  killed before its commit gets those messages again from the broker when it comes
  back; the agent's own re-send after its ack timeout is the second line.
* **Limits.** Before anything of a message is read, the agent named in its topic must
  be within its rate limit (:class:`~hub.ingest.limits.AgentRateLimiter`); past it the
  message is counted and dropped on paho's thread, PUBACKed. That, not the broker's
  Receive Maximum (mosquitto 2.0 stops holding to it once the hub acknowledges), keeps
  one agent's flood out of the hub's memory. Between groups the writer stores the
  counts and applies dead-letter retention (:meth:`IngestWriter.tick`).
* **Reconnect.** paho reconnects by itself; :class:`shared.mqtt.Link`, as for every
  TickerML client, makes every wait before an attempt a draw from
  :class:`shared.backoff.Backoff` (capped exponential, full jitter, reset by each
  accepted connection), subscribes again on every connect and treats a non-zero
  reason code, on the CONNACK or a SUBACK, as a failure (logged).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from hub.ingest.inbox import Inbox
from hub.ingest.limits import AgentRateLimiter
from hub.ingest.writer import Incoming, IngestStats, IngestWriter
from hub.store.store import HubStore
from shared.backoff import Backoff
from shared.clock import Clock, LiveClock
from shared.config.hub import HubConfig
from shared.mqtt import Link, connect_properties, new_client
from shared.topics import HUB_SUBSCRIPTIONS, is_agent_data, topic_agent

log = logging.getLogger(__name__)

CLIENT_ID = "hub"
_TAKE_WAIT_S = 0.2
_FLUSH_WAIT_S = 5.0
_TICK_S = 1.0
"""How often the writer writes the rate-limit counters and checks dead-letter retention."""


class IngestService:
    """Takes the fleet's batches, statuses and command results into the hub store."""

    def __init__(
        self, config: HubConfig, *, store: HubStore | None = None, clock: Clock | None = None,
        client_id: str = CLIENT_ID,
    ) -> None:
        self.config = config
        self._owns_store = store is None
        self.store = store if store is not None else HubStore.in_dir(config.data_dir)
        self.clock = clock or LiveClock()
        self.writer = IngestWriter(self.store, config.ingest, self.clock)
        self._inbox = Inbox(config.ingest.queue_bytes)
        self._limiter = AgentRateLimiter(config.ingest.rate_limit)
        self._lock = threading.Lock()
        self._session = 0
        self._accepting = False
        self._link = Link(
            "ingest", HUB_SUBSCRIPTIONS, broker=f"{config.mqtt.host}:{config.mqtt.port}",
            log=log, backoff=Backoff(config.ingest.backoff), on_up=self._on_up,
        )
        self._client = self._make_client(client_id)
        self._stop_writer = threading.Event()
        self._writer_thread: threading.Thread | None = None
        self._pending: list[paho.MQTTMessageInfo] = []

    @property
    def stats(self) -> IngestStats:
        """Running totals (batches, rows, dead letters...)."""
        return self.writer.stats

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    @property
    def retries(self) -> int:
        """Waits drawn before another connection attempt so far (the reconnect backoff)."""
        return self._link.retries

    @property
    def queued(self) -> int:
        """Messages received and waiting for the writer."""
        return len(self._inbox)

    def wait_subscribed(self, timeout_s: float) -> bool:
        """Whether the subscriptions were granted within ``timeout_s`` (tests, demo)."""
        return self._link.subscribed.wait(timeout_s)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start the writer; returns at once."""
        mqtt = self.config.mqtt
        self._accepting = True
        self._stop_writer.clear()
        # Retention once at start, before the writer thread (the store's one writer) runs.
        self.writer.refusals.prune_if_due()
        self._writer_thread = threading.Thread(target=self._write_loop, name="hub-ingest-writer")
        self._writer_thread.start()
        props = connect_properties(persistent=True)
        # The broker hands over at most this many messages not yet PUBACKed; the rest
        # wait at the broker, which bounds what the hub holds in memory.
        props.ReceiveMaximum = self.config.ingest.receive_maximum
        self._client.connect_async(
            mqtt.host, mqtt.port, mqtt.keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()
        log.info("ingest: connecting to %s:%d as %r", mqtt.host, mqtt.port, CLIENT_ID)

    def stop(self) -> None:
        """Finish what was received, publish its acks, disconnect (the session stays)."""
        # Messages arriving from now on are not PUBACKed: the broker keeps them for the
        # hub's next session instead of the hub half-handling them.
        self._accepting = False
        self._link.closing()
        self._stop_writer.set()
        self._inbox.close()
        if self._writer_thread is not None:
            self._writer_thread.join()
            self._writer_thread = None
        self._flush(_FLUSH_WAIT_S)
        self._client.disconnect()
        self._client.loop_stop()
        if self._owns_store:
            self.store.close()
        log.info("ingest: stopped (%s)", self.status_line())

    def run(self, duration_s: float | None = None) -> IngestStats:
        """Run until ``duration_s`` passes or SIGINT/SIGTERM, logging a status line."""
        done = threading.Event()
        with _stop_on_signals(done):
            self.start()
            try:
                deadline = None if duration_s is None else time.monotonic() + duration_s
                interval = self.config.ingest.status_interval_s
                while not done.is_set():
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    rows_before, t0 = self.stats.rows, time.monotonic()
                    done.wait(interval if left is None else min(interval, left))
                    rate = (self.stats.rows - rows_before) / max(time.monotonic() - t0, 1e-9)
                    log.info("ingest: %s, %.0f rows/s", self.status_line(), rate)
            finally:
                self.stop()
        return self.stats

    def status_line(self) -> str:
        """One line of totals: connection, batches, rows, dead letters, backlog in memory."""
        s = self.stats
        return (
            f"{'connected' if self.connected else 'disconnected'}, received={s.received}, "
            f"batches={s.batches}, rows={s.rows} (new {s.rows_new}), "
            f"dead_letters={s.dead_letters} (not kept {s.dead_letters_dropped}), "
            f"rate_limited={s.rate_limited}, statuses={s.statuses}, shed={s.shed}, "
            f"queued={len(self._inbox)}"
        )

    # --- paho callbacks (network thread) ---------------------------------------------

    def _make_client(self, client_id: str) -> paho.Client:
        client = new_client(self.config.mqtt, client_id, max_inflight=100)
        client.manual_ack_set(True)
        client.connect_timeout = self.config.mqtt.connect_timeout_s
        self._link.attach(client, reconnect=True)
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _on_up(self, session_present: bool) -> None:
        # Messages of the new connection carry its number: their PUBACKs must not go
        # out on a later one (see _puback).
        with self._lock:
            self._session += 1

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("ingest: the broker refused an acknowledgement (mid %d): %s", mid, reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if not self._accepting:
            return
        self.stats.received += 1
        size = len(message.payload)
        # Before anything of the message is read: a flood from one agent is dropped here,
        # so it never queues for the writer (the broker does not hold the hub to its
        # Receive Maximum once the hub acknowledges: mosquitto 2.0 hands over the rest).
        if not self._limiter.admit(topic_agent(message.topic), size, self.clock.time_ns() / 1e9):
            self.stats.rate_limited += 1
            client.ack(message.mid, message.qos)
            return
        item = Incoming(
            topic=message.topic, payload=bytes(message.payload), received_ns=self.clock.time_ns(),
            retain=bool(message.retain), mid=message.mid, qos=message.qos,
            session=self._session,
        )
        # Only data batches may be dropped: statuses and results are small and rare.
        droppable = is_agent_data(message.topic)
        if not self._inbox.put(item, droppable=droppable):
            self.stats.shed += 1
            log.warning(
                "ingest: %s dropped, %d bytes already waiting (ingest.queue_bytes); "
                "the agent sends it again", message.topic, self._inbox.bytes,
            )
            client.ack(message.mid, message.qos)

    # --- writer thread ----------------------------------------------------------------

    def _write_loop(self) -> None:
        most = self.config.ingest.commit_max_batches
        next_tick = 0.0
        while True:
            items = self._inbox.take(most, _TAKE_WAIT_S)
            if time.monotonic() >= next_tick or (not items and self._stop_writer.is_set()):
                next_tick = time.monotonic() + _TICK_S
                try:
                    self.writer.tick(self._limiter.take_counts())
                except Exception:
                    log.exception("ingest: writing the counters or pruning failed")
            if not items:
                if self._stop_writer.is_set():
                    return
                continue
            try:
                acks = self.writer.handle(items)
            except Exception:
                # A bug must not silently end ingest: log it, answer nothing (the
                # agents send again) and carry on with the next group.
                log.exception("ingest: a group of %d message(s) failed", len(items))
                acks = []
            for topic, payload in acks:
                self._track(self._client.publish(topic, payload, qos=1))
            self._puback(items)

    def _puback(self, items: list[Incoming]) -> None:
        with self._lock:
            session = self._session
        for item in items:
            # A PUBACK on a newer connection would acknowledge another message with
            # the same packet id; the broker re-sends the old one on that connection.
            if item.qos > 0 and item.session == session:
                self._client.ack(item.mid, item.qos)

    def _track(self, info: paho.MQTTMessageInfo) -> None:
        self._pending = [i for i in self._pending if not _settled(i)]
        self._pending.append(info)

    def _flush(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for info in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not self._client.is_connected():
                break
            try:
                info.wait_for_publish(left)
            except (RuntimeError, ValueError):
                break  # not connected any more: the agents send again
        self._pending = []


def _settled(info: paho.MQTTMessageInfo) -> bool:
    """Published, or failed for good: nothing more to wait for.

    ``is_published`` raises for an ack published while the broker was away; uncaught,
    that ended the writer thread and with it all ingest. The agent sends the batch
    again after a reconnect or its ack timeout, so a lost ack costs only a re-send.
    """
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True


@contextmanager
def _stop_on_signals(done: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``done`` (only the main thread may install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: done.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
