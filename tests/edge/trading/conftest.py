"""The README's backtest store: three weeks of real Binance.US BTC/USDT 1-minute
candles (iaqf_analysis), imported as a user imports them, with ``tickerml data import``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TICKERML = Path(sys.executable).parent / "tickerml"
IAQF = "iaqf_analysis/BTCUSDT_1m_20230301_20230321.csv"
README_ARGS = (
    "backtest", "--strategy", "trend", "--exchange", "binanceus", "--symbol", "BTC/USDT",
    "--from", "2023-03-01", "--to", "2023-03-21",
)
"""The README's example, less its --db."""


def tickerml(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TICKERML), *args], capture_output=True, text=True, cwd=cwd, check=False,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def readme_store(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    db = folder / "edge.db"
    imported = tickerml("data", "import", str(real_data / IAQF), "--exchange", "binanceus",
                        "--symbol", "BTCUSDT", "--db", str(db), cwd=folder)
    assert imported.returncode == 0, imported.stderr
    return db
