"""``tickerml edge simulate`` on a port something already listens on."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

TICKERML = Path(sys.executable).parent / "tickerml"


def test_simulate_on_a_port_in_use_says_so_in_one_line_naming_the_port() -> None:
    """Tried: the simulator started on a loopback port a socket already listens on.
    Kept: exit 2 and one `error:` line naming host:port, why, and what to do (was: an
    OSError traceback from asyncio); the other listener is left alone."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            [str(TICKERML), "edge", "simulate", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True, text=True, timeout=60, check=False,
        )

        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(
            f"error: simulator: cannot listen on 127.0.0.1:{port} (Address already in use): "
            "stop what listens there, or pick another --port (0: any free port)"
        ), result.stderr
        assert result.stdout == ""
