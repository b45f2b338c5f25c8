"""Every command that opens a store refuses a bad one the same way, and changes nothing.

A damaged, truncated or empty database, one from a newer TickerML, a read-only data
folder, a binary config file and a ``data_dir`` that is a file: each command prints
one ``error:`` line naming the file and what to do, exits 2 (docs/cli.md), and the
folder is byte for byte what it was, with no file added. The commands run through
:func:`shared.cli.run`, the console script's own code (tests/test_exit_status.py runs
the installed script itself); the files are real SQLite files made by the stores.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge.store.schema import MIGRATIONS as EDGE_MIGRATIONS
from edge.store.writer import StoreWriter
from hub.store.schema import MIGRATIONS as HUB_MIGRATIONS
from hub.store.store import HubStore
from shared.cli import run
from shared.config.store import StoreConfig

CLOSED = "http://127.0.0.1:9"
WINDOW = ["--from", "2024-01-01", "--to", "2024-01-02"]

# name: (argv after `tickerml`, the file it opens, whether it writes it). {d}: the
# test's folder (configs there, data in {d}/data).
COMMANDS: dict[str, tuple[list[str], str, bool]] = {
    "edge run": (["edge", "run", "-c", "{d}/edge.yaml", "--duration", "1"], "edge.db", True),
    "edge stats": (["edge", "stats", "-c", "{d}/edge.yaml"], "edge.db", False),
    "edge prune": (["edge", "prune", "-c", "{d}/edge.yaml"], "edge.db", True),
    "edge sync-status": (["edge", "sync-status", "-c", "{d}/edge.yaml"], "edge.db", False),
    "edge sync": (["edge", "sync", "-c", "{d}/edge.yaml", "--duration", "1"], "edge.db", True),
    "edge backfill": (["edge", "backfill", "-c", "{d}/edge.yaml", "--since", "2024-01-01",
                       "--until", "2024-01-01T00:10"], "edge.db", True),
    "data import": (["data", "import", "-c", "{d}/edge.yaml", "--exchange", "binanceus",
                     "--symbol", "BTC/USDT", "{d}/candles.csv"], "edge.db", True),
    "news rollup": (["news", "rollup", "-c", "{d}/edge.yaml"], "edge.db", True),
    "news harvest": (["news", "harvest", "-c", "{d}/edge.yaml"], "edge.db", True),
    "news show": (["news", "show", "-c", "{d}/edge.yaml"], "edge.db", False),
    "backtest --db": (["backtest", "--db", "{d}/data/edge.db", "--strategy", "trend",
                       "--symbol", "BTC/USDT", "--exchange", "binanceus", *WINDOW],
                      "edge.db", False),
    "hub run": (["hub", "run", "-c", "{d}/hub.yaml", "--duration", "1"], "hub.db", True),
    "hub agents": (["hub", "agents", "-c", "{d}/hub.yaml"], "hub.db", False),
    "hub dead-letters": (["hub", "dead-letters", "-c", "{d}/hub.yaml"], "hub.db", False),
    "hub import-db": (["hub", "import-db", "-c", "{d}/hub.yaml", "--agent", "pi-1",
                       "{d}/agent/edge.db"], "hub.db", True),
    "hub command": (["hub", "command", "-c", "{d}/hub.yaml", "pi-1", "pause_trading",
                     "--wait", "0"], "hub.db", True),
}
READERS = [name for name, (_, _, writes) in COMMANDS.items() if not writes]
WRITERS = [name for name, (_, _, writes) in COMMANDS.items() if writes]
# Made by `edge run` before it opens the database, on purpose (edge/store/lock.py): an
# empty lock file, so a second agent is refused before it touches anything.
AGENT_LOCK = "edge.db.lock"


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a real agent database and a real hub store, both closed."""
    folder = tmp_path_factory.mktemp("healthy")
    StoreWriter(folder / "edge.db", StoreConfig()).close()
    HubStore(folder / "hub.db").close()
    return folder


