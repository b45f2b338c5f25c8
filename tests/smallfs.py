"""A small real file system for the full-disk tests, and a filler that fills it.

A tmpfs mounted for the test gives the real ``ENOSPC`` a full SD card gives (SQLite
turns it into ``SQLITE_FULL``, "database or disk is full"); deleting the filler gives
the space back. Mounting needs root (or ``CAP_SYS_ADMIN``): where the test runner has
neither, the tests that need it are skipped, saying why. ``RLIMIT_FSIZE`` is no
stand-in: it fails writes with ``EFBIG`` (SQLite's "disk I/O error", a different
path) and kills the process with ``SIGXFSZ`` unless the signal is ignored.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHUNK = 64 * 1024


@contextlib.contextmanager
def small_filesystem(where: Path, size_mib: int = 8) -> Iterator[Path]:
    """A tmpfs of ``size_mib`` MiB mounted on ``where`` (made here) for the ``with``
    block; skips the test when this machine does not let it mount one."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("no mount/umount here: the full-disk tests need a small tmpfs")
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a {size_mib} MiB tmpfs on {where} ({result.stderr.strip()}): the "
            "full-disk tests need root or CAP_SYS_ADMIN"
        )
    try:
        yield where
    finally:
        done = subprocess.run([umount, str(where)], capture_output=True, check=False)
        if done.returncode != 0:  # something still holds a file open: detach it anyway
            subprocess.run([umount, "-l", str(where)], capture_output=True, check=False)


def fill(folder: Path, name: str = "filler") -> Path:
    """Write ``folder/name`` until its file system has no byte left (``ENOSPC``)."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        block = b"\0" * CHUNK
        size = CHUNK
        while size:
            try:
                os.write(fd, block[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                size //= 2  # the last pages: smaller writes until not one byte fits
    finally:
        os.close(fd)
    return path


def free_bytes(folder: Path) -> int:
    """Bytes a writer could still put on ``folder``'s file system."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize
