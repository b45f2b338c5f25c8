"""The project CA and its certificates: names, key types, modes, idempotence, refusals."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.certs import CertificateAuthority, check_agent_id
from provisioning.errors import ProvisioningError


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ca_is_a_self_signed_p256_ca_with_a_private_key(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "ca")

    cert = load(ca.cert_file)
    assert ca.created
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert mode(ca.key_file) == 0o600
    assert mode(ca.directory) == 0o700


def test_ensuring_the_ca_again_reuses_it(tmp_path: Path) -> None:
    first = CertificateAuthority.ensure(tmp_path / "ca")

    again = CertificateAuthority.ensure(tmp_path / "ca")

    assert not again.created
    assert again.fingerprint == first.fingerprint


def test_the_server_certificate_names_loopback_and_every_given_host(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "ca")

    issued = ca.ensure_server(tmp_path / "s.crt", tmp_path / "s.key", ["hub.lan", "10.0.0.5"])

    cert = load(issued.cert_file)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"localhost", "hub.lan"}
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
        ipaddress.ip_address("10.0.0.5"),
    }
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hub.lan"
    cert.verify_directly_issued_by(ca.cert)
    assert mode(issued.key_file) == 0o600


def test_a_new_host_reissues_the_server_certificate_with_the_same_key(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "ca")
    cert_file, key_file = tmp_path / "s.crt", tmp_path / "s.key"
    ca.ensure_server(cert_file, key_file, ["hub.lan"])
    key_before = key_file.read_bytes()

    kept = ca.ensure_server(cert_file, key_file, ["hub.lan"])
    reissued = ca.ensure_server(cert_file, key_file, ["broker.lan"])

    sans = load(cert_file).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert (kept.action, reissued.action) == ("kept", "reissued")
    assert {"hub.lan", "broker.lan"} <= set(sans.get_values_for_type(x509.DNSName))
    assert key_file.read_bytes() == key_before


def test_a_client_certificate_carries_its_identity_as_cn(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "ca")

    issued = ca.ensure_client(tmp_path / "c.crt", tmp_path / "c.key", "pi-kitchen_01")

    cert = load(issued.cert_file)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pi-kitchen_01"
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert mode(issued.key_file) == 0o600


def test_an_existing_client_certificate_is_kept_byte_for_byte(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "ca")
    ca.ensure_client(tmp_path / "c.crt", tmp_path / "c.key", "pi-a")
    before = (tmp_path / "c.crt").read_bytes(), (tmp_path / "c.key").read_bytes()

    again = ca.ensure_client(tmp_path / "c.crt", tmp_path / "c.key", "pi-a")

    assert again.action == "kept"
    assert ((tmp_path / "c.crt").read_bytes(), (tmp_path / "c.key").read_bytes()) == before


@pytest.mark.parametrize(
    "agent_id", ["", "pi/a", "pi+", "pi#", "pi a", "é", "x" * 65, "hub"],
)
def test_agent_ids_that_cannot_be_identities_are_refused(agent_id: str) -> None:
    with pytest.raises(ProvisioningError, match="agent id"):
        check_agent_id(agent_id)


def test_the_hub_name_is_reserved_with_a_reason() -> None:
    with pytest.raises(ProvisioningError, match="reserved for the hub"):
        check_agent_id("hub")


def test_a_certificate_from_another_ca_is_refused_naming_the_file(tmp_path: Path) -> None:
    ours = CertificateAuthority.ensure(tmp_path / "ours")
    theirs = CertificateAuthority.ensure(tmp_path / "theirs")
    theirs.ensure_client(tmp_path / "c.crt", tmp_path / "c.key", "pi-a")

    with pytest.raises(ProvisioningError, match=r"c\.crt: not signed by the CA"):
        ours.ensure_client(tmp_path / "c.crt", tmp_path / "c.key", "pi-a")


def test_a_key_without_its_certificate_is_an_error_naming_the_missing_file(
    tmp_path: Path,
) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "ca")
    ca.ensure_client(tmp_path / "c.crt", tmp_path / "c.key", "pi-a")
    (tmp_path / "c.crt").unlink()

    with pytest.raises(ProvisioningError, match=r"c\.crt: missing while .*c\.key exists"):
        ca.ensure_client(tmp_path / "c.crt", tmp_path / "c.key", "pi-a")


def test_a_ca_key_without_its_certificate_is_never_replaced(tmp_path: Path) -> None:
    ca = CertificateAuthority.ensure(tmp_path / "ca")
    ca.cert_file.unlink()

    with pytest.raises(ProvisioningError, match=r"ca\.crt: missing"):
        CertificateAuthority.ensure(tmp_path / "ca")