def setup(tmp_path: Path, healthy: Path, *, data_dir: Path | None = None) -> Path:
    """Configs in ``tmp_path`` (network endpoints on a closed port), healthy stores in
    ``tmp_path/data`` and a healthy agent database to import in ``tmp_path/agent``."""
    data = tmp_path / "data"
    for folder in (data, tmp_path / "agent"):
        folder.mkdir()
    for name in ("edge.db", "hub.db"):
        shutil.copy(healthy / name, data / name)
    shutil.copy(healthy / "edge.db", tmp_path / "agent" / "edge.db")
    where = str(data_dir or data)
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump({
        "agent_id": "pi-1",
        "data_dir": where,
        "exchanges": [{"name": "binanceus", "symbols": ["BTC/USDT"],
                       "ws_url": "ws://127.0.0.1:9/x", "rest_url": CLOSED}],
        "history": {"rest_base_urls": {"binanceus": CLOSED}, "rest_timeout_s": 1,
                    "backfill_retries": 0},
        "news": {"feeds": [], "scorer": "builtin"},
        "sync": {"mqtt": {"host": "127.0.0.1", "port": 9}},
    }))
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump({
        "data_dir": where, "mqtt": {"host": "127.0.0.1", "port": 9},
    }))
    (tmp_path / "candles.csv").write_text("1700000040000,1,2,0.5,1.5,10\n")
    return data


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with its content's hash ("dir" for a folder)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        )
        for p in sorted(folder.rglob("*"))
    }


def without_agent_lock(files: dict[str, str], name: str) -> dict[str, str]:
    """``files`` less the empty lock file `edge run` makes first (see AGENT_LOCK)."""
    if name == "edge run" and files.get(AGENT_LOCK) == hashlib.sha256(b"").hexdigest():
        files.pop(AGENT_LOCK)
    return files


def tickerml(name: str, folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    argv = [arg.replace("{d}", str(folder)) for arg in COMMANDS[name][0]]
    capsys.readouterr()
    code = run(argv)
    return code, capsys.readouterr().err


def damage(path: Path, how: str) -> None:
    if how == "corrupt":
        path.write_bytes(os.urandom(20_000))
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:8192])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "newer":
        conn = sqlite3.connect(path)
        conn.execute("INSERT INTO _migrations (name, applied_at_ns) VALUES ('0009_future', 1)")
        conn.commit()
        conn.close()


WHY = {
    "corrupt": "not a SQLite database (damaged, or another kind of file): move it aside",
    "truncated": "truncated (8192 bytes, its header says",
    "empty": "empty file (0 bytes), not a database: move it aside",
}


def assert_refused(code: int, err: str, target: Path, why: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"error: {target}: {why}"), err


def cases(hows: list[str], names: list[str]) -> list[object]:
    return [
        pytest.param(how, name, id=f"{how}-{name.replace(' ', '_')}")
        for how in hows for name in names
    ]


@pytest.mark.parametrize(("how", "name"), cases(["corrupt", "truncated", "empty"], list(COMMANDS)))
def test_a_damaged_database_is_refused_by_every_command_and_left_as_it_was(
    tmp_path: Path, healthy: Path, capsys: pytest.CaptureFixture[str], how: str, name: str
) -> None:
    """Tried: each command on a store of random bytes, cut to 8 KiB, or of 0 bytes. Kept:
    exit 2, one `error:` line naming the file, why and what to do; not a byte of the data
    folder changed and no file added (no -wal, -shm or log)."""
    data = setup(tmp_path, healthy)
    target = data / COMMANDS[name][1]
    damage(target, how)
    before = snapshot(data)

    code, err = tickerml(name, tmp_path, capsys)

    assert_refused(code, err, target, WHY[how])
    assert without_agent_lock(snapshot(data), name) == before


@pytest.mark.parametrize(("how", "name"), cases(["newer"], WRITERS))
def test_a_database_from_a_newer_version_is_refused_by_every_command_that_writes_it(
    tmp_path: Path, healthy: Path, capsys: pytest.CaptureFixture[str], how: str, name: str
) -> None:
    """Tried: each writing command on a store recording a migration `0009_future`. Kept:
    exit 2, naming the file, the unknown migration and the newest this version knows;
    the file is byte-identical afterwards."""
    data = setup(tmp_path, healthy)
    target = data / COMMANDS[name][1]
    damage(target, how)
    known = (EDGE_MIGRATIONS if target.name == "edge.db" else HUB_MIGRATIONS)[-1][0]
    before = snapshot(data)

    code, err = tickerml(name, tmp_path, capsys)

    assert_refused(code, err, target, (
        f"schema has migration 0009_future that this version (knows up to {known}) does "
        "not know; upgrade tickerml"
    ))
    assert without_agent_lock(snapshot(data), name) == before


