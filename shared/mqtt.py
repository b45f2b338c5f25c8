"""One way to make an MQTT client: paho 2.x, MQTT v5, TLS from the config.

MQTT v5 because under it a publish the broker's ACL denies comes back with a
failing PUBACK reason code (0x87); under 3.1.1 it is acknowledged as a success and
silently dropped. Callers check ``reason_code.is_failure`` in ``on_publish`` and
``on_connect`` (a non-zero reason code is a failure) and never take a PUBACK for
"stored by the hub": only the hub's own acknowledgement says that.
"""

from __future__ import annotations

import os
import socket
import ssl

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shared.config.mqtt import MqttConfig
from shared.errors import ConfigError

SESSION_EXPIRY_S = 7 * 24 * 3600
"""A persistent session outlives a week-long outage of its client."""


def new_client(config: MqttConfig, client_id: str, *, max_inflight: int = 20) -> paho.Client:
    """An unconnected v5 client for ``client_id`` with TLS and credentials applied."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5,
    )
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    client.on_socket_open = _no_delay
    if config.tls is not None:
        tls = config.tls
        for key, path in (("ca_file", tls.ca_file), ("cert_file", tls.cert_file),
                          ("key_file", tls.key_file)):
            if path is not None and not os.path.isfile(path):
                raise ConfigError(f"mqtt.tls.{key}: no such file {path}")
        client.tls_set(
            ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file,
            cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    if config.username is not None:
        password = None
        if config.password_env is not None:
            password = os.environ.get(config.password_env)
            if password is None:
                raise ConfigError(
                    f"mqtt.password_env: environment variable {config.password_env} is not set"
                )
        client.username_pw_set(config.username, password)
    return client


def _no_delay(client: paho.Client, userdata: object, sock: object) -> None:
    # Without TCP_NODELAY a small publish written right after a PUBACK waits for the
    # broker's delayed ACK (Nagle): ~40 ms on every hop of a batch and of its ack.
    raw = getattr(sock, "setsockopt", None)
    if raw is not None:
        raw(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def connect_properties(*, persistent: bool) -> Properties:
    """CONNECT properties: a session that outlives a disconnect when ``persistent``."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    if persistent:
        props.SessionExpiryInterval = SESSION_EXPIRY_S
    return props
