"""A real mosquitto that refuses: password clients and subscription ACLs (dynamic security).

mosquitto's plain ``acl_file`` grants every SUBACK and only filters deliveries
(2.0.11's default ACL check returns success for subscriptions), so a refused
subscription needs its dynamic-security plugin, which Debian's mosquitto package
ships. Each client gets a password and the subscribe patterns it may use; every
other subscription is refused with 0x87 "Not authorized", publishing is open.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provisioning.broker import Broker, free_port, mosquitto_binary

PLUGIN_PATHS = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
)
_ITERATIONS = 101


@dataclass(frozen=True)
class Account:
    """One client the broker knows: its password and the topic filters it may subscribe to."""

    password: str
    subscribe: tuple[str, ...] = field(default=())


def plugin_path() -> str | None:
    """The dynamic-security plugin, or None when this mosquitto has none."""
    return next((p for p in PLUGIN_PATHS if os.path.isfile(p)), None)


def start_dynsec_broker(workdir: Path, accounts: dict[str, Account]) -> Broker:
    """Start a loopback mosquitto that knows only ``accounts``; skips without the plugin."""
    plugin = plugin_path()
    if mosquitto_binary() is None or plugin is None:
        pytest.skip("mosquitto with its dynamic-security plugin is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    security = workdir / "dynamic-security.json"
    security.write_text(json.dumps(_security(accounts)))
    port = free_port()
    text = "\n".join([
        f"listener {port} 127.0.0.1",
        f"plugin {plugin}",
        f"plugin_opt_config_file {security}",
        # Started as root, mosquitto would become `mosquitto` before reading the file.
        f"user {getpass.getuser()}",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]) + "\n"
    return Broker(workdir / "broker", text, port).start()


def _security(accounts: dict[str, Account]) -> dict[str, object]:
    clients, roles = [], []
    for username, account in accounts.items():
        salt = os.urandom(12)
        digest = hashlib.pbkdf2_hmac(
            "sha512", account.password.encode(), salt, _ITERATIONS, 64
        )
        clients.append({
            "username": username, "password": base64.b64encode(digest).decode(),
            "salt": base64.b64encode(salt).decode(), "iterations": _ITERATIONS,
            "roles": [{"rolename": f"role-{username}"}],
        })
        roles.append({
            "rolename": f"role-{username}",
            "acls": [{"acltype": "subscribePattern", "topic": topic, "allow": True}
                     for topic in account.subscribe],
        })
    return {
        "clients": clients, "groups": [], "roles": roles,
        "defaultACLAccess": {"publishClientSend": True, "publishClientReceive": True,
                             "subscribe": False, "unsubscribe": True},
    }
