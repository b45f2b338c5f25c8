"""``tickerml provision``: make the broker's CA, certificates, config and ACL.

A thin layer over ``provisioning.bundle``: it parses options, calls the library and
prints what was created or kept. Registered under the ``tickerml.commands`` entry
point group (pyproject.toml), so the root command never imports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from provisioning.bundle import Report, add_agent, provision_broker
from provisioning.errors import ProvisioningError
from provisioning.mosquitto import DEFAULT_PORT

_OUT = click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="The provisioning folder (created if absent).",
)
_JSON = click.option(
    "--json", "as_json", is_flag=True,
    help="Print the folder, the CA fingerprint, the agents, the notes and every file with "
    "its action as JSON.",
)


@click.group(name="provision")
def provision_group() -> None:
    """Provision the MQTT broker: project CA, certificates, mosquitto config and ACL."""


@provision_group.command(name="broker")
@_OUT
@click.option(
    "--agent", "agents", multiple=True, metavar="ID",
    help="An agent to issue a certificate for (repeatable); its id is its identity.",
)
@click.option(
    "--host", "hosts", multiple=True, metavar="NAME",
    help="A DNS name or IP address clients use to reach the broker (repeatable); the "
    "first is written into the YAML snippets. localhost and 127.0.0.1 are always valid.",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None,
    help=f"The TLS listener's port [default: {DEFAULT_PORT}, or the folder's earlier value].",
)
@click.option(
    "--bind", default=None, metavar="ADDRESS",
    help="Listen on this address only [default: every interface].",
)
@click.option(
    "--broker-user", default=None, metavar="USER",
    help="Write `user USER` into mosquitto.conf: the user mosquitto becomes when started "
    "as root [default: mosquitto's own, `mosquitto`].",
)
@_JSON
def broker_command(
    out: Path, agents: tuple[str, ...], hosts: tuple[str, ...], port: int | None,
    bind: str | None, broker_user: str | None, as_json: bool,
) -> None:
    """Create or complete a provisioning folder for the broker, the hub and agents.

    Makes the project CA (once), the broker's certificate, mosquitto.conf and acl, the
    hub's certificate, the operator's (hub-cli, for `hub command`) and hub-mqtt.yaml
    with both, and for each --agent a certificate and
    agents/ID/mqtt.yaml. Re-running keeps every existing key and certificate and adds
    only what is missing.
    """
    try:
        report = provision_broker(
            out, agents=agents, hosts=hosts, port=port, bind=bind, broker_user=broker_user,
        )
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(_json(report), indent=2))
        return
    _print(report)
    layout = report.layout
    click.echo(
        f"\nStart the broker:  mosquitto -c {layout.broker_config}\n"
        f"Hub config:        paste {layout.hub_yaml} into hub.yaml\n"
        f"Agent config:      copy {layout.agents_dir}/ID/ to the agent and paste its "
        "mqtt.yaml into edge.yaml"
    )


@provision_group.command(name="add-agent")
@click.argument("agent_id", metavar="ID")
@_OUT
@_JSON
def add_agent_command(agent_id: str, out: Path, as_json: bool) -> None:
    """Issue a certificate for agent ID in an existing provisioning folder.

    The ACL grants topics by certificate name, so the running broker accepts the new
    agent at once: no broker file changes and no restart.
    """
    try:
        report = add_agent(out, agent_id)
    except ProvisioningError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(_json(report), indent=2))
        return
    _print(report)
    click.echo(
        f"\nCopy {report.layout.agent_dir(agent_id)}/ to the agent and paste its "
        "mqtt.yaml into edge.yaml."
    )


def _shown(report: Report, path: Path) -> str:
    """A file as the table shows it: relative to the folder when inside it."""
    try:
        return str(path.relative_to(report.layout.root))
    except ValueError:
        return str(path)


def _json(report: Report) -> dict[str, Any]:
    """What ``--json`` prints: the table's rows under ``files``, and what follows it."""
    return {
        "folder": str(report.layout.root),
        "ca_fingerprint": report.ca_fingerprint,
        "agents": list(report.agents),
        "files": [{"file": _shown(report, c.path), "action": c.action} for c in report.changes],
        "notes": list(report.notes),
    }


def _print(report: Report) -> None:
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    title = f"Provisioning folder {report.layout.root}"
    rows = [(_shown(report, c.path), c.action) for c in report.changes]
    # shared.cli_tables' rules, by hand: provisioning imports nothing of ours. Piped:
    # plain aligned lines, every path whole; a terminal: the paths fold, never the action.
    if not console.is_terminal:
        width = max([len("file"), *(len(path) for path, _ in rows)])
        for line in [title, f"{'file':<{width}}  action",
                     *(f"{path:<{width}}  {action}" for path, action in rows)]:
            console.print(line, markup=False)
    else:
        table = Table(title=title)
        table.add_column("file", overflow="fold")
        table.add_column("action", no_wrap=True)
        for path, action in rows:
            table.add_row(path, action)
        console.print(table)
    console.print(f"CA fingerprint (SHA-256): {report.ca_fingerprint}")
    if report.agents:
        console.print(f"Agents: {', '.join(report.agents)}")
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
