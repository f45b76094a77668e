"""Webhook serving certificates made by the operator itself, in memory.

Each replica makes its own CA and a serving certificate signed by it at start, and adds the CA to the
webhook configurations' ``caBundle`` (see :mod:`lws.cluster.webhooks`). No cert-manager, no Secret, no
RBAC on Secrets. The CA carries the replica's identity (``OU``) and, when the API server reaches the
replica by URL, that URL (a URI SAN), so other replicas can tell whose CA it is and prune it when that
replica is gone or the certificate expired.

EC P-256 keys: a fraction of RSA's generation time, and accepted by every Kubernetes API server.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "lws-webhook-ca"
_PEM_END = b"-----END CERTIFICATE-----"


@dataclass(frozen=True)
class CaInfo:
    """What a CA in a ``caBundle`` says about the replica that made it."""

    pem: bytes
    identity: str
    url: str | None
    not_after: datetime

    def expired(self, now: datetime) -> bool:
        return self.not_after <= now


@dataclass(frozen=True)
class ServingCertificate:
    """A replica's CA and the serving certificate it signed (PEM)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    identity: str
    not_after: datetime

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        """Write ``tls.crt`` (certificate, then CA) and ``tls.key`` (mode 0600) into ``directory``.

        For servers that load certificates only from files (kopf's, Python's ``ssl``).
        """
        cert_path, key_path = Path(directory) / "tls.crt", Path(directory) / "tls.key"
        cert_path.write_bytes(self.cert_pem + self.ca_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.key_pem)
        return cert_path, key_path

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the serving certificate."""
        context = ssl.create_default_context(purpose=ssl.Purpose.CLIENT_AUTH)
        with tempfile.TemporaryDirectory(prefix="lws-webhook-") as tmp:
            cert_path, key_path = self.write(tmp)
            context.load_cert_chain(str(cert_path), str(key_path))
        return context


def make_serving_certificate(
    *,
    identity: str,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    url: str | None = None,
    valid_for: timedelta = timedelta(days=365),
    now: datetime | None = None,
) -> ServingCertificate:
    """A fresh CA (naming ``identity`` and ``url``) and a serving certificate for the given names.

    :param identity: who this replica is, e.g. ``pod/lws-system/lws-controller-manager-7d9f``.
    :param url: the webhook base URL when the API server calls this replica by URL (outside a pod).
    """
    if not dns_names and not ip_addresses:
        raise ValueError("a serving certificate needs at least one DNS name or IP address")
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)  # tolerate small clock skew
    end = start + valid_for
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity[:64]),
        ]
    )
    ca_builder = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
    )
    if url:
        ca_builder = ca_builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(url)]), critical=False
        )
    ca_cert = ca_builder.sign(ca_key, hashes.SHA256())

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    common = dns_names[0] if dns_names else ip_addresses[0]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common[:64])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ServingCertificate(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        identity=identity,
        not_after=end,
    )


def split_bundle(bundle: bytes) -> list[bytes]:
    """The PEM certificates in a ``caBundle``, in order."""
    out: list[bytes] = []
    for part in bundle.split(_PEM_END):
        start = part.find(b"-----BEGIN CERTIFICATE-----")
        if start >= 0:
            out.append(part[start:] + _PEM_END + b"\n")
    return out


def describe_ca(pem: bytes) -> CaInfo | None:
    """Who made this CA; ``None`` for a certificate that is not one of ours (kept untouched)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns or cns[0].value != CA_COMMON_NAME:
        return None
    ous = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    url: str | None = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        url = uris[0] if uris else None
    except x509.ExtensionNotFound:
        pass
    return CaInfo(
        pem=pem, identity=str(ous[0].value) if ous else "", url=url, not_after=cert.not_valid_after_utc
    )
