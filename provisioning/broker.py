"""Run a mosquitto broker process from a config file: start, wait until it listens, stop.

Used by the demo, the tests and the benchmarks so each runs a real broker on a
loopback port of its own. In the field systemd runs mosquitto instead
(``provisioning/mosquitto/``).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


MAX_QUEUED_MESSAGES = 1_000_000
MAX_QUEUED_BYTES = 1_073_741_824
"""Per-client queue limits: a day of a fleet's batches for an offline hub, and 1 GiB."""


def mosquitto_binary() -> str | None:
    """The mosquitto executable, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_PATHS if os.access(p, os.X_OK)), None)


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plain_config(port: int, *, persistence_dir: Path | None = None) -> str:
    """A loopback listener without TLS that lets anyone in: for demos and tests only.

    Queue limits as in the field config (``mosquitto/mosquitto.conf.template``): large
    and finite, because both the default (1000) and 0 lose messages (see there).
    """
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
        "max_inflight_messages 0",
        # Nagle off: else each small message written after another waits ~40 ms.
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    if persistence_dir is not None:
        lines += [
            # Stay whoever starts it: as root mosquitto would become `mosquitto` and then
            # fail to write its snapshot into a folder that user cannot write to.
            f"user {getpass.getuser()}",
            "persistence true",
            f"persistence_location {persistence_dir}/",
            "autosave_interval 1",
        ]
    return "\n".join(lines) + "\n"


class Broker:
    """One mosquitto process for ``config_text``, listening on ``port`` of ``host``."""

    def __init__(self, workdir: Path, config_text: str, port: int, host: str = "127.0.0.1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.config_path.write_text(config_text)
        self.log_path = self.workdir / "mosquitto.log"
        self.port = port
        self.host = host
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> Broker:
        """Start mosquitto and wait until it accepts connections; RuntimeError if it cannot."""
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError(
                "mosquitto is not installed (apt-get install mosquitto; `make venv` does it)"
            )
        log = self.log_path.open("ab")
        # Run as whoever we are: started as root, mosquitto drops to user `mosquitto`
        # before reading keys and persistence files it could then not open.
        self.process = subprocess.Popen(
            [binary, "-c", str(self.config_path)], stdout=log, stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self.process.returncode}: "
                    f"{self.log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout_s}s")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop it cleanly (SIGTERM: it saves persistence), killing it if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing saved."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self) -> Broker:
        self.stop()
        return self.start()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
