"""How a role reaches the MQTT broker (edge and hub alike)."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.config.base import ConfigModel


class TlsConfig(ConfigModel):
    """TLS with the project CA; a client certificate is the usual identity."""

    ca_file: str = Field(description="The project CA certificate (PEM) the broker's is signed by.")
    cert_file: str | None = Field(
        None, description="This client's certificate (PEM); its CN is its MQTT username."
    )
    key_file: str | None = Field(None, description="This client's private key (PEM).")

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        return self


class MqttConfig(ConfigModel):
    """The broker and this client's identity on it."""

    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(8883, gt=0, lt=65536, description="Broker port (8883 for TLS, 1883 plain).")
    tls: TlsConfig | None = Field(
        None, description="TLS settings; leave out only for a loopback demo broker."
    )
    username: str | None = Field(
        None, description="Username for a password listener (a client certificate needs none)."
    )
    password_env: str | None = Field(
        None, description="Environment variable holding the password (never the file)."
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive (seconds).")
    connect_timeout_s: float = Field(
        10.0, gt=0, description="How long one connection attempt may take."
    )
