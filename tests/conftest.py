"""Shared fixtures: the real recorded data in ../shared/data/real, a real mosquitto."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.broker import Broker, free_port, mosquitto_binary, plain_config

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = Path(os.environ.get("TICKERML_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real recorded exchange traffic; skips the test when absent."""
    if not (REAL_DATA / "SOURCES.md").exists():
        pytest.skip(
            f"real recorded data not found at {REAL_DATA} (clone ../shared beside the "
            "project or set TICKERML_REAL_DATA)"
        )
    return REAL_DATA


@pytest.fixture()
def plain_broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto on a loopback port, no TLS, anonymous allowed (sync logic tests)."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (make venv installs it from Debian's packages)")
    port = free_port()
    broker = Broker(tmp_path / "broker", plain_config(port), port)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
