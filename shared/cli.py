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


def _unavailable(name: str, exc: ImportError) -> click.Command:
    """A stand-in for a role whose extra is not installed, saying which to install."""
    extra = "hub" if name == "hub" else "edge"

    @click.command(
        name=name,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        help=f"(unavailable: install tickerml[{extra}])",
    )
    def stand_in() -> None:
        raise click.ClickException(
            f"`tickerml {name}` needs the {extra} extra: pip install 'tickerml[{extra}]' ({exc})"
        )

    return stand_in


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
