"""Writing provisioning output: atomically, with the mode set before the first byte."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write via a temporary file (created with ``mode``) then rename.

    The mode is set before any byte is written, so a key is never readable by others,
    and a crash leaves either the old file or none rather than half a key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_file(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """Write ``data`` to ``path`` atomically unless it holds exactly that; True if written."""
    if path.is_file() and path.read_bytes() == data:
        if (path.stat().st_mode & 0o777) != mode:
            os.chmod(path, mode)
        return False
    write_atomic(path, data, mode)
    return True
