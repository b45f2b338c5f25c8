"""Offline captures: reproducible bytes, Binance ids that link, Kraken checksums that verify."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge.capture import read_tickerml
from edge.cli import edge_group
from edge.simulator.capture import write_capture


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    for exchange in ("binanceus", "kraken"):
        a, b, c = (tmp_path / f"{exchange}{n}.jsonl" for n in "abc")
        write_capture(a, exchange, messages=3000, seed=1)
        write_capture(b, exchange, messages=3000, seed=1)
        write_capture(c, exchange, messages=3000, seed=2)

        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()


def _binance_records(path: Path) -> tuple[list[dict], dict[str, dict]]:
    exchange, records = read_tickerml(path)
    assert exchange == "binanceus"
    diffs, snapshots = [], {}
    for record in records:
        if record.kind == "recv":
            diffs.append(json.loads(record.data))
        elif record.kind == "http":
            snapshots[record.url.split("symbol=")[1].split("&")[0]] = {
                "at": len(diffs),
                **json.loads(record.data),
            }
    return diffs, snapshots


def test_binance_update_ids_are_contiguous_and_the_snapshot_links(tmp_path: Path) -> None:
    path = tmp_path / "binance.jsonl"
    write_capture(path, "binanceus", messages=20_000, seed=3)
    messages, snapshots = _binance_records(path)

    last_u: dict[str, int] = {}
    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
    for index, msg in enumerate(messages):
        data = msg["data"]
        assert msg["stream"].split("@")[0] == data["s"].lower()
        if data["e"] == "trade":
            assert set(data) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
            continue
        symbol = data["s"]
        if symbol in last_u:
            assert data["U"] == last_u[symbol] + 1
        last_u[symbol] = data["u"]
        snap = snapshots[symbol]
        if symbol not in books and index >= snap["at"] and data["u"] > snap["lastUpdateId"]:
            # The first diff applied after the snapshot must straddle it.
            assert data["U"] <= snap["lastUpdateId"] + 1 <= data["u"]
            books[symbol] = (
                {Decimal(p): Decimal(q) for p, q in snap["bids"]},
                {Decimal(p): Decimal(q) for p, q in snap["asks"]},
            )
        if symbol in books:
            bids, asks = books[symbol]
            for side, levels in ((bids, data["b"]), (asks, data["a"])):
                for p, q in levels:
                    assert len(p.split(".")[1]) == 8 and len(q.split(".")[1]) == 8
                    if Decimal(q):
                        side[Decimal(p)] = Decimal(q)
                    else:
                        side.pop(Decimal(p), None)
            assert max(bids) < min(asks)

    assert set(books) == {"BTCUSDT", "ETHUSDT"}


def test_binance_capture_replays_through_the_real_feed_without_gaps(tmp_path: Path) -> None:
    replay = pytest.importorskip("edge.replay")
    pytest.importorskip("edge.feeds.binance")
    path = tmp_path / "binance.jsonl"
    write_capture(path, "binanceus", messages=20_000, seed=4)

    rows = replay.report_rows(replay.replay_files([path]))

    assert {r["symbol"] for r in rows} == {"BTC/USDT", "ETH/USDT"}
    for row in rows:
        assert row["gaps"] == row["crossed"] == row["malformed"] == row["resyncs"] == 0
        assert row["snapshots"] == 1 and row["level_updates"] > 10_000 and row["trades"] > 100


def _checksum(bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]) -> int:
    """Kraken's CRC32, written from the spec: digits as sent, '.' and leading zeros gone."""

    def digits(value: Decimal) -> str:
        return str(value).replace(".", "").lstrip("0")

    text = "".join(digits(p) + digits(asks[p]) for p in sorted(asks)[:10])
    text += "".join(digits(p) + digits(bids[p]) for p in sorted(bids, reverse=True)[:10])
    return zlib.crc32(text.encode())


@pytest.mark.parametrize("depth", [10, 25, 100])
def test_every_kraken_checksum_verifies_independently(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "kraken.jsonl"
    write_capture(path, "kraken", messages=15_000, seed=5, depth=depth)
    _, records = read_tickerml(path)

    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
    checked = 0
    for record in records:
        if record.kind != "recv":
            continue
        msg = json.loads(record.data, parse_float=Decimal)
        if msg.get("channel") != "book":
            continue
        for item in msg["data"]:
            if msg["type"] == "snapshot":
                books[item["symbol"]] = ({}, {})
            bids, asks = books[item["symbol"]]
            for side, levels, best_first in (
                (bids, item["bids"], True),
                (asks, item["asks"], False),
            ):
                for level in levels:
                    if level["qty"]:
                        side[level["price"]] = level["qty"]
                    else:
                        side.pop(level["price"], None)
                    # The client truncates to its depth after every level.
                    while len(side) > depth:
                        del side[min(side) if best_first else max(side)]
            assert item["checksum"] == _checksum(bids, asks)
            assert max(bids) < min(asks)
            checked += 1

    assert checked > 10_000


def test_kraken_capture_replays_through_the_real_feed_with_no_checksum_failures(
    tmp_path: Path,
) -> None:
    replay = pytest.importorskip("edge.replay")
    pytest.importorskip("edge.feeds.kraken")
    path = tmp_path / "kraken.jsonl"
    write_capture(path, "kraken", messages=20_000, seed=6)

    rows = replay.report_rows(replay.replay_files([path]))

    assert {r["symbol"] for r in rows} == {"BTC/USDT", "ETH/USDT"}
    for row in rows:
        assert row["checksums_failed"] == row["crossed"] == row["malformed"] == 0
        assert row["checksums_ok"] > 5000 and row["trades"] > 100


def test_the_cli_writes_a_capture_offline(tmp_path: Path) -> None:
    path = tmp_path / "cli.jsonl"

    result = CliRunner().invoke(
        edge_group,
        ["simulate", "--capture", str(path), "--exchange", "kraken", "--messages", "2000"],
    )

    assert result.exit_code == 0, result.output
    assert "2000 kraken messages" in result.output
    assert sum(1 for _ in read_tickerml(path)[1]) > 2000
