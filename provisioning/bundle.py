"""A provisioning folder: the CA, the broker's files, the hub's and each agent's credentials.

``provision_broker`` creates or completes one, ``add_agent`` adds an agent to it; the
CLI (``provisioning/cli.py``) is a thin layer over both. Layout of ``DIR``::

    provision.json            the settings the folder was made with (port, hosts, ...)
    ca/ca.crt, ca/ca.key      the project CA; keep ca.key offline, it can mint agents
    broker/                   copy to the broker machine: mosquitto.conf, acl, ca.crt,
                              server.crt, server.key, data/ (persistence), systemd/
    hub/                      ca.crt, client.crt, client.key (CN "hub")
    hub-cli/                  ca.crt, client.crt, client.key (CN "hub-cli"): the operator's
                              identity for ``tickerml hub command``
    hub-mqtt.yaml             the hub's ``mqtt:`` and ``command_mqtt:`` sections, ready to
                              paste into hub.yaml
    agents/<id>/              ca.crt, client.crt, client.key (CN <id>) and mqtt.yaml,
                              the agent's ``sync: mqtt:`` section for edge.yaml

Re-running is safe: existing keys and certificates are kept (see ``certs.py``); only
what is missing is added and only files whose content changes are rewritten.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from provisioning.certs import (
    HUB_IDENTITY,
    OPERATOR_IDENTITY,
    CertificateAuthority,
    Issued,
    check_agent_id,
    check_host,
)
from provisioning.errors import ProvisioningError
from provisioning.files import write_file
from provisioning.mosquitto import (
    DEFAULT_AUTOSAVE_S,
    DEFAULT_PORT,
    BrokerSettings,
    render_acl,
    render_config,
    render_systemd_dropin,
)

DEFAULT_CLIENT_HOST = "127.0.0.1"
MOSQUITTO_USER = "mosquitto"
"""Who Debian's mosquitto becomes when started as root (its ``user`` default)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where every file of a provisioning folder lives."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "provision.json"

    @property
    def ca_dir(self) -> Path:
        return self.root / "ca"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def broker_config(self) -> Path:
        return self.broker_dir / "mosquitto.conf"

    @property
    def broker_acl(self) -> Path:
        return self.broker_dir / "acl"

    @property
    def broker_data(self) -> Path:
        return self.broker_dir / "data"

    @property
    def server_cert(self) -> Path:
        return self.broker_dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.broker_dir / "server.key"

    @property
    def systemd_dropin(self) -> Path:
        return self.broker_dir / "systemd" / "mosquitto.service.d" / "tickerml.conf"

    @property
    def hub_dir(self) -> Path:
        return self.root / "hub"

    @property
    def operator_dir(self) -> Path:
        return self.root / "hub-cli"

    @property
    def hub_yaml(self) -> Path:
        return self.root / "hub-mqtt.yaml"

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    def agent_dir(self, agent_id: str) -> Path:
        return self.agents_dir / check_agent_id(agent_id)

    def agent_yaml(self, agent_id: str) -> Path:
        return self.agent_dir(agent_id) / "mqtt.yaml"

    def identity_dir(self, identity: str) -> Path:
        """The folder of ``hub``, ``hub-cli`` or an agent: its CA copy, certificate and key."""
        if identity == HUB_IDENTITY:
            return self.hub_dir
        if identity == OPERATOR_IDENTITY:
            return self.operator_dir
        return self.agent_dir(identity)


@dataclass(frozen=True, slots=True)
class Settings:
    """What a folder was provisioned with, kept in ``provision.json`` for later runs."""

    port: int = DEFAULT_PORT
    hosts: tuple[str, ...] = ()
    bind: str | None = None
    broker_user: str | None = None
    autosave_interval: int = DEFAULT_AUTOSAVE_S

    @property
    def client_host(self) -> str:
        """The address clients are told to use: the first host given, else loopback."""
        return self.hosts[0] if self.hosts else DEFAULT_CLIENT_HOST


@dataclass(frozen=True, slots=True)
class Change:
    """One file and what this run did to it: created, kept, reissued, updated or owned."""

    path: Path
    action: str


@dataclass(slots=True)
class Report:
    """What a provisioning run found and did."""

    layout: Layout
    ca_fingerprint: str
    settings: Settings
    agents: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_settings(layout: Layout) -> Settings | None:
    """The settings in ``provision.json``, or None for a folder never provisioned."""
    if not layout.manifest.exists():
        return None
    try:
        raw = json.loads(layout.manifest.read_text(encoding="utf-8"))
        raw["hosts"] = tuple(raw.get("hosts", ()))
        return Settings(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise ProvisioningError(
            f"{layout.manifest}: unreadable ({exc}); fix it or delete it and pass "
            "--port/--host again"
        ) from exc


def agent_ids(root: Path) -> list[str]:
    """The agents provisioned in ``root`` (those with a folder under ``agents/``), sorted."""
    agents = Layout(Path(root)).agents_dir
    if not agents.is_dir():
        return []
    return sorted(p.name for p in agents.iterdir() if p.is_dir() and not p.name.startswith("."))


def provision_broker(
    root: Path, *, agents: Iterable[str] = (), hosts: Sequence[str] = (),
    port: int | None = None, bind: str | None = None, broker_user: str | None = None,
) -> Report:
    """Create or complete ``root``: CA, broker certificate and config, hub and agents.

    Options left at None keep the value from an earlier run (``provision.json``), else
    the default; ``hosts`` are added to the earlier ones. Agents provisioned earlier
    are kept and their ``mqtt.yaml`` refreshed with the current host and port.
    """
    layout = Layout(Path(root).resolve())
    new_agents = [check_agent_id(a) for a in agents]
    for host in hosts:
        check_host(host)
    previous = load_settings(layout) or Settings()
    settings = Settings(
        port=port if port is not None else previous.port,
        hosts=tuple(dict.fromkeys([*previous.hosts, *hosts])),
        bind=bind if bind is not None else previous.bind,
        broker_user=broker_user if broker_user is not None else previous.broker_user,
        autosave_interval=previous.autosave_interval,
    )
    broker = BrokerSettings(
        cafile=layout.broker_dir / "ca.crt", certfile=layout.server_cert,
        keyfile=layout.server_key, acl_file=layout.broker_acl,
        persistence_dir=layout.broker_data, port=settings.port, bind=settings.bind,
        user=settings.broker_user, autosave_interval=settings.autosave_interval,
    )
    config_text = render_config(broker)  # refuse bad settings before writing anything

    ca = CertificateAuthority.ensure(layout.ca_dir)
    report = Report(layout, ca.fingerprint, settings)
    report.changes.append(Change(ca.cert_file, "created" if ca.created else "kept"))
    report.changes.append(Change(ca.key_file, "created" if ca.created else "kept"))
    _write(report, layout.manifest, _manifest_text(settings))

    _copy_ca(report, ca, layout.broker_dir)
    _issued(report, ca.ensure_server(layout.server_cert, layout.server_key, settings.hosts))
    layout.broker_data.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.broker_data, 0o700)
    _write(report, layout.broker_acl, render_acl())
    _write(report, layout.broker_config, config_text)
    _write(report, layout.systemd_dropin, render_systemd_dropin(layout.broker_config))
    _give_to_broker_user(report, layout, settings.broker_user)

    _client(report, ca, layout, HUB_IDENTITY, settings)
    _client(report, ca, layout, OPERATOR_IDENTITY, settings)
    for agent_id in dict.fromkeys([*agent_ids(layout.root), *new_agents]):
        _client(report, ca, layout, agent_id, settings)
    return report


def add_agent(root: Path, agent_id: str) -> Report:
    """Add one agent's credentials to an existing folder; the broker needs no change."""
    layout = Layout(Path(root).resolve())
    check_agent_id(agent_id)
    ca = CertificateAuthority.load(layout.ca_dir)
    settings = load_settings(layout)
    if settings is None:
        raise ProvisioningError(
            f"{layout.manifest}: no such file; provision the folder first with "
            f"`tickerml provision broker --out {layout.root}`"
        )
    report = Report(layout, ca.fingerprint, settings)
    _client(report, ca, layout, agent_id, settings)
    return report


