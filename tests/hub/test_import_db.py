"""``tickerml hub import-db`` and a backtest on the hub store, as a user runs them.

The agent's database is written by the agent's own store writer: three days of real
Binance.US BTC/USDT 1-minute candles, and a real Binance.US WebSocket capture
replayed by the agent's event router with raw capture on (trades, candles, snapshots,
raw messages). Its market metadata is a cache file in the agent's format. Every
command runs as a subprocess on real SQLite files.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.agent.router import EventRouter
from edge.history.metadata import write_cache
from edge.replay import replay_exchange
from edge.store.db import connect
from edge.store.writer import StoreWriter
from hub.ingest.writer import Incoming, IngestWriter
from hub.store.store import HubStore
from shared.clock import LiveClock, ManualClock
from shared.config.hub import HubConfig, IngestConfig
from shared.config.store import StoreConfig
from shared.markets import MarketInfo
from shared.readers.stores import agent_epoch
from shared.sync.codec import encode_batch
from shared.sync.messages import BatchHeader
from shared.sync.tables import TABLES
from shared.topics import agent_data
from tests.shared.trading.test_backtest_reference import candles_of, load_rows

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

FROM, TO = "2023-03-01", "2023-03-03"
MARKET_TABLES = ("trades", "candles_1m", "raw_messages")


@pytest.fixture(scope="module")
def edge_db(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An agent's data_dir: edge.db and markets/binanceus.json beside it."""
    path = tmp_path_factory.mktemp("edge") / "edge.db"
    config = StoreConfig(raw_capture=True)
    writer = StoreWriter(path, config)
    for candle in candles_of(load_rows(real_data)[: 3 * 1440]):
        writer.put_candle(candle, source="import")
    cf = real_data / "cryptofeed"
    replay_exchange(
        "binanceus", [cf / "BINANCE_US.ws.1.0", cf / "BINANCE_US.http.0.0"],
        sink=EventRouter(writer, ManualClock(), config), raw_writer=writer,
    )
    writer.close()
    # A fee no default has: it can only reach the hub's backtest through the cache.
    btc = MarketInfo("binanceus", "BTC/USDT", "BTCUSDT", Decimal("0.01"), Decimal("0.00001"),
                     Decimal("0.00001"), Decimal("10"), Decimal("0.0004"), Decimal("0.0006"), True)
    write_cache(path.parent / "markets" / "binanceus.json", "binanceus", 1_700_000_000_000,
                {"BTC/USDT": btc})
    return path


@pytest.fixture()
def hub_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "hub.yaml"
    config = HubConfig(data_dir=str(tmp_path / "hub"))
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    return path


def tickerml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from shared.cli import main; main()", *args],
        capture_output=True, text=True, cwd=cwd, check=False, timeout=240,
    )


def import_db(hub_yaml: Path, edge_db: Path, agent: str, *extra: str) -> dict[str, Any]:
    result = tickerml("hub", "import-db", "-c", str(hub_yaml), str(edge_db), "--agent", agent,
                      "--json", *extra, cwd=hub_yaml.parent)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def edge_counts(edge_db: Path) -> dict[str, int]:
    conn = connect(edge_db, readonly=True)
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    conn.close()
    return counts


