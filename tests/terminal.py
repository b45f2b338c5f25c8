"""Run the installed ``tickerml`` piped and in a real terminal (a pty), for the tests of
what the commands print: tables at 80 columns, and plain lines when piped."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

TICKERML = Path(sys.executable).parent / "tickerml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-B]")
BOX = set("│┃━─┏┓┗┛┡┩└┘╇┳┻╋┼")
"""Box-drawing characters rich draws tables with; none belongs in piped output."""


@dataclass(frozen=True)
class Output:
    returncode: int
    stdout: str
    stderr: str


Run = Callable[..., Output]
""":func:`piped` or :func:`in_terminal`, for tests parametrized over both."""


def _env(columns: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    return {**env, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm-256color"}


def piped(*args: str, cwd: Path, columns: int = 80, timeout: float = 120) -> Output:
    """``tickerml ARGS`` with stdout a pipe (COLUMNS set: the plain layout ignores it)."""
    run = subprocess.run([str(TICKERML), *args], cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, check=False, env=_env(columns))
    return Output(run.returncode, run.stdout, run.stderr)


def in_terminal(*args: str, cwd: Path, columns: int = 80, timeout: float = 120) -> Output:
    """``tickerml ARGS`` with stdout a pty ``columns`` wide; its output without the
    terminal's escape codes, line ends as ``\\n``. stderr stays a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    try:
        proc = subprocess.Popen(
            [str(TICKERML), *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave,
            stderr=subprocess.PIPE, env=_env(columns), start_new_session=True,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError as exc:  # EIO: the child closed its end
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        _, err = proc.communicate(timeout=timeout)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Colours go; a cursor move or an erase (a live view redrawing) ends the line, so
    # redrawn lines do not run together.
    text = ANSI.sub(lambda m: "" if m.group().endswith("m") else "\n",
                    b"".join(chunks).decode("utf-8", errors="replace"))
    return Output(proc.returncode, text.replace("\r\n", "\n"), err.decode(errors="replace"))


def widest_line(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def missing(output: str, values: Iterable[object]) -> list[str]:
    """The values (as ``str`` gives them) that do not appear whole in ``output``."""
    return [str(v) for v in values if str(v) not in output]


def assert_whole(
    output: Output, values: Iterable[object], *, terminal: bool, columns: int = 80,
    echoed: Sequence[str] = (),
) -> None:
    """Every value appears whole, nothing was cut (no ``…``); piped, no box is drawn;
    in the terminal, no line is wider than it but the lines starting with ``echoed``
    (printed as they are, for the terminal to wrap)."""
    values = list(values)
    assert output.returncode == 0, output.stdout + output.stderr
    assert missing(output.stdout, values) == [], output.stdout
    assert "…" not in output.stdout, output.stdout
    if terminal:
        table = "\n".join(line for line in output.stdout.splitlines()
                          if not line.startswith(tuple(echoed)))
        assert widest_line(table) <= columns, output.stdout
    else:
        assert not BOX & set(output.stdout), output.stdout
