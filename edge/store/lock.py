"""One agent per database: a lock file beside it, held for the agent's lifetime.

Two agents writing one store would each collect every book and trade, doubling the
rows. The lock is ``fcntl.flock`` on ``<database>.lock``, which holds this process's
id for the refusal message. The kernel drops a flock when its process dies, however
it dies, so a lock file left behind by a crash or ``kill -9`` never blocks the next
start: only a living holder does. The file itself is never deleted, since deleting it
while another process waits on it would let two agents each lock a different file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from shared.dbfiles import ensure_folder
from shared.errors import OperationalError


def lock_path(db_path: Path) -> Path:
    """``edge.db`` -> ``edge.db.lock``, in the same folder."""
    return db_path.with_name(db_path.name + ".lock")


class StoreInUse(OperationalError):
    """Another living process holds the database's lock."""


class StoreLock:
    """The held lock of one database; :meth:`release` (or process exit) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db_path: Path) -> StoreLock:
        """Lock ``db_path`` for this process, or raise :class:`StoreInUse` naming the
        process that holds it."""
        path = lock_path(db_path)
        ensure_folder(path.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise OperationalError(
                f"{path}: cannot create the agent's lock file ({exc.strerror or exc}): make "
                "the database's folder writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StoreInUse(
                f"{db_path}: another agent is running on this database "
                f"(pid {holder or 'unknown'}, lock {path}); stop it first, or give this "
                "agent its own data_dir or store.path"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Empty the file (it no longer names a running agent) and unlock it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock


PID_WAIT_S = 1.0
"""How long a refused start waits for a holder that just locked to write its pid."""


def _holder(fd: int) -> str:
    """The pid the holder wrote; "" if it wrote none within :data:`PID_WAIT_S` (it
    locks, then writes)."""
    deadline = time.monotonic() + PID_WAIT_S
    while True:
        with contextlib.suppress(OSError, ValueError):
            return str(int(os.pread(fd, 32, 0).decode().strip()))
        if time.monotonic() >= deadline:
            return ""
        time.sleep(0.02)
