"""Store readers on real SQLite files: an agent's database and the hub store alike.

The agents' databases are written by the agent's own store writer and copied into
the hub store by ``hub import-db``'s library, the way rows reach it in the field.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from edge.store.db import connect
from edge.store.writer import StoreWriter
from hub.store.importer import import_db
from hub.store.store import HubStore
from shared.book import OrderBook
from shared.config.store import StoreConfig
from shared.errors import OperationalError
from shared.marketdata import Candle, Trade
from shared.readers.events import candle_events, snapshot_events, trade_events
from shared.readers.instruments import inferred_instrument
from shared.readers.sources import available, book_agent
from shared.readers.stores import check_agent, store_kind
from shared.trading.backtest import Event

EX, SYM = "binanceus", "BTC/USDT"
T0_MS = 1_700_000_040_000  # a minute boundary
T0_NS = T0_MS * 1_000_000
ALL = (0, 2**62)


@dataclass(frozen=True)
class Market:
    """What one agent collected: candle minutes, trade ids, snapshot seconds."""

    minutes: range
    trade_ids: range
    snapshots: range = range(0)
    close_offset: str = "0"
    """Added to every close: tells one agent's candles from another's."""
    thin_minutes: tuple[int, ...] = ()
    """Minutes the agent joined halfway: fewer trades in its candle."""
    recv_delay_ns: int = 1_000


def agent_db(path: Path, market: Market) -> Path:
    writer = StoreWriter(path, StoreConfig())
    for m in market.minutes:
        close = Decimal("100.00") + m + Decimal(market.close_offset)
        writer.put_candle(Candle(
            EX, SYM, T0_MS + m * 60_000, Decimal("100.00"), close + 1, Decimal("99.50"), close,
            Decimal("1.2500"), 3 if m in market.thin_minutes else 40,
        ))
    for i in market.trade_ids:
        ts = T0_NS + i * 1_000_000_000
        writer.put_trade(Trade(
            EX, SYM, str(i), Decimal("100.01") + i, Decimal("0.0005"), "buy" if i % 2 else "sell",
            ts, ts + market.recv_delay_ns,
        ))
    book = OrderBook(EX, SYM, price_decimals=2, size_decimals=4)
    for s in market.snapshots:
        book.load_snapshot([(10_000_00 + s, 12_500)], [(10_001_00 + s, 5_000)])
        book.sequence = s + 1
        writer.put_book_snapshot(book, T0_NS + s * 5_000_000_000, 10)
    writer.close()
    return path


def plain(events: Iterable[Event]) -> list[tuple[Any, ...]]:
    """Events as values (a snapshot event yields one reused book: read it at once)."""
    out: list[tuple[Any, ...]] = []
    for ts, kind, item in events:
        if isinstance(item, OrderBook):
            out.append((ts, kind, item.snapshot_levels(), item.sequence))
        else:
            out.append((ts, kind, item))
    return out


def candles(events: Iterable[Event]) -> list[Candle]:
    return [c for _, _, c in events if isinstance(c, Candle)]


def trades(events: Iterable[Event]) -> list[Trade]:
    return [t for _, _, t in events if isinstance(t, Trade)]


def read_all(conn: sqlite3.Connection, agent: str | None = None) -> dict[str, Any]:
    return {
        "candles": plain(candle_events(conn, EX, SYM, *ALL, agent)),
        "trades": plain(trade_events(conn, EX, SYM, *ALL, agent)),
        "snapshots": plain(snapshot_events(conn, EX, SYM, *ALL, agent)),
        "available": available(conn, EX, SYM, *ALL, agent),
        "instrument": inferred_instrument(conn, EX, SYM, agent=agent),
    }


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[HubStore]:
    with HubStore(tmp_path / "hub" / "hub.db") as store:
        yield store


def test_the_hub_store_gives_an_agents_events_exactly_as_its_own_database(
    tmp_path: Path, hub: HubStore
) -> None:
    db = agent_db(tmp_path / "edge.db", Market(range(10), range(1, 60), range(8)))
    import_db(hub, db, "pi-1")
    edge_conn, hub_conn = connect(db, readonly=True), connect(hub.path, readonly=True)

    from_edge = read_all(edge_conn)
    from_hub = read_all(hub_conn, "pi-1")
    from_hub_all = read_all(hub_conn)

    assert store_kind(edge_conn) == "agent" and store_kind(hub_conn) == "hub"
    assert len(from_edge["candles"]) == 10 and len(from_edge["trades"]) == 59
    assert len(from_edge["snapshots"]) == 8
    assert from_hub == from_edge
    assert from_hub_all == from_edge  # one agent: nothing to merge
    assert from_edge["instrument"].tick_size == Decimal("0.01")
    assert from_edge["instrument"].lot_size == Decimal("0.0001")
    edge_conn.close()
    hub_conn.close()


def test_two_agents_copies_of_the_same_market_are_read_once(
    tmp_path: Path, hub: HubStore
) -> None:
    """pi-1 collected minutes 0-9 and trades 1-50; pi-2 minutes 5-14 (joining minute 5
    halfway) and trades 30-80, with its own receive clock and other closes."""
    one = agent_db(tmp_path / "one.db", Market(range(10), range(1, 51)))
    two = agent_db(tmp_path / "two.db", Market(
        range(5, 15), range(30, 81), close_offset="0.5", thin_minutes=(5,), recv_delay_ns=7,
    ))
    import_db(hub, one, "pi-1")
    import_db(hub, two, "pi-2")
    conn = connect(hub.path, readonly=True)

    merged = candles(candle_events(conn, EX, SYM, *ALL))
    prints = trades(trade_events(conn, EX, SYM, *ALL))
    counts = available(conn, EX, SYM, *ALL)

    assert [c.open_time_ms for c in merged] == [T0_MS + m * 60_000 for m in range(15)]
    closes = {(c.open_time_ms - T0_MS) // 60_000: c.close for c in merged}
    assert closes[5] == Decimal("105.00")  # pi-1's whole minute, not pi-2's thin one
    assert closes[6] == Decimal("106.00")  # both whole: the lowest agent id's
    assert closes[12] == Decimal("112.50")  # only pi-2 has it
    assert [t.trade_id for t in prints] == [str(i) for i in range(1, 81)]
    assert all(t.ts_recv_ns - t.ts_exchange_ns == (1_000 if int(t.trade_id) < 51 else 7)
               for t in prints)
    assert counts["candles"] == 15
    assert candles(candle_events(conn, EX, SYM, *ALL, "pi-2"))[0].close == (
        Decimal("105.50")
    )
    conn.close()


def test_an_agents_databases_are_one_series_in_time_order_each_fact_once(
    tmp_path: Path, hub: HubStore
) -> None:
    """pi-1's SD card was replaced: its first database collected minutes 0-9, trades 1-50
    and snapshots 0-3; the new one (a new epoch, ids from 1 again) minutes 8-14, trades
    45-80 and snapshots 4-7, both holding minutes 8-9 and trades 45-50. Kept: reading
    pi-1 gives every minute, trade and snapshot once, in time order (the old database's
    copy of the shared ones), and candles count each minute once."""
    old = agent_db(tmp_path / "old.db", Market(range(10), range(1, 51), range(4)))
    new = agent_db(tmp_path / "new.db", Market(range(8, 15), range(45, 81), range(4, 8)))
    import_db(hub, old, "pi-1")
    import_db(hub, new, "pi-1")
    conn = connect(hub.path, readonly=True)

    series = candles(candle_events(conn, EX, SYM, *ALL, "pi-1"))
    prints = trades(trade_events(conn, EX, SYM, *ALL, "pi-1"))
    books = plain(snapshot_events(conn, EX, SYM, *ALL, "pi-1"))

    assert len(hub.epochs("pi-1")) == 2
    assert [c.open_time_ms for c in series] == [T0_MS + m * 60_000 for m in range(15)]
    assert [t.trade_id for t in prints] == [str(i) for i in range(1, 81)]
    assert [b[3] for b in books] == list(range(1, 9))  # each snapshot's sequence, in order
    assert available(conn, EX, SYM, *ALL, "pi-1")["candles"] == 15
    conn.close()


def test_books_of_several_agents_are_read_from_the_one_named(
    tmp_path: Path, hub: HubStore
) -> None:
    one = agent_db(tmp_path / "one.db", Market(range(2), range(1, 3), range(4)))
    two = agent_db(tmp_path / "two.db", Market(range(2), range(1, 3), range(2, 9)))
    import_db(hub, one, "pi-1")
    import_db(hub, two, "pi-2")
    conn, own = connect(hub.path, readonly=True), connect(two, readonly=True)

    with pytest.raises(OperationalError, match=r"come from agents pi-1, pi-2.*give --agent"):
        book_agent(conn, "snapshots", EX, SYM, *ALL, None, where="hub.db")
    with pytest.raises(OperationalError, match="come from agents pi-1, pi-2"):
        list(snapshot_events(conn, EX, SYM, *ALL))
    named = plain(snapshot_events(conn, EX, SYM, *ALL, "pi-2"))
    early = book_agent(conn, "snapshots", EX, SYM, 0, T0_NS + 1, None)

    assert named == plain(snapshot_events(own, EX, SYM, *ALL))
    assert len(named) == 7
    assert early == "pi-1"  # only pi-1 has snapshots before pi-2 started
    conn.close()
    own.close()


def test_an_agent_that_is_not_in_the_store_is_refused_naming_those_that_are(
    tmp_path: Path, hub: HubStore
) -> None:
    db = agent_db(tmp_path / "edge.db", Market(range(2), range(1, 3)))
    import_db(hub, db, "pi-1")
    hub_conn, edge_conn = connect(hub.path, readonly=True), connect(db, readonly=True)

    unknown = r"no agent 'pi-9' in this hub store \(agents: pi-1\)"
    other = r"agent 'pi-1', not of 'pi-2' \(agents present: pi-1\)"
    with pytest.raises(OperationalError, match=unknown):
        check_agent(hub_conn, "pi-9", where="hub.db")
    with pytest.raises(OperationalError, match=other):
        check_agent(edge_conn, "pi-2", where="edge.db", own_agent="pi-1")
    with pytest.raises(OperationalError, match="an agent database, not the hub store"):
        check_agent(edge_conn, "pi-1", where="edge.db")

    assert check_agent(hub_conn, "pi-1", where="hub.db") == "pi-1"
    assert check_agent(edge_conn, "pi-1", where="edge.db", own_agent="pi-1") is None
    hub_conn.close()
    edge_conn.close()


def test_a_file_that_is_not_a_tickerml_store_is_named_in_the_error(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    plain_conn = sqlite3.connect(other)
    plain_conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    plain_conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("not sqlite at all, just some words to fill a page " * 40)

    for path in (other, text):
        conn = sqlite3.connect(path)
        with pytest.raises(OperationalError, match=f"{path.name}: not a TickerML store"):
            store_kind(conn, str(path))
        conn.close()
