"""The ``tickerml`` command.

The root group only knows how to find its subcommand groups: each role
registers its own under the ``tickerml.commands`` entry-point group (see
pyproject.toml), so this module never imports ``edge`` or ``hub`` and a Pi that
installed only ``tickerml[edge]`` still gets a working command.
"""

from __future__ import annotations

import sqlite3
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
        raise OperationalError(advice)

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


EXIT_OK = 0
EXIT_PROBLEMS = 1
"""The command ran and reports problems in what it found or did: bad rows, a --strict
stop, an agent that refused, a sync that did not drain."""
EXIT_ERROR = 2
"""It could not run: a usage error, or an operational error (config, database, port)."""
EXIT_INTERRUPTED = 130


def run(argv: list[str] | None = None) -> int:
    """Run the ``tickerml`` command line and return its exit status (docs/cli.md).

    Every error is one message on stderr that starts ``error:``. ``standalone_mode``
    is off so that our errors reach this function, and with it off click returns the
    code a command exits with (``Exit``) or returns instead of exiting: it is kept.
    """
    try:
        code = cli.main(args=argv, prog_name="tickerml", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("error: aborted", err=True)
        return EXIT_INTERRUPTED
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        ctx = exc.ctx or _context_of(sys.argv[1:] if argv is None else argv)
        click.echo(f"{ctx.get_usage()}\nTry '{ctx.command_path} --help' for help.", err=True)
        return EXIT_ERROR
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except TickerMLError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except sqlite3.Error as exc:
        # The stores turn SQLite errors into OperationalErrors naming the file; one that
        # surfaces here came from deeper in a file that opened cleanly.
        click.echo(
            f"error: SQLite: {exc} (a damaged database? check it with "
            "`sqlite3 FILE 'PRAGMA integrity_check'`)",
            err=True,
        )
        return EXIT_ERROR
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        return EXIT_ERROR
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return EXIT_OK


def _context_of(argv: list[str]) -> click.Context:
    """The context of the deepest command ``argv`` names, for a usage error click raised
    before it made one (an option missing its value)."""
    ctx = click.Context(cli, info_name="tickerml")
    for token in argv:
        if not isinstance(ctx.command, click.Group):
            break
        sub = ctx.command.get_command(ctx, token)
        if sub is None:
            break
        ctx = click.Context(sub, info_name=token, parent=ctx)
    return ctx


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exits with :func:`run`'s status (returns on success)."""
    code = run(argv)
    if code != EXIT_OK:
        sys.exit(code)


if __name__ == "__main__":
    main()