def hub_yaml(layout: Layout, settings: Settings) -> str:
    """The hub's ``mqtt:`` section (``shared/config/mqtt.py``'s fields) and the operator's
    ``command_mqtt:`` (``tickerml hub command``'s own identity), absolute paths."""
    return (
        "# TickerML hub: paste into hub.yaml (replacing any `mqtt:` and `command_mqtt:`\n"
        "# sections there). `mqtt` is the ingest's identity (`hub run`), `command_mqtt`\n"
        "# the operator's (`hub command`): the broker allows one connection per identity.\n"
        + _mqtt_mapping(layout.hub_dir, settings, indent="")
        + _mqtt_mapping(layout.operator_dir, settings, indent="", key="command_mqtt")
    )


def agent_yaml(layout: Layout, agent_id: str, settings: Settings) -> str:
    """An agent's ``sync: mqtt:`` section for edge.yaml, absolute paths."""
    folder = layout.agent_dir(agent_id)
    return (
        f"# TickerML agent {agent_id!r}: paste into edge.yaml (merge with an existing\n"
        "# `sync:` section). The paths are where provisioning wrote the files: copy this\n"
        "# folder to the same path on the agent, or edit them.\n"
        "sync:\n" + _mqtt_mapping(folder, settings, indent="  ")
    )


def _mqtt_mapping(folder: Path, settings: Settings, *, indent: str, key: str = "mqtt") -> str:
    # JSON strings are valid YAML scalars: quoting without a YAML library here.
    lines = [
        f"{key}:",
        f"  host: {json.dumps(settings.client_host)}",
        f"  port: {settings.port}",
        "  tls:",
        f"    ca_file: {json.dumps(str(folder / 'ca.crt'))}",
        f"    cert_file: {json.dumps(str(folder / 'client.crt'))}",
        f"    key_file: {json.dumps(str(folder / 'client.key'))}",
    ]
    return "".join(f"{indent}{line}\n" for line in lines)


def _client(
    report: Report, ca: CertificateAuthority, layout: Layout, identity: str, settings: Settings,
) -> None:
    folder = layout.identity_dir(identity)
    folder.mkdir(parents=True, exist_ok=True)
    _copy_ca(report, ca, folder)
    _issued(report, ca.ensure_client(folder / "client.crt", folder / "client.key", identity))
    if identity == HUB_IDENTITY:
        _write(report, layout.hub_yaml, hub_yaml(layout, settings))
    elif identity != OPERATOR_IDENTITY:
        _write(report, layout.agent_yaml(identity), agent_yaml(layout, identity, settings))
        report.agents.append(identity)


def _copy_ca(report: Report, ca: CertificateAuthority, folder: Path) -> None:
    """Each folder gets its own copy of the CA certificate so it can be copied alone."""
    _write(report, folder / "ca.crt", ca.cert_file.read_text(encoding="ascii"))


def _issued(report: Report, issued: Issued) -> None:
    report.changes.append(Change(issued.cert_file, issued.action))
    key_action = "created" if issued.action == "created" else "kept"
    report.changes.append(Change(issued.key_file, key_action))


def _write(report: Report, path: Path, text: str) -> None:
    existed = path.exists()
    written = write_file(path, text.encode("utf-8"))
    report.changes.append(
        Change(path, "kept" if not written else "updated" if existed else "created")
    )


def _manifest_text(settings: Settings) -> str:
    raw = asdict(settings)
    raw["hosts"] = list(settings.hosts)
    return json.dumps(raw, indent=2, sort_keys=True) + "\n"


def _give_to_broker_user(report: Report, layout: Layout, broker_user: str | None) -> None:
    """As root, hand the broker's key and data folder to the user mosquitto will become.

    Started as root, mosquitto drops to that user *before* it opens its key and
    persistence files, and then exits with "Permission denied" on files root owns.
    """
    if os.geteuid() != 0:
        return
    name = broker_user or MOSQUITTO_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        report.notes.append(
            f"no user {name!r} here: on the broker machine, `chown {name}:` "
            f"{layout.server_key} and {layout.broker_data}"
        )
        return
    for path in (layout.server_key, layout.broker_data):
        if (path.stat().st_uid, path.stat().st_gid) != (entry.pw_uid, entry.pw_gid):
            os.chown(path, entry.pw_uid, entry.pw_gid)
            report.changes.append(Change(path, f"owned by {name}"))

