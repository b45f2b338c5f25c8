"""Opening store files: the checks before SQLite touches a file, on real files.

The databases are made by the real stores (the agent's StoreWriter, the HubStore);
the damage is done to their bytes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.store.db import open_store as edge_open_store
from edge.store.writer import StoreWriter
from shared.config.store import StoreConfig
from shared.dbfiles import ensure_folder, open_readonly, open_writable, wal_file
from shared.errors import OperationalError


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real agent database, closed (so no -wal beside it)."""
    path = tmp_path_factory.mktemp("db") / "edge.db"
    StoreWriter(path, StoreConfig()).close()
    assert not wal_file(path).exists()
    return path


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(("damage", "why"), [
    (lambda b: b"", "empty file (0 bytes), not a database"),
    (lambda b: b"PK\x03\x04" + b"\x00" * 4000, "not a SQLite database (damaged, or another kind"),
    (lambda b: b[:50], "not a SQLite database (damaged, or another kind"),
    (lambda b: b[:8192], "truncated (8192 bytes, its header says "),
], ids=["empty", "another-kind", "cut-in-the-header", "truncated"])
@pytest.mark.parametrize("opener", ["writable", "readonly", "snapshot"])
def test_a_bad_file_is_refused_before_sqlite_opens_it(
    tmp_path: Path, database: Path, damage: object, why: str, opener: str
) -> None:
    """Tried: each opener on an empty file, a zip, a file cut inside its header and one
    cut to 8 KiB. Kept: OperationalError naming the file, why and what to do; the file
    is byte-identical and nothing is made beside it (SQLite alone would treat the empty
    file as a new database and write it, and open the truncated one)."""
    path = tmp_path / "edge.db"
    path.write_bytes(damage(database.read_bytes()))  # type: ignore[operator]
    before = listing(tmp_path)

    with pytest.raises(OperationalError) as caught:
        if opener == "writable":
            open_writable(path)
        else:
            open_readonly(path, snapshot=opener == "snapshot")

    assert str(caught.value).startswith(f"{path}: {why}")
    assert "restore it from a backup" in str(caught.value)
    assert listing(tmp_path) == before


def test_a_snapshot_read_of_an_idle_database_creates_nothing_beside_it(
    tmp_path: Path, database: Path
) -> None:
    """Tried: a plain `mode=ro` read of a closed WAL database, then a snapshot read.
    Kept: plain `mode=ro` makes -wal and -shm (SQLite's doing: owned by whoever ran it);
    the snapshot reads the same rows and leaves the folder exactly as it was."""
    plain, snap = tmp_path / "plain", tmp_path / "snap"
    for folder in (plain, snap):
        folder.mkdir()
        shutil.copy(database, folder / "edge.db")
    snap_before = listing(snap)

    for folder, snapshot in ((plain, False), (snap, True)):
        conn = open_readonly(folder / "edge.db", snapshot=snapshot)
        assert conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] > 0
        conn.close()

    assert sorted(p.name for p in plain.iterdir()) == ["edge.db", "edge.db-shm", "edge.db-wal"]
    assert listing(snap) == snap_before


def test_a_snapshot_beside_a_running_writer_sees_its_commits(tmp_path: Path) -> None:
    """Tried: a snapshot read while a writer holds the database open with a commit still
    only in its WAL. Kept: the row is seen (with a -wal present the read shares it,
    plain mode=ro, rather than reading the main file alone)."""
    path = tmp_path / "edge.db"
    writer = open_writable(path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.execute("INSERT INTO t VALUES (42)")
    try:
        assert wal_file(path).stat().st_size > 0
        conn = open_readonly(path, snapshot=True)
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]
        conn.close()
    finally:
        writer.close()


def test_checking_a_database_this_process_has_open_leaves_its_locks_alone(
    tmp_path: Path,
) -> None:
    """Tried: a writer open in this process, then a read-only open and close of the same
    file (its checks), then another process opening and closing the store. Kept: the
    writer still holds its lock, so that process cannot checkpoint and delete the WAL
    under it: the -wal is the same file and a new read here sees the other process's
    row. (Reading the header through a file descriptor of our own and closing it drops
    every POSIX lock this process holds on the file: the WAL was then deleted and this
    process read a stale copy.)"""
    path = tmp_path / "edge.db"
    writer = edge_open_store(path)
    wal = wal_file(path).stat().st_ino
    open_readonly(path).close()
    open_readonly(path, snapshot=True).close()

    subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(path)], check=True, timeout=60)

    assert wal_file(path).stat().st_ino == wal
    conn = open_readonly(path)
    assert conn.execute("SELECT COUNT(*) FROM feed_events").fetchone() == (1,)
    conn.close()
    writer.close()


OTHER_PROCESS = """
import sys
from edge.store.db import open_store
open_store(sys.argv[1]).close()
conn = open_store(sys.argv[1])
conn.execute("INSERT INTO feed_events (exchange, symbol, kind, detail, ts_ns) "
             "VALUES ('x', 'S/T', 'k', '', 1)")
conn.close()
"""


def test_a_read_only_connection_cannot_write(tmp_path: Path, database: Path) -> None:
    path = tmp_path / "edge.db"
    shutil.copy(database, path)

    conn = open_readonly(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("CREATE TABLE x (y)")
    conn.close()


@pytest.fixture()
def immutable(tmp_path: Path, database: Path) -> Iterator[Path]:
    """A database in a folder made immutable with ``chattr +i`` (file and folder): what a
    read-only mount is, even to root, who ignores chmod."""
    path = tmp_path / "ro" / "edge.db"
    path.parent.mkdir()
    shutil.copy(database, path)
    frozen = [str(path), str(path.parent)]
    if shutil.which("chattr") is None or subprocess.run(
        ["chattr", "+i", *frozen], capture_output=True, check=False
    ).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", *frozen], check=True)


def test_a_database_on_a_read_only_folder_is_read_and_refused_for_writing(
    immutable: Path,
) -> None:
    """Tried: reading and opening for writing a database whose folder and file are
    immutable. Kept: the read works without creating -wal/-shm (impossible there; plain
    mode=ro fails with "unable to open"); the write is refused naming the file."""
    assert not os.access(immutable.parent, os.W_OK)

    conn = open_readonly(immutable)
    assert conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] > 0
    conn.close()
    with pytest.raises(OperationalError, match=r"edge\.db: read-only \(no write permission\)"):
        open_writable(immutable)

    assert sorted(p.name for p in immutable.parent.iterdir()) == ["edge.db"]


def test_a_file_where_the_folder_should_be_is_named(tmp_path: Path) -> None:
    """Tried: a database path under a regular file. Kept: OperationalError naming the
    file in the way and the setting to fix (was: FileExistsError)."""
    blocker = tmp_path / "data"
    blocker.write_text("x")

    with pytest.raises(OperationalError) as caught:
        ensure_folder(blocker / "sub", "data_dir")
    with pytest.raises(OperationalError, match="point data_dir at a folder"):
        open_writable(blocker / "edge.db")

    assert str(caught.value) == (
        f"{blocker / 'sub'}: not a folder ({blocker} is a file): point data_dir at a folder"
    )
    assert blocker.read_text() == "x"
