"""The options every command group shares: ``--config`` and the time options.

One ``-c/--config`` for every group, defaulting to the role's file; the file is then
read by the one loader, :func:`shared.config.base.load_config`, whose errors name the
file and the key path. One parameter type for ``--from/--to/--since/--until``, so a
user types times the same way in every command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from shared.times import end_of_day_ns, is_date, parse_time_ns

F = TypeVar("F", bound=Callable[..., Any])

ROLE_FILES = {"edge": "edge.yaml", "hub": "hub.yaml"}
"""The config file a role's commands read when ``--config`` is not given."""

TIME_HELP = "UTC date (2024-03-01), time (2024-03-01T12:00[:00][Z] or with an offset) or epoch ms"


def config_option(
    role: str = "edge", *, required: bool = True, help: str | None = None
) -> Callable[[F], F]:
    """``-c/--config FILE`` into the ``config_file`` argument.

    ``required=False`` defaults to None (the command has built-in defaults), else to
    the role's file in the working directory.
    """
    default = Path(ROLE_FILES[role]) if required else None
    text = help or f"{role.capitalize()} config file (see config/{role}.example.yaml)."
    return click.option(
        "-c",
        "--config",
        "config_file",
        type=click.Path(path_type=Path),
        default=default,
        show_default=required,
        help=text,
    )


class TimeParam(click.ParamType[int, Any]):
    """A moment as epoch nanoseconds, from a date, an ISO time or an epoch number.

    With ``end_of_day`` a bare date means the whole day (its last nanosecond), as a
    person reads ``--to 2024-03-01``; a time or an epoch number is taken as given.
    """

    name = "time"

    def __init__(self, *, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value)
        try:
            if self.end_of_day and is_date(text):
                return end_of_day_ns(text)
            return parse_time_ns(text)
        except ValueError:
            self.fail(f"{text!r} is not a date or time ({TIME_HELP})", param, ctx)


TIME = TimeParam()
"""A start (``--from``, ``--since``): a bare date is its first nanosecond."""
TIME_END = TimeParam(end_of_day=True)
"""An inclusive end (``--to``): a bare date is its last nanosecond."""
