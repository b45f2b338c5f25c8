"""The project CA and the certificates it signs: the broker's, the hub's, each agent's.

A client certificate's common name is its MQTT identity (mosquitto's
``use_identity_as_username``): ``hub`` for the hub, the agent id for an agent. The
broker's ACL turns that name into the topics it may use, so issuing a certificate
*is* granting an agent its topics; there is no password file to keep in step.

Everything is idempotent: an existing CA, key or certificate is reused and checked
(signed by this CA, key matches, right name), never silently replaced, so re-running
provisioning cannot lock out agents already in the field. Keys are EC P-256, small
and fast on a Raspberry Pi, written mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.errors import ProvisioningError
from provisioning.files import write_atomic

HUB_IDENTITY = "hub"
"""The hub's certificate CN and MQTT username; no agent may take it."""
OPERATOR_IDENTITY = "hub-cli"
"""The CN of the operator's certificate, which ``tickerml hub command`` uses: it may send
commands to agents and read their results. The broker makes every client's id its
certificate's CN, so a command client holding the hub's own certificate would take over
(and end) the ingest's session; hence an identity of its own. No agent may take it."""
RESERVED_IDENTITIES = (HUB_IDENTITY, OPERATOR_IDENTITY)

AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What an agent id may be: the same rule as shared/topics.py, and no MQTT wildcard or
``/`` can reach an ACL ``%u`` substitution through it."""

CA_VALIDITY = dt.timedelta(days=20 * 365)
LEAF_VALIDITY = dt.timedelta(days=10 * 365)
# A Raspberry Pi has no real-time clock: until NTP syncs it may run behind, and a
# certificate "not yet valid" would keep it off the broker, so validity starts a day early.
BACKDATE = dt.timedelta(days=1)
ORGANIZATION = "TickerML"

Action = Literal["created", "kept", "reissued"]


def check_agent_id(agent_id: str) -> str:
    """``agent_id`` if it can be an agent's identity; ProvisioningError saying why not."""
    if not AGENT_ID.fullmatch(agent_id):
        raise ProvisioningError(
            f"agent id {agent_id!r}: use 1-64 letters, digits, '-' or '_' "
            "(it becomes the certificate CN and part of every topic the agent uses)"
        )
    if agent_id in RESERVED_IDENTITIES:
        raise ProvisioningError(
            f"agent id {agent_id!r} is reserved for the hub (its ACL lets it speak to every "
            "agent); choose another name for the agent"
        )
    return agent_id


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its key on disk, and what this run did about them."""

    name: str
    cert_file: Path
    key_file: Path
    action: Action


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as colon-separated hex (what ``openssl x509 -fingerprint`` shows)."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


class CertificateAuthority:
    """The project CA: a self-signed EC P-256 certificate and its key, on disk."""

    CERT_NAME = "ca.crt"
    KEY_NAME = "ca.key"

    def __init__(
        self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, directory: Path,
        *, created: bool = False,
    ) -> None:
        self.cert = cert
        self.key = key
        self.directory = directory
        self.created = created

    @property
    def cert_file(self) -> Path:
        return self.directory / self.CERT_NAME

    @property
    def key_file(self) -> Path:
        return self.directory / self.KEY_NAME

    @property
    def fingerprint(self) -> str:
        """The CA certificate's SHA-256 fingerprint: the same after every re-run."""
        return fingerprint(self.cert)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        """The CA in ``directory``; ProvisioningError naming the file if it is missing or bad."""
        directory = Path(directory)
        cert_file, key_file = directory / cls.CERT_NAME, directory / cls.KEY_NAME
        for path in (cert_file, key_file):
            if not path.is_file():
                raise ProvisioningError(
                    f"{path}: no such file; create the CA first with "
                    "`tickerml provision broker --out DIR`"
                )
        cert = _read_cert(cert_file)
        key = _read_key(key_file)
        _check_pair(cert, key, cert_file, key_file)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not constraints.ca:
            raise ProvisioningError(f"{cert_file}: not a CA certificate")
        return cls(cert, key, directory)

    @classmethod
    def ensure(cls, directory: Path, common_name: str = f"{ORGANIZATION} CA") -> (
        CertificateAuthority
    ):
        """The CA in ``directory``, created there (key 0600, folder 0700) when absent."""
        directory = Path(directory)
        cert_file, key_file = directory / cls.CERT_NAME, directory / cls.KEY_NAME
        present = [p for p in (cert_file, key_file) if p.exists()]
        if len(present) == 2:
            return cls.load(directory)
        if present:
            missing = key_file if cert_file.exists() else cert_file
            raise ProvisioningError(
                f"{missing}: missing while {present[0]} exists; restore it from a backup "
                "(a new CA would lock out every agent already provisioned)"
            )
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ])
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            # path_length 0: this CA signs end certificates only, never another CA.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        _write_key(key_file, key)
        _write_cert(cert_file, cert)
        return cls(cert, key, directory, created=True)

    def ensure_server(
        self, cert_file: Path, key_file: Path, hosts: Sequence[str] = (),
    ) -> Issued:
        """The broker's certificate, valid for localhost, loopback and every name in ``hosts``.

        ``hosts`` may mix DNS names and IP addresses. An existing certificate that does
        not cover a newly given name is reissued (same key, same CA) for the union of
        old and new names, so clients already configured keep working.
        """
        wanted = _san_names(["localhost", "127.0.0.1", "::1", *hosts])
        if _pair_present(cert_file, key_file):
            cert, key = self._load_issued(cert_file, key_file)
            have = set(cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value)
            if set(wanted) <= have:
                return Issued(_common_name(cert), cert_file, key_file, "kept")
            union = list(have) + [n for n in wanted if n not in have]
            self._write_leaf(cert_file, key_file, key, _common_name(cert), union, server=True)
            return Issued(_common_name(cert), cert_file, key_file, "reissued")
        common = next((h for h in hosts if not _is_ip(h)), "localhost")
        key = ec.generate_private_key(ec.SECP256R1())
        self._write_leaf(cert_file, key_file, key, common, wanted, server=True, new_key=True)
        return Issued(common, cert_file, key_file, "created")

    def ensure_client(self, cert_file: Path, key_file: Path, identity: str) -> Issued:
        """A client certificate whose CN is ``identity`` (``hub``, ``hub-cli`` or an agent id)."""
        if identity not in RESERVED_IDENTITIES:
            check_agent_id(identity)
        if _pair_present(cert_file, key_file):
            cert, _ = self._load_issued(cert_file, key_file)
            if _common_name(cert) != identity:
                raise ProvisioningError(
                    f"{cert_file}: its CN is {_common_name(cert)!r}, expected {identity!r}; "
                    "move the file away to issue a new one"
                )
            return Issued(identity, cert_file, key_file, "kept")
        key = ec.generate_private_key(ec.SECP256R1())
        self._write_leaf(cert_file, key_file, key, identity, [], server=False, new_key=True)
        return Issued(identity, cert_file, key_file, "created")

    def _load_issued(
        self, cert_file: Path, key_file: Path,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert, key = _read_cert(cert_file), _read_key(key_file)
        _check_pair(cert, key, cert_file, key_file)
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise ProvisioningError(
                f"{cert_file}: not signed by the CA {self.cert_file} ({exc}); move it and "
                f"{key_file.name} away to issue new ones"
            ) from exc
        return cert, key

    def _write_leaf(
        self, cert_file: Path, key_file: Path, key: ec.EllipticCurvePrivateKey,
        common_name: str, sans: Iterable[x509.GeneralName], *, server: bool,
        new_key: bool = False,
    ) -> None:
        now = _now()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + LEAF_VALIDITY, self.cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        sans = list(sans)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        if new_key:
            _write_key(key_file, key)
        _write_cert(cert_file, cert)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_host(host: str) -> x509.GeneralName:
    """The certificate name for ``host`` (an IP address or a DNS name); ProvisioningError if
    it is neither."""
    if _is_ip(host):
        return x509.IPAddress(ipaddress.ip_address(host))
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", host):
        return x509.DNSName(host.lower())
    raise ProvisioningError(f"host {host!r}: not a DNS name or an IP address")


def _san_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        name = check_host(host)
        if name not in names:
            names.append(name)
    return names


def _common_name(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def _pair_present(cert_file: Path, key_file: Path) -> bool:
    """Whether both exist (reuse them); neither (create); one alone is an error."""
    cert_there, key_there = cert_file.exists(), key_file.exists()
    if cert_there != key_there:
        there, missing = (cert_file, key_file) if cert_there else (key_file, cert_file)
        raise ProvisioningError(
            f"{missing}: missing while {there} exists; restore it, or move {there} away "
            "to issue a new pair"
        )
    return cert_there


def _read_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"{path}: not a readable PEM certificate ({exc})") from exc


def _read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ProvisioningError(f"{path}: not a readable unencrypted PEM key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProvisioningError(f"{path}: not an EC private key")
    return key


def _check_pair(
    cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, cert_file: Path, key_file: Path,
) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    if cert.public_key().public_bytes(pem, spki) != key.public_key().public_bytes(pem, spki):
        raise ProvisioningError(f"{key_file}: does not belong to the certificate {cert_file}")


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(path, data, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
