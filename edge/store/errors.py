"""What the store writer raises: a failure that stops it, or a full disk it rides out."""

from __future__ import annotations

from shared.errors import OperationalError, TemporaryError


class StoreWriterError(OperationalError):
    """The writer thread failed; the message names the table and the SQLite error."""


class StoreFullError(TemporaryError):
    """The disk is full: nothing can be committed now. The writer keeps the rows in
    memory and retries by itself; :meth:`StoreWriter.flush` raises this meanwhile."""
