"""``tickerml hub agents | dead-letters [--counts] | import-db`` print every number
whole, piped (plain lines) and in an 80-column terminal, on a real hub store holding
figures past 115,000,000."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.store.writer import StoreWriter
from hub.store.records import IngestCounts, Refusal
from hub.store.store import HubStore
from shared.config.store import StoreConfig
from shared.marketdata import Trade
from shared.sync.messages import AgentStatus, FeedHealth, TableBacklog
from tests.terminal import Output, Run, assert_whole, in_terminal, piped

BIG = 115_000_000
BYTES = 10_002_345
EPOCH = "0123456789abcdef0123456789abcdef"
RUNS = [piped, in_terminal]
IDS = ["piped", "terminal-80"]


@pytest.fixture()
def hub_yaml(tmp_path: Path) -> Path:
    """A hub whose store has heard from pi-big: a backlog of 115,000,000 rows, a dead
    letter of 10,002,345 bytes, and refusal totals in the hundreds of millions."""
    now = time.time_ns()
    with HubStore.in_dir(tmp_path / "hub") as store:
        store.record_status(AgentStatus(
            agent_id="pi-big", state="online", ts_ns=now, epoch=EPOCH, agent_version="0.1.0",
            model_version="m-7", feature_spec="abc123", dropped_rows=BYTES,
            backlog={"trades": TableBacklog(last_id=BIG + 5, acked_id=5, rows=BIG,
                                            oldest_ns=now - 5_000_000_000)},
            feeds=(FeedHealth(exchange="kraken", symbol="BTC/USD", synced=True,
                              last_update_ns=now),),
        ), received_ns=now, retained=False)
        store.add_dead_letter(agent_id="pi-big", topic="tickerml/v1/pi-big/batch/trades",
                              reason="payload over ingest.max_payload_bytes",
                              payload=b"x" * BYTES, received_ns=now)
        store.keep_refusals([Refusal("pi-big", "tickerml/v1/pi-big/status", "bad status",
                                     b"{}", now)],
                            {"pi-big": IngestCounts(refused=BIG, dropped=BIG - 2,
                                                    dropped_bytes=BIG * 1000, rate_limited=BYTES,
                                                    rate_limited_bytes=BYTES * 1000,
                                                    retained_repeats=3)},
                            now_ns=now)
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "hub"),
                                      "logging": {"file": None}}))
    return config


def as_json(config: Path, *args: str) -> Any:
    result = piped("hub", args[0], "-c", str(config), *args[1:], "--json", cwd=config.parent)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def hub(run: Run, config: Path, *args: str) -> Output:
    return run("hub", args[0], "-c", str(config), *args[1:], cwd=config.parent)


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_hub_agents_prints_a_backlog_of_115_million_whole(hub_yaml: Path, run: Run) -> None:
    """Tried: `hub agents` (15 columns), piped and at 80 columns (was: `115…`). Kept:
    backlog, lag rows, dropped rows and the epoch of --json whole; at 80 columns the
    columns do not fit whole, so each agent is a block of `header  value` lines."""
    (agent,) = as_json(hub_yaml, "agents")

    output = hub(run, hub_yaml, "agents")

    assert (agent["backlog_rows"], agent["dropped_rows"]) == (BIG, BYTES)
    assert_whole(output, ["pi-big", agent["backlog_rows"], agent["lag_rows"],
                          agent["dropped_rows"], agent["epoch"][:8], "0.1.0/m-7/abc123"],
                 terminal=run is in_terminal)


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_hub_dead_letters_prints_the_payload_size_whole(hub_yaml: Path, run: Run) -> None:
    """Tried: `hub dead-letters`, piped and at 80 columns. Kept: ids, sizes (10,002,345
    bytes) and agents of --json whole; piped, the whole reason and topic too (in the
    terminal those are text columns: they wrap, and fold a long word)."""
    letters = as_json(hub_yaml, "dead-letters")

    output = hub(run, hub_yaml, "dead-letters")

    assert isinstance(letters, list) and BYTES in {d["payload_bytes"] for d in letters}
    values = [v for d in letters for v in (d["id"], d["payload_bytes"], d["agent_id"])]
    if run is piped:
        values += [v for d in letters for v in (d["topic"], d["reason"])]
    assert_whole(output, values, terminal=run is in_terminal, echoed=["refused in all"])


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_hub_dead_letter_counts_print_hundreds_of_millions_whole(
    hub_yaml: Path, run: Run
) -> None:
    """Tried: `hub dead-letters --counts` (8 columns of totals), piped and at 80
    columns. Kept: every total of --json whole (115,000,000,000 bytes included)."""
    (counts,) = as_json(hub_yaml, "dead-letters", "--counts")

    output = hub(run, hub_yaml, "dead-letters", "--counts")

    assert counts["dropped_bytes"] == BIG * 1000
    assert_whole(output, [v for v in counts.values() if v is not None],
                 terminal=run is in_terminal)


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_hub_import_db_prints_rows_per_table_whole(tmp_path: Path, run: Run) -> None:
    """Tried: `hub import-db` of an agent's database, piped and at 80 columns, then
    again with --json. Kept: read, added and already-present counts of every table
    whole, matching the --json of the second import (everything already present)."""
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "hub"),
                                      "logging": {"file": None}}))
    edge_db = tmp_path / "pi" / "edge.db"
    edge_db.parent.mkdir()
    writer = StoreWriter(edge_db, StoreConfig())
    for i in range(1234):
        writer.put_trade(Trade("kraken", "BTC/USD", str(i), Decimal("10002345.678"),
                               Decimal(1), "buy", 1_000 + i, 1_000 + i))
    writer.close()

    output = hub(run, config, "import-db", str(edge_db), "--agent", "pi-1")
    again = as_json(config, "import-db", str(edge_db), "--agent", "pi-1")

    assert isinstance(again, dict)
    trades = again["tables"]["trades"]
    assert (trades["read"], trades["already"]) == (1234, 1234)
    values = ["trades", 1234, *(t for t in again["tables"] if again["tables"][t]["present"])]
    assert_whole(output, values, terminal=run is in_terminal, echoed=["market metadata"])
