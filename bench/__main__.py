"""``python -m bench`` (``make bench``): measure and write docs/benchmarks.md.

Runs on one core (the process pins itself to CPU 0) and records the machine and
the command next to every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from rich.console import Console

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL = REPO.parent / "shared" / "data" / "real"
OUT = REPO / "docs" / "benchmarks.md"


def machine() -> str:
    """One line naming the CPU, cores, Python and OS."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores (pinned to 1), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="../shared/data/real")
    parser.add_argument("--out", type=Path, default=OUT, help="Markdown report to write")
    parser.add_argument(
        "--sim-messages", type=int, default=200_000, help="Messages in the simulator capture"
    )
    parser.add_argument("--repeats", type=int, default=7, help="Runs per book measurement")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    if not (args.real / "SOURCES.md").exists():
        console.print(f"[red]real captures not found at {args.real}[/red]")
        return 2

    from bench import report

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    sections = report.run_all(args.real, args.sim_messages, args.repeats, console)
    header = [
        "# Benchmarks",
        "",
        f"- Machine: {machine()}",
        f"- Command: `make bench` (`{Path(sys.executable).name} -m bench`), run {started}",
        "- Each figure is the median of several runs in one process pinned to one core.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + sections) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
