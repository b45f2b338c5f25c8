"""The rendered mosquitto.conf and ACL say what docs/broker.md says they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.errors import ProvisioningError
from provisioning.mosquitto import (
    BrokerSettings,
    acl_rules,
    render_acl,
    render_config,
    render_systemd_dropin,
)

BROKER_MD = Path(__file__).resolve().parents[2] / "docs" / "broker.md"


def settings(tmp_path: Path, **overrides: object) -> BrokerSettings:
    values: dict[str, object] = {
        "cafile": tmp_path / "ca.crt", "certfile": tmp_path / "server.crt",
        "keyfile": tmp_path / "server.key", "acl_file": tmp_path / "acl",
        "persistence_dir": tmp_path / "data",
    }
    values.update(overrides)
    return BrokerSettings(**values)  # type: ignore[arg-type]


def directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_acl_grants_agents_their_own_topics_the_hub_everything_the_operator_commands(
) -> None:
    assert acl_rules(render_acl()) == [
        "pattern write tickerml/v1/agent/%u/#",
        "pattern read tickerml/v1/hub/%u/#",
        "pattern read tickerml/v1/models/#",
        "user hub",
        "topic readwrite tickerml/v1/#",
        "user hub-cli",
        "topic write tickerml/v1/hub/+/cmd",
        "topic read tickerml/v1/agent/+/cmd-result",
    ]


def test_the_config_requires_a_client_certificate_on_one_tls_listener(tmp_path: Path) -> None:
    lines = directives(render_config(settings(tmp_path, port=18883, bind="127.0.0.1")))

    for expected in (
        "allow_anonymous false", f"acl_file {tmp_path}/acl", "max_queued_messages 1000000",
        "max_queued_bytes 1073741824",
        "persistence true", f"persistence_location {tmp_path}/data/", "log_dest stderr",
        "listener 18883 127.0.0.1", f"cafile {tmp_path}/ca.crt",
        f"certfile {tmp_path}/server.crt", f"keyfile {tmp_path}/server.key",
        "require_certificate true", "use_identity_as_username true",
        "use_username_as_clientid true",
    ):
        assert expected in lines
    assert [line for line in lines if line.startswith("listener")] == ["listener 18883 127.0.0.1"]
    assert not any(line.startswith("user ") for line in lines)


def test_a_broker_user_is_written_when_given(tmp_path: Path) -> None:
    assert "user tickerml" in directives(render_config(settings(tmp_path, user="tickerml")))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"port": 0}, "port 0"),
        ({"bind": "hub.lan"}, "bind address"),
        ({"user": "bad user"}, "broker user"),
        ({"acl_file": Path("/tmp/with space/acl")}, "acl_file"),
    ],
)
def test_values_mosquitto_would_misread_are_refused(
    tmp_path: Path, override: dict[str, object], message: str,
) -> None:
    with pytest.raises(ProvisioningError, match=message):
        render_config(settings(tmp_path, **override))


def test_the_systemd_drop_in_replaces_the_packaged_command(tmp_path: Path) -> None:
    text = render_systemd_dropin(tmp_path / "mosquitto.conf")

    assert "ExecStart=\n" in text
    assert f"ExecStart=/usr/sbin/mosquitto -c {tmp_path}/mosquitto.conf" in text


@pytest.mark.parametrize("rule", acl_rules(render_acl()))
def test_every_acl_rule_is_in_the_broker_guide(rule: str) -> None:
    assert f"`{rule}`" in BROKER_MD.read_text(encoding="utf-8"), f"docs/broker.md lacks {rule}"
