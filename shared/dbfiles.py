"""Opening a store's SQLite file: checks first, and errors that name the file.

Both stores (the agent's database, ``edge/store``; the hub store, ``hub/store``) open
their files through these. A damaged, truncated or empty file, a read-only file or
folder, or a file where a folder should be is refused with one
:class:`~shared.errors.OperationalError` that names it and says what to do, before
SQLite writes anything into the file or beside it (``-wal``, ``-shm``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.errors import OperationalError

SQLITE_HEADER = b"SQLite format 3\x00"
RESTORE = (
    "move it aside and restore it from a backup, or delete it to start an empty one "
    "(TickerML never writes into a damaged file)"
)


def wal_file(path: Path) -> Path:
    """The write-ahead log SQLite keeps beside ``path`` while a writer has it open."""
    return path.with_name(path.name + "-wal")


def ensure_folder(folder: Path, what: str = "data_dir") -> None:
    """Create ``folder`` and its parents if missing; OperationalError when it cannot be.

    ``what`` names the setting that chose the folder, for the advice.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        raise OperationalError(
            f"{folder}: not a folder ({blocker} is a file): point {what} at a folder"
        ) from None
    except OSError as exc:
        raise OperationalError(
            f"{folder}: cannot create the folder ({exc.strerror or exc}): create it, "
            f"or point {what} somewhere writable"
        ) from None


_HEADERS_READ: set[tuple[int, int]] = set()
"""Files (device, inode) whose header this process has read and found sound.

Closing *any* descriptor of a file drops every POSIX lock the process holds on it,
SQLite's included: re-reading the header at every open of a file this process's SQLite
connections hold made another process see itself as the last connection, checkpoint and
delete the ``-wal`` and ``-shm`` under them (a running hub then writes into a deleted
WAL, and every other reader in its process sees a frozen database). So the header is
read once per file per process, before SQLite first opens it; a replaced file (new
inode) is read again."""


def check_file(path: Path) -> None:
    """OperationalError unless ``path`` holds a whole SQLite database.

    Catches an empty file (a new database there would reuse ids the hub already has),
    another kind of file and a truncated copy, from the 100-byte header alone.

    Only while no ``-wal`` exists (then no writer, in any process, has the file open)
    and only once per file per process (:data:`_HEADERS_READ`: a reader of this process
    may hold it open without a ``-wal``), so no connection can lose its locks: closing a
    file descriptor drops every POSIX lock this process holds on the file,
    those of its open SQLite connections too (SQLite's "how to corrupt" list, 2.2), and
    a live database's main file may lag its WAL (a checkpoint in progress writes the
    new header before the pages that grow the file). SQLite's own errors, which
    :func:`sqlite_errors` names, cover that case.
    """
    if path.is_dir():
        raise OperationalError(f"{path}: a folder, not a database file: fix store.path")
    if wal_file(path).exists():
        return
    try:
        stat = path.stat()
        if (stat.st_dev, stat.st_ino) in _HEADERS_READ:
            return
        size = stat.st_size
        with path.open("rb") as file:
            header = file.read(100)
    except OSError as exc:
        raise OperationalError(
            f"{path}: cannot read the database ({exc.strerror or exc}): check its permissions"
        ) from None
    if size == 0:
        raise OperationalError(f"{path}: empty file (0 bytes), not a database: {RESTORE}")
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise OperationalError(
            f"{path}: not a SQLite database (damaged, or another kind of file): {RESTORE}"
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The header's page count is only valid when its two change counters agree.
    if pages and header[24:28] == header[92:96]:
        expected = pages * page_size
        if size < expected:
            raise OperationalError(
                f"{path}: truncated ({size} bytes, its header says {expected}): {RESTORE}"
            )
    _HEADERS_READ.add((stat.st_dev, stat.st_ino))


def describe(path: Path, exc: sqlite3.Error) -> str:
    """One line for a SQLite error on ``path``: what went wrong and what to do."""
    text = str(exc)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return f"{path}: damaged ({text}): {RESTORE}"
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"{path}: read-only ({text}): this command writes it; make the file and its "
            "folder writable"
        )
    if "unable to open" in lowered:
        return (
            f"{path}: cannot open ({text}): check that the file and its folder exist and "
            "are readable (and writable, for a command that writes)"
        )
    if "locked" in lowered or "busy" in lowered:
        return f"{path}: locked by another process ({text}): wait for it, or stop it"
    if "full" in lowered or "i/o" in lowered:
        return f"{path}: {text}: check the disk"
    return f"{path}: SQLite error: {text}"


@contextmanager
def sqlite_errors(path: Path) -> Iterator[None]:
    """Turn a ``sqlite3`` error inside the block into an OperationalError naming ``path``."""
    try:
        yield
    except sqlite3.Error as exc:
        raise OperationalError(describe(path, exc)) from None


def open_writable(path: Path, setting: str = "data_dir") -> sqlite3.Connection:
    """A checked read-write connection in WAL mode (autocommit; ``busy_timeout`` set).

    The folder is created if missing (``setting`` names the config key that chose it);
    an existing file must pass :func:`check_file`.
    """
    ensure_folder(path.parent, setting)
    if path.exists():
        check_file(path)
        if not os.access(path, os.W_OK):
            raise OperationalError(
                f"{path}: read-only (no write permission): this command writes it; make it "
                "writable"
            )
    if not os.access(path.parent, os.W_OK):
        raise OperationalError(
            f"{path.parent}: folder not writable: SQLite keeps {path.name}-wal and -shm "
            "beside the database; make the folder writable"
        )
    with sqlite_errors(path):
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except BaseException:
            conn.close()
            raise
    if mode != "wal":
        conn.close()
        raise OperationalError(f"{path}: could not switch to WAL (journal_mode={mode})")
    # A file SQLite just created is sound: never read its header from Python (see
    # _HEADERS_READ), now that this connection holds locks on it.
    stat = path.stat()
    _HEADERS_READ.add((stat.st_dev, stat.st_ino))
    return conn


def open_readonly(path: Path, *, snapshot: bool = False) -> sqlite3.Connection:
    """A checked read-only connection (``mode=ro``): it can never write the database.

    A WAL database read with plain ``mode=ro`` gets ``-wal`` and ``-shm`` files made
    beside it, owned by whoever ran the command: a root-owned ``-shm`` then stops the
    agent writing. So when no ``-wal`` exists (no writer has the file open) and either
    the folder is read-only (a read-only mount: nobody can write it) or the caller
    reads once and closes (``snapshot``: a CLI report), the file is opened
    ``immutable`` and nothing is created. An immutable connection does not see a
    writer that starts after it opened: long-lived readers leave ``snapshot`` off.
    """
    check_file(path)
    immutable = not wal_file(path).exists() and (
        snapshot or not os.access(path.parent, os.W_OK)
    )
    uri = path.resolve().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
    with sqlite_errors(path):
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            # Reads the schema now, so a damaged file fails here, with its name.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
    return conn