@pytest.mark.parametrize("name", READERS)
def test_read_only_commands_create_nothing_beside_an_idle_database(
    tmp_path: Path, healthy: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Tried: each read-only command on closed stores in a writable folder. Kept: it
    works (exit 0, or `backtest`'s exit 2 for an empty window) and leaves the folder as
    it was: opened `mode=ro`, nothing migrated, and no -wal/-shm made (a root-owned
    -shm would lock the agent out later)."""
    data = setup(tmp_path, healthy)
    before = snapshot(data)

    code, err = tickerml(name, tmp_path, capsys)

    if name == "backtest --db":
        assert code == 2 and "no raw messages, book snapshots or candles" in err, err
    else:
        assert code == 0, err
    if name != "backtest --db":  # a long read: plain mode=ro, which sees a writer start
        assert snapshot(data) == before


def chattr(flag: str, *paths: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    result = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, check=False)
    return result.returncode == 0


@pytest.fixture()
def read_only(tmp_path: Path, healthy: Path) -> Iterator[Path]:
    """``tmp_path/data`` made immutable (``chattr +i``, which stops root too: the tests
    run as root, for whom chmod changes nothing), files and folder alike."""
    data = setup(tmp_path, healthy)
    frozen = [*sorted(data.iterdir()), data]
    if not chattr("+i", *frozen):
        pytest.skip("chattr +i is not available here (needs ext4 and CAP_LINUX_IMMUTABLE)")
    try:
        yield data
    finally:
        chattr("-i", *frozen)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_on_a_read_only_folder_readers_work_and_writers_refuse(
    tmp_path: Path, read_only: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Tried: each command with its data folder and files immutable. Kept: the read-only
    commands work (they open `mode=ro`, immutable when no writer has the file open);
    every other command exits 2 naming the read-only file."""
    before = snapshot(read_only)
    target = read_only / COMMANDS[name][1]

    code, err = tickerml(name, tmp_path, capsys)

    if name in READERS:
        ok = code == 0 or (name == "backtest --db" and "no raw messages" in err)
        assert ok, err
    elif name == "edge run":  # its lock file comes first (edge/store/lock.py)
        assert code == 2 and err.startswith(f"error: {read_only / AGENT_LOCK}: "), err
    else:
        assert_refused(code, err, target, "read-only (no write permission): this command")
    assert snapshot(read_only) == before


@pytest.mark.parametrize("name", [n for n in COMMANDS if not n.startswith("backtest")])
def test_a_binary_config_file_is_refused_naming_it(
    tmp_path: Path, healthy: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Tried: each command given a config file of binary bytes. Kept: exit 2, one line
    naming the file as not YAML text (was: a UnicodeDecodeError traceback)."""
    data = setup(tmp_path, healthy)
    config = tmp_path / ("hub.yaml" if name.startswith("hub") else "edge.yaml")
    config.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    before = snapshot(data)

    code, err = tickerml(name, tmp_path, capsys)

    assert_refused(code, err, config, "not a YAML text file (byte 0 is not UTF-8)")
    assert snapshot(data) == before


# `edge run` locks first (edge/store/lock.py); `edge prune` refuses a missing database
# ("no database yet") before it would make the folder.
@pytest.mark.parametrize("name", [n for n in WRITERS if n not in ("edge run", "edge prune")])
def test_a_data_dir_that_is_a_file_is_refused_by_the_commands_that_write(
    tmp_path: Path, healthy: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Tried: each writing command with data_dir naming a regular file. Kept: exit 2,
    "not a folder" naming it (was: FileExistsError or NotADirectoryError tracebacks);
    the file is unchanged."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    setup(tmp_path, healthy, data_dir=blocker)

    code, err = tickerml(name, tmp_path, capsys)

    assert_refused(code, err, blocker, f"not a folder ({blocker} is a file): point data_dir")
    assert blocker.read_text() == "x"
