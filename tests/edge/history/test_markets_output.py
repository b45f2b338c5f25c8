"""``tickerml edge markets`` prints every figure whole, piped and at 80 columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.markets import cache_file
from tests.terminal import Run, assert_whole, in_terminal, piped

from .conftest import BinanceServer
from .test_cli import write_config


@pytest.mark.parametrize("run", [piped, in_terminal], ids=["piped", "terminal-80"])
def test_markets_prints_a_minimum_notional_of_10_million_whole(
    markets_server: BinanceServer, tmp_path: Path, run: Run
) -> None:
    """Tried: the metadata fetched from the loopback exchange, its cache then given a
    minimum notional of 10002345.678 and a minimum amount of 115000000 (a fresh cache:
    no request), `edge markets` piped and in an 80-column pty (was: `10002…`). Kept:
    every figure of --json whole, the fetch time too; at 80 columns the ten columns
    do not fit whole, so each market is a block of `header  value` lines."""
    config = write_config(tmp_path, markets_server.base_url)
    assert piped("edge", "markets", "-c", str(config), cwd=tmp_path).returncode == 0
    cache = cache_file(tmp_path / "var" / "markets", "binanceus")
    doc = json.loads(cache.read_text())
    doc["markets"]["BTC/USDT"].update(min_notional="10002345.678", min_amount="115000000")
    cache.write_text(json.dumps(doc))

    output = run("edge", "markets", "-c", str(config), cwd=tmp_path)
    rows = json.loads(piped("edge", "markets", "-c", str(config), "--json",
                            cwd=tmp_path).stdout)

    btc = next(r for r in rows if r["symbol"] == "BTC/USDT")
    assert (btc["min_notional"], btc["min_amount"]) == ("10002345.678", "115000000")
    keys = ("tick_size", "lot_size", "min_amount", "min_notional", "maker_fee", "taker_fee")
    assert_whole(output, [r[k] for r in rows for k in keys if r[k] is not None],
                 terminal=run is in_terminal)
