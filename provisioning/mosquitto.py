"""Render the broker's mosquitto.conf, its ACL and a systemd drop-in from the templates.

The templates live in ``provisioning/mosquitto/`` and ``provisioning/systemd/``; this
module only fills them in and refuses values mosquitto would misread. The ACL needs
no per-agent line: ``%u`` patterns grant each certificate's CN its own topics, so
adding an agent never touches the broker's files or needs a restart.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from provisioning.certs import HUB_IDENTITY, OPERATOR_IDENTITY
from provisioning.errors import ProvisioningError

HERE = Path(__file__).resolve().parent
CONFIG_TEMPLATE = HERE / "mosquitto" / "mosquitto.conf.template"
ACL_TEMPLATE = HERE / "mosquitto" / "acl.template"
SYSTEMD_TEMPLATE = HERE / "systemd" / "mosquitto-tickerml.conf.template"

DEFAULT_PORT = 8883
DEFAULT_AUTOSAVE_S = 10
DEBIAN_MOSQUITTO = "/usr/sbin/mosquitto"

_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}\$?")


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """What the broker's config says: where its files are and how it listens."""

    cafile: Path
    """The project CA certificate: the only issuer whose client certificates get in."""
    certfile: Path
    """The broker's own certificate."""
    keyfile: Path
    """The broker's private key (mosquitto must be able to read it, see ``user``)."""
    acl_file: Path
    """The rendered ACL."""
    persistence_dir: Path
    """Folder for mosquitto's persistence database."""
    port: int = DEFAULT_PORT
    """The TLS listener's port."""
    bind: str | None = None
    """Address to listen on; None listens on every interface (agents are on the LAN)."""
    user: str | None = None
    """The ``user`` mosquitto drops to when started as root; None keeps its default,
    ``mosquitto``. Set it to the files' owner when they cannot be given to ``mosquitto``."""
    autosave_interval: int = DEFAULT_AUTOSAVE_S
    """Seconds between persistence snapshots: at most this much is lost to a crash."""


def render_config(settings: BrokerSettings) -> str:
    """mosquitto.conf text: one TLS listener, client certificates required, the ACL on."""
    if not 0 < settings.port < 65536:
        raise ProvisioningError(f"port {settings.port}: not a TCP port (1-65535)")
    if settings.autosave_interval < 1:
        raise ProvisioningError(
            f"autosave_interval {settings.autosave_interval}: must be at least 1 second"
        )
    bind = ""
    if settings.bind is not None:
        try:
            bind = f" {ipaddress.ip_address(settings.bind)}"
        except ValueError as exc:
            raise ProvisioningError(f"bind address {settings.bind!r}: not an IP address") from exc
    user_line = ""
    if settings.user is not None:
        if not _USER.fullmatch(settings.user):
            raise ProvisioningError(f"broker user {settings.user!r}: not a system user name")
        user_line = (
            "# Started as root, mosquitto becomes this user before it reads the key.\n"
            f"user {settings.user}"
        )
    return Template(CONFIG_TEMPLATE.read_text(encoding="utf-8")).substitute(
        acl_file=_path(settings.acl_file, "acl_file"),
        user_line=user_line,
        persistence_dir=_path(settings.persistence_dir, "persistence_location"),
        autosave_interval=settings.autosave_interval,
        port=settings.port,
        bind=bind,
        cafile=_path(settings.cafile, "cafile"),
        certfile=_path(settings.certfile, "certfile"),
        keyfile=_path(settings.keyfile, "keyfile"),
    )


def render_acl() -> str:
    """The ACL: agents own ``agent/<id>/#``, read ``hub/<id>/#`` and ``models/#``; the hub
    all; the operator (``hub-cli``) writes commands and reads their results."""
    return Template(ACL_TEMPLATE.read_text(encoding="utf-8")).substitute(
        hub=HUB_IDENTITY, operator=OPERATOR_IDENTITY,
    )


def acl_rules(acl_text: str) -> list[str]:
    """The ACL's rule lines (comments and blank lines dropped), in order."""
    lines = (line.strip() for line in acl_text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def render_systemd_dropin(config: Path, mosquitto: str = DEBIAN_MOSQUITTO) -> str:
    """A drop-in for Debian's ``mosquitto.service`` that runs ``config``."""
    return Template(SYSTEMD_TEMPLATE.read_text(encoding="utf-8")).substitute(
        mosquitto=mosquitto, config=_path(config, "config"),
    )


def _path(path: Path, key: str) -> str:
    """An absolute path mosquitto can read back: it splits option values on whitespace."""
    text = str(Path(path).resolve())
    if any(ch.isspace() for ch in text):
        raise ProvisioningError(
            f"{key} {text!r}: mosquitto cannot read a path containing whitespace; "
            "choose an output folder without spaces"
        )
    return text
