"""Fixtures for the news tests: a loopback feed server and an agent's store rig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.news.feed_server import FeedServer, Rigs


@pytest.fixture()
def server() -> Iterator[FeedServer]:
    """A real HTTP server on loopback serving the routes a test gives it."""
    with FeedServer() as running:
        yield running


@pytest.fixture()
def rigs(tmp_path: Path) -> Iterator[Rigs]:
    """Agent rigs made in ``tmp_path`` for one test and closed after it."""
    with Rigs(tmp_path) as made:
        yield made