def backtest(db: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return tickerml("backtest", "--db", str(db), "--exchange", "binanceus", "--json",
                    "--no-plot", "--out", str(out), *args, cwd=out.parent)


def test_importing_twice_adds_every_row_once_and_the_markets_cache(
    edge_db: Path, hub_yaml: Path
) -> None:
    want = edge_counts(edge_db)

    first = import_db(hub_yaml, edge_db, "pi-1")
    second = import_db(hub_yaml, edge_db, "pi-1", "--chunk-rows", "333")

    for table in MARKET_TABLES:
        assert want[table] > 0, table
    for table, n in want.items():
        assert first["tables"][table] == {
            "read": n, "added": n, "already": 0, "conflicts": 0, "present": True,
        }
        assert second["tables"][table] == {
            "read": n, "added": 0, "already": n, "conflicts": 0, "present": True,
        }
    with HubStore.in_dir(hub_yaml.parent / "hub") as store:
        assert {t: store.count(t, "pi-1") for t in TABLES} == want
        assert [a.agent_id for a in store.agents()] == ["pi-1"]
    assert first["markets"] == {"binanceus": {"markets": 1, "copied": True}}
    assert second["markets"] == {"binanceus": {"markets": 1, "copied": False}}
    copied = hub_yaml.parent / "hub" / "markets" / "binanceus.json"
    assert copied.read_bytes() == (edge_db.parent / "markets" / "binanceus.json").read_bytes()


def test_rows_the_agent_already_synced_are_not_stored_again(
    edge_db: Path, hub_yaml: Path
) -> None:
    """Tried: the ingest took pi-1's first half of its trades off the wire, then the
    whole database was imported. Kept: that half already present, the rest added."""
    conn = connect(edge_db, readonly=True)
    columns = TABLES["trades"].columns
    total = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
    half = total // 2
    rows = [list(r) for r in conn.execute(
        f"SELECT {', '.join(columns)} FROM trades ORDER BY id LIMIT ?", (half,)
    )]
    epoch = agent_epoch(conn)
    conn.close()
    header = BatchHeader(agent_id="pi-1", table="trades", columns=columns, first_id=rows[0][0],
                         last_id=rows[-1][0], rows=half, created_ns=1, sent_ns=1, epoch=epoch,
                         table_last_id=total)
    with HubStore.in_dir(hub_yaml.parent / "hub") as store:
        writer = IngestWriter(store, IngestConfig(), LiveClock())
        (ack,) = writer.handle([Incoming(agent_data("pi-1", "trades"),
                                         encode_batch(header, rows), time.time_ns())])
    assert b'"committed"' in ack[1]

    report = import_db(hub_yaml, edge_db, "pi-1")

    assert report["tables"]["trades"] == {
        "read": total, "added": total - half, "already": half, "conflicts": 0, "present": True,
    }
    with HubStore.in_dir(hub_yaml.parent / "hub") as store:
        assert store.count("trades", "pi-1") == total


def strategies_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    return {name: {k: run[k] for k in ("final_equity", "fees", "fills", "rejections")}
            for name, run in doc["strategies"].items()} | {
                "_instrument": doc["instrument"], "_events": doc["events"]}


def test_a_backtest_on_the_hub_store_trades_as_on_the_agents_database(
    edge_db: Path, hub_yaml: Path, tmp_path: Path
) -> None:
    """Tried: pi-1's database imported, then the same database again as pi-2 (two agents
    that collected the same market). Kept: the same fills and trades from the hub
    with --agent pi-1, and without --agent in candle mode (each candle once); raw books
    without --agent are refused naming both agents."""
    import_db(hub_yaml, edge_db, "pi-1")
    hub_db = hub_yaml.parent / "hub" / "hub.db"
    conn = connect(edge_db, readonly=True)
    symbol, first_ns = conn.execute(
        "SELECT symbol, MIN(ts_recv_ns) FROM trades GROUP BY symbol ORDER BY COUNT(*) DESC"
    ).fetchone()
    conn.close()
    day = datetime.fromtimestamp(first_ns / 1e9, tz=UTC).strftime("%Y-%m-%d")
    candle_args = ("--strategy", "trend", "--symbol", "BTC/USDT", "--from", FROM, "--to", TO,
                   "--param", "atr_stop_mult=null")
    raw_args = ("--strategy", "imbalance", "--strategy", "market_maker", "--symbol", symbol,
                "--from", day, "--to", day)

    edge_candles = backtest(edge_db, tmp_path / "edge-candles", *candle_args)
    hub_candles = backtest(hub_db, tmp_path / "hub-candles", *candle_args, "--agent", "pi-1")
    edge_raw = backtest(edge_db, tmp_path / "edge-raw", *raw_args)
    hub_raw = backtest(hub_db, tmp_path / "hub-raw", *raw_args, "--agent", "pi-1")
    import_db(hub_yaml, edge_db, "pi-2")
    merged_candles = backtest(hub_db, tmp_path / "hub-merged", *candle_args)
    merged_raw = backtest(hub_db, tmp_path / "hub-merged-raw", *raw_args)

    expected = strategies_of(edge_candles)
    assert expected["trend"]["fills"] > 10
    tick_lot_fees, _, origin = expected.pop("_instrument").partition(" (")
    assert tick_lot_fees.endswith("maker 0.0004, taker 0.0006")
    assert origin.startswith(f"market metadata {edge_db.parent / 'markets'}")
    for result in (hub_candles, merged_candles):
        got = strategies_of(result)
        assert got.pop("_instrument") == (
            f"{tick_lot_fees} (market metadata {hub_db.parent / 'markets'})"
        )
        assert got == expected
    for name in ("hub-candles", "hub-merged"):
        assert (tmp_path / name / "trades.csv").read_text() == (
            tmp_path / "edge-candles" / "trades.csv"
        ).read_text()
    raw = strategies_of(edge_raw)
    assert json.loads(edge_raw.stdout)["source"] == "raw"
    assert raw["_events"] > 100  # every book update and trade of the replayed capture
    assert strategies_of(hub_raw) == raw
    assert (tmp_path / "hub-raw" / "trades.csv").read_text() == (
        tmp_path / "edge-raw" / "trades.csv"
    ).read_text()
    assert merged_raw.returncode == 2
    assert "come from agents pi-1, pi-2" in merged_raw.stderr
    assert "give --agent" in merged_raw.stderr


def test_an_unknown_agent_on_the_hub_store_is_refused_naming_the_agents(
    edge_db: Path, hub_yaml: Path, tmp_path: Path
) -> None:
    import_db(hub_yaml, edge_db, "pi-1")

    result = backtest(hub_yaml.parent / "hub" / "hub.db", tmp_path / "out", "--strategy",
                      "trend", "--symbol", "BTC/USDT", "--from", FROM, "--to", TO,
                      "--agent", "pi-9")

    assert result.returncode == 2
    assert result.stderr.strip().endswith("no agent 'pi-9' in this hub store (agents: pi-1)")


def test_a_missing_or_foreign_file_is_one_error_line_naming_it(
    hub_yaml: Path, tmp_path: Path
) -> None:
    """Tried: a missing path, a text file, a foreign SQLite file and a hub store as the
    agent database. Kept: one ``error:`` line naming each, exit 2, and no hub store
    made by the refused imports (a mistyped path leaves nothing behind)."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, only words " * 100)
    plain = tmp_path / "plain.db"
    other = sqlite3.connect(plain)
    other.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    other.close()
    HubStore(tmp_path / "elsewhere" / "hub.db").close()

    cases = {
        tmp_path / "missing.db": "missing.db: no such agent database",
        notes: "notes.txt: not a SQLite database",
        plain: "plain.db: not a TickerML store",
        tmp_path / "elsewhere" / "hub.db": "hub.db: a hub store, not an agent database",
    }
    for path, message in cases.items():
        result = tickerml("hub", "import-db", "-c", str(hub_yaml), str(path), "--agent", "pi-1",
                          cwd=tmp_path)

        assert result.returncode == 2, path
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: ") and message in line
    assert not (tmp_path / "hub" / "hub.db").exists()


def test_an_import_takes_the_databases_epoch_and_a_replaced_database_is_a_new_series(
    tmp_path: Path,
) -> None:
    """Tried: importing an agent's database, then — as pi-1 again — a new database whose
    ids start again (its SD card was replaced), then a database from before epochs.
    Kept: each import under its database's own epoch ('legacy' for the old one), every
    row of each stored (the second's were all dropped as 'already present'), no
    conflicts, the three series recorded for pi-1."""
    from hub.store.importer import import_db as import_library

    def database(name: str, details: str, *, pre_epoch: bool = False) -> Path:
        path = tmp_path / name / "edge.db"
        writer = StoreWriter(path, StoreConfig())
        for i in range(5):
            writer.put("feed_events", ("kraken", "BTC/USD", "connected", f"{details}{i}", i))
        writer.close()
        if pre_epoch:
            conn = sqlite3.connect(path)
            conn.executescript("DROP TABLE store_epoch; DELETE FROM _migrations "
                               "WHERE name = '0006_epoch'; DROP TABLE sync_conflicts;")
            conn.close()
        return path

    first, second, old = database("a", "old-card"), database("b", "new-card"), database(
        "c", "before", pre_epoch=True)
    with HubStore(tmp_path / "hub" / "hub.db") as store:
        reports = [import_library(store, path, "pi-1") for path in (first, second, old)]
        epochs = [e.epoch for e in store.epochs("pi-1")]
        stored = store.count("feed_events", "pi-1")

    edge_epochs = [agent_epoch(sqlite3.connect(path)) for path in (first, second)]
    assert [r.epoch for r in reports] == [*edge_epochs, "legacy"]
    assert sorted(epochs) == sorted(r.epoch for r in reports)
    assert [(t.added, t.conflicts) for r in reports for t in r.tables
            if t.table == "feed_events"] == [(5, 0), (5, 0), (5, 0)]
    assert stored == 15
