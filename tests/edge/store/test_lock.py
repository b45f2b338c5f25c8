"""The database's lock file: one holder at a time, named when another is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.store.lock import StoreInUse, StoreLock, lock_path


def test_a_second_hold_is_refused_naming_the_holder_until_the_first_is_released(
    tmp_path: Path,
) -> None:
    """Tried: locking edge.db twice, then again after releasing. Kept: the lock file
    beside the database holding this pid; the second refused with StoreInUse naming
    the database, the pid and the lock file; after release the file is empty and the
    lock can be taken again."""
    db = tmp_path / "data" / "edge.db"
    first = StoreLock.acquire(db)

    with pytest.raises(StoreInUse) as caught:
        StoreLock.acquire(db)

    assert lock_path(db) == tmp_path / "data" / "edge.db.lock"
    assert lock_path(db).read_text() == f"{os.getpid()}\n"
    assert str(caught.value).startswith(
        f"{db}: another agent is running on this database (pid {os.getpid()}, "
        f"lock {lock_path(db)})"
    )
    first.release()
    first.release()  # releasing twice is harmless
    assert lock_path(db).read_text() == ""
    StoreLock.acquire(db).release()


def test_a_lock_file_naming_a_dead_process_does_not_block(tmp_path: Path) -> None:
    """Tried: a lock file holding the pid of a process that has exited (it never
    unlocked: the kernel did when it died). Kept: the lock is taken and the file now
    names this process."""
    db = tmp_path / "edge.db"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    lock_path(db).write_text(f"{dead}\n")

    lock = StoreLock.acquire(db)

    assert lock_path(db).read_text() == f"{os.getpid()}\n"
    lock.release()
