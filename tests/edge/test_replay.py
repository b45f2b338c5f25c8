"""Replaying real cryptofeed captures: what the report says when a book cannot be built.

Binance, Binance.US and KuCoin books start from a REST snapshot recorded in the
capture's ``.http`` file; the ``.ws`` file alone holds only diffs. Each test copies
the real files it needs into tmp_path, so "alone" really is alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.replay import BOOK_BUILT, NO_SNAPSHOT, replay_files, report_rows

TICKERML = Path(sys.executable).parent / "tickerml"
CAPTURES = {
    "binance": ("BINANCE.ws.1.0", "BINANCE.http.0.0"),
    "binanceus": ("BINANCE_US.ws.1.0", "BINANCE_US.http.0.0"),
    "kucoin": ("KUCOIN.ws.1.0", "KUCOIN.http.0.0"),
}


def copy(real_data: Path, tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        target = tmp_path / name
        shutil.copyfile(real_data / "cryptofeed" / name, target)
        out.append(target)
    return out


@pytest.mark.parametrize("exchange", sorted(CAPTURES))
def test_a_ws_file_without_its_http_snapshot_reports_every_book_as_never_built(
    exchange: str, real_data: Path, tmp_path: Path
) -> None:
    """Tried: the real .ws capture alone, then with its .http file. Kept: alone, every
    symbol with diffs says "no snapshot: book never built" (it used to show zeros as if
    healthy); with the snapshots, every one of them is built."""
    ws_name, http_name = CAPTURES[exchange]
    (ws,) = copy(real_data, tmp_path, ws_name)

    alone = report_rows(replay_files([ws]))
    (http,) = copy(real_data, tmp_path, http_name)
    both = report_rows(replay_files([ws, http]))

    built = {r["symbol"] for r in both if r["book"] == BOOK_BUILT}
    assert len(built) >= 4
    assert {r["symbol"] for r in alone if r["book"] == NO_SNAPSHOT} == built
    assert all(r["level_updates"] == 0 for r in alone)


def tickerml(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TICKERML), *args], capture_output=True, text=True, timeout=120, check=False,
    )


def test_replay_strict_exits_1_naming_each_symbol_whose_book_was_never_built(
    real_data: Path, tmp_path: Path
) -> None:
    """Tried: `tickerml edge replay --strict` on BINANCE.ws.1.0 alone, then with its
    .http file. Kept: alone it exits 1 with one error naming the four symbols; with
    the snapshots it exits 0; without --strict the report still says why, exit 0."""
    ws, http = copy(real_data, tmp_path, *CAPTURES["binance"])

    strict = tickerml("edge", "replay", str(ws), "--strict", "--json")
    lenient = tickerml("edge", "replay", str(ws), "--json")
    healthy = tickerml("edge", "replay", str(ws), str(http), "--strict")

    assert strict.returncode == 1, strict.stderr
    error_lines = [line for line in strict.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and "replay --strict" in error_lines[0]
    for symbol in ("BLZ/ETH", "LRC/BTC", "NKN/USDT", "RUNE/EUR"):
        assert f"binance {symbol} (no snapshot: book never built)" in error_lines[0]
    assert lenient.returncode == 0 and lenient.stdout.count(NO_SNAPSHOT) == 4
    assert healthy.returncode == 0, healthy.stderr
