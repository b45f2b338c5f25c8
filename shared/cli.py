"""The ``tickerml`` command.

The root group only knows how to find its subcommand groups: each role
registers its own under the ``tickerml.commands`` entry-point group (see
pyproject.toml), so this module never imports ``edge`` or ``hub`` and a Pi that
installed only ``tickerml[edge]`` still gets a working command.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any

import click

from shared.errors import OperationalError, TickerMLError

ENTRY_POINT_GROUP = "tickerml.commands"
OUR_PACKAGES = frozenset({"shared", "edge", "hub", "models"})


class RoleGroup(click.Group):
    """A click group whose subcommands come from entry points, loaded lazily."""

    def _entry_points(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._entry_points()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = self._entry_points().get(cmd_name)
        if ep is None:
            return None
        try:
            loaded = ep.load()
        except ImportError as exc:
            return _unavailable(cmd_name, exc)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"entry point {ep.value} is not a click command")
        return loaded


class UnavailableCommand(click.Command):
    """Stands in for a command whose code cannot be imported; running it explains why."""


def _unavailable(name: str, exc: ImportError) -> click.Command:
    """A stand-in for a command that cannot load, saying why and what to do.

    A missing third-party module means the role's extra is not installed; a missing
    module of our own means this build does not have that command yet.
    """
    extra = "hub" if name == "hub" else "edge"
    missing = (exc.name or "").partition(".")[0]
    if missing in OUR_PACKAGES:
        reason = f"not in this build: {exc}"
        advice = f"`tickerml {name}` is not available in this build ({exc})"
    else:
        reason = f"install tickerml[{extra}]"
        advice = (
            f"`tickerml {name}` needs the {extra} extra: pip install 'tickerml[{extra}]' ({exc})"
        )

    def stand_in() -> None:
        raise click.ClickException(advice)

    return UnavailableCommand(
        name=name,
        callback=stand_in,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        help=f"(unavailable: {reason})",
    )


@click.group(cls=RoleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tickerml")
def cli() -> None:
    """TickerML: edge-hub crypto paper trading. Nothing here ever trades real money."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: operational errors print one clear line and exit 2."""
    try:
        cli.main(args=argv, prog_name="tickerml", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (OperationalError, TickerMLError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
