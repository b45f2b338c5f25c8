"""Ctrl-C and ``--out``: a report folder is there whole or not at all.

A real ``tickerml backtest`` subprocess over the README's three weeks of real
candles is sent SIGINT (what Ctrl-C sends) at a moment the test can see: once the
progress bar is on its terminal (a pseudo-terminal, so the bar is drawn as for a
user), or once the temporary folder the report is written into exists.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
from pathlib import Path

import pytest

from tests.edge.trading.conftest import README_ARGS, TICKERML, tickerml
from tests.waiting import wait_for

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

EXIT_INTERRUPTED = 130
SEVERAL = ("--strategy", "mean_reversion", "--strategy", "fallback")


def leftovers(folder: Path) -> list[str]:
    """Hidden folders the report left beside its target (temporary or set aside)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def start(
    store: Path, out: Path, cwd: Path, *, terminal: bool
) -> tuple[subprocess.Popen[bytes], int | None]:
    """The README backtest with two more strategies (a longer run), on a pseudo-terminal
    when ``terminal`` (returns its reading end too)."""
    argv = [str(TICKERML), *README_ARGS, *SEVERAL, "--db", str(store), "--out", str(out)]
    if not terminal:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        return proc, None
    reader, writer = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=writer, stdout=writer, stderr=writer,
                            env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(writer)
    return proc, reader


def read_until(reader: int, needle: bytes, timeout_s: float) -> bytes:
    """What the terminal showed, up to and including ``needle``."""
    seen = b""
    while needle not in seen:
        ready, _, _ = select.select([reader], [], [], timeout_s)
        assert ready, f"not within {timeout_s:g} s: {needle!r} on the terminal (saw {seen!r})"
        try:
            chunk = os.read(reader, 4096)
        except OSError:  # the child closed the terminal
            chunk = b""
        assert chunk, f"the backtest ended before showing {needle!r}: {seen!r}"
        seen += chunk
    return seen


def drain(reader: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(reader, 4096)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


def test_ctrl_c_during_the_run_leaves_no_report_folder(readme_store: Path, tmp_path: Path) -> None:
    """Tried: SIGINT once the progress bar shows on the terminal. Kept: exit status 130,
    no report folder, no temporary folder, and no file list printed (it never got to
    write)."""
    out = tmp_path / "report"
    proc, reader = start(readme_store, out, tmp_path, terminal=True)
    assert reader is not None
    try:
        read_until(reader, b"events", 60)

        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
        shown = drain(reader)
    finally:
        os.close(reader)

    assert code == EXIT_INTERRUPTED, shown
    assert not out.exists()
    assert leftovers(tmp_path) == []
    assert b"trades_csv:" not in shown


def test_ctrl_c_while_the_report_is_written_leaves_neither_it_nor_the_temporary_folder(
    readme_store: Path, tmp_path: Path
) -> None:
    """Tried: SIGINT as soon as a folder for the report appears beside --out (the
    temporary one, or --out itself). Kept: exit status 130, no --out folder (it would
    have been half written), and the temporary folder removed."""
    out = tmp_path / "report"
    proc, _ = start(readme_store, out, tmp_path, terminal=False)
    try:
        wait_for(lambda: leftovers(tmp_path) or out.exists(), 120,
                 "a report folder beside --out", every_s=0.002)

        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert code == EXIT_INTERRUPTED
    assert not out.exists(), sorted(p.name for p in out.iterdir())
    assert leftovers(tmp_path) == []


def test_an_earlier_report_is_replaced_whole_and_another_folder_is_refused_before_the_run(
    readme_store: Path, tmp_path: Path
) -> None:
    """Tried: the README backtest into a folder twice, with charts then without, and
    into a folder holding a file of the user's. Kept: the second report replaces the
    first whole (its PNGs are gone); the other folder is refused, naming the file,
    before anything runs, and the file is untouched."""
    out = tmp_path / "report"
    first = tickerml(*README_ARGS, "--db", str(readme_store), "--out", str(out), cwd=tmp_path)
    second = tickerml(*README_ARGS, "--db", str(readme_store), "--out", str(out), "--no-plot",
                      cwd=tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused = tickerml(*README_ARGS, "--db", str(readme_store), "--out", str(mine), cwd=tmp_path)

    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "trades.csv"]
    assert leftovers(tmp_path) == []
    assert refused.returncode == 2
    assert "mine: --out holds other files (notes.txt)" in refused.stderr
    assert "backtest" not in refused.stdout
    assert (mine / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
