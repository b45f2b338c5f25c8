"""A well-defined digest of one agent's rows of one synced table.

The fault tests compare the hub store with the agent's database through it, so
both sides must compute exactly the same bytes. The definition:

* take the rows ordered by local id, each as ``[local_id, *data_columns]`` in the
  contract's column order (at the edge: ``SELECT <TABLES[t].columns> FROM t ORDER BY
  id``, whose first column ``id`` *is* the local id);
* serialize each row with ``orjson.dumps(list(row))`` and append ``b"\\n"``;
* the digest is the sha256 hex digest of the concatenation, with the row count.

orjson rather than ``repr``: it writes integers, exact decimal strings and floats
(shortest round-trip form) the same way whichever side runs it, and these are the
values the batches carried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson


def rows_digest(rows: Iterable[Sequence[Any]]) -> tuple[int, str]:
    """(row count, sha256 hex) of ``rows`` given as ``(local_id, *data columns)``, in order."""
    sha = hashlib.sha256()
    count = 0
    for row in rows:
        sha.update(orjson.dumps(list(row)))
        sha.update(b"\n")
        count += 1
    return count, sha.hexdigest()
