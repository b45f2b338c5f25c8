"""Shared fixtures: the real recorded data in ../shared/data/real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
