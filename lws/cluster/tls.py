"""Serving certificates for the operator's HTTPS servers (webhooks, metrics), reloaded in place.

Two sources:

* a certificate the operator made itself (:func:`lws.cluster.certs.make_serving_certificate`): fixed for
  the life of the process;
* files in a directory (``tls.crt`` and ``tls.key``), as cert-manager's Secrets and OLM mount them: read at
  start, then re-read whenever their content changes (:meth:`ServingTLS.watch`), so a rotated certificate
  is served to new connections without restarting the process or the listener. Connections already open
  keep the certificate they were made with.

The server's :class:`ssl.SSLContext` is :attr:`ServingTLS.context`; each handshake is handed the newest
loaded context (an SNI callback, which OpenSSL calls for every client hello, with or without a server
name). A rotation caught half-written (certificate and key that do not match) keeps the previous pair and
is retried at the next check.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from lws.cluster.certs import ServingCertificate

log = logging.getLogger(__name__)

CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
#: Where controller-runtime (upstream's operator) looks for its serving certificates; cert-manager and
#: OLM installations mount their Secrets there.
WEBHOOK_CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"
METRICS_CERT_DIR = "/tmp/k8s-metrics-server/serving-certs"


class CertificateFilesError(ValueError):
    """The certificate directory cannot be served from; the message names the file and what to do."""


@dataclass(frozen=True)
class KeyPair:
    """A serving certificate chain and its private key, PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def subject(self) -> str:
        """The leaf certificate's subject, for logs."""
        return x509.load_pem_x509_certificate(self.cert_pem).subject.rfc4514_string()

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        """Write ``tls.crt`` and ``tls.key`` (mode 0600) into ``directory``; return their paths."""
        cert_path, key_path = Path(directory) / CERT_FILE, Path(directory) / KEY_FILE
        cert_path.write_bytes(self.cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.key_pem)
        return cert_path, key_path


def server_context(pair: KeyPair) -> ssl.SSLContext:
    """A server-side TLS context presenting ``pair``; raises :class:`ssl.SSLError` when they do not match."""
    context = ssl.create_default_context(purpose=ssl.Purpose.CLIENT_AUTH)
    # The ssl module loads certificates from files only; a private directory holds them for the call.
    with tempfile.TemporaryDirectory(prefix="lws-tls-") as tmp:
        cert_path, key_path = pair.write(tmp)
        context.load_cert_chain(str(cert_path), str(key_path))
    return context


def read_pair(directory: str | Path) -> KeyPair:
    """``tls.crt`` and ``tls.key`` of ``directory``.

    :raises CertificateFilesError: when either is missing or unreadable.
    """
    files = {name: Path(directory) / name for name in (CERT_FILE, KEY_FILE)}
    contents: dict[str, bytes] = {}
    for name, path in files.items():
        try:
            contents[name] = path.read_bytes()
        except OSError as exc:
            raise CertificateFilesError(
                f"cannot read {path}: {exc.strerror or exc}; mount the serving certificate's Secret "
                f"(keys {CERT_FILE} and {KEY_FILE}) there, or turn internalCertManagement back on"
            ) from None
    return KeyPair(cert_pem=contents[CERT_FILE], key_pem=contents[KEY_FILE])


def has_pair(directory: str | Path) -> bool:
    """Whether ``directory`` holds both ``tls.crt`` and ``tls.key``."""
    return all((Path(directory) / name).is_file() for name in (CERT_FILE, KEY_FILE))


class ServingTLS:
    """The TLS side of one HTTPS server: the context to serve with, and where its certificate comes from.

    Build it with :meth:`from_certificate` or :meth:`from_directory`; with a directory, run :meth:`watch`
    for as long as the server runs.
    """

    def __init__(self, pair: KeyPair, *, directory: Path | None = None) -> None:
        self.directory = directory
        self.pair = pair
        self._current = server_context(pair)
        self._digest = _digest(pair)
        #: How many rotations were loaded (for logs and tests).
        self.reloads = 0
        self.context = server_context(pair)
        self.context.sni_callback = self._select

    @classmethod
    def from_certificate(cls, certificate: ServingCertificate) -> ServingTLS:
        """Serve a certificate the operator made (leaf, then its CA); it never changes."""
        return cls(KeyPair(cert_pem=certificate.cert_pem + certificate.ca_pem, key_pem=certificate.key_pem))

    @classmethod
    def from_directory(cls, directory: str | Path) -> ServingTLS:
        """Serve ``tls.crt``/``tls.key`` of ``directory``, reloaded by :meth:`watch` when they change.

        :raises CertificateFilesError: when the files are missing, or do not form a certificate and its key.
        """
        path = Path(directory)
        pair = read_pair(path)
        try:
            return cls(pair, directory=path)
        except ssl.SSLError as exc:
            raise CertificateFilesError(
                f"{path / CERT_FILE} and {path / KEY_FILE} are not a PEM certificate and its private key "
                f"({exc.reason or exc})"
            ) from None

    def _select(self, sslobj: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext) -> None:
        if sslobj.context is not self._current:
            sslobj.context = self._current

    def reload(self) -> bool:
        """Load the directory's files if they changed; return whether a new certificate is now served.

        A pair that cannot be loaded (half-written rotation, unreadable file) keeps the current one.
        """
        if self.directory is None:
            return False
        try:
            pair = read_pair(self.directory)
        except CertificateFilesError as exc:
            log.warning("keeping the current serving certificate: %s", exc)
            return False
        digest = _digest(pair)
        if digest == self._digest:
            return False
        try:
            context = server_context(pair)
        except ssl.SSLError as exc:
            log.warning(
                "keeping the current serving certificate: %s does not load yet (%s); retrying",
                self.directory,
                exc.reason or exc,
            )
            return False
        self._current, self.pair, self._digest = context, pair, digest
        self.reloads += 1
        log.info("serving the rotated certificate from %s (%s)", self.directory, pair.subject)
        return True

    async def watch(self, interval: float = 10.0) -> None:
        """Re-read the files every ``interval`` seconds, forever (no-op for a made certificate).

        Secret volumes change by an atomic symlink swap and send no event that survives every volume type,
        so a content check is what works everywhere (as kopf and controller-runtime's certwatcher do).
        """
        if self.directory is None:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(interval)
            self.reload()


def _digest(pair: KeyPair) -> str:
    return hashlib.sha256(pair.cert_pem + b"\0" + pair.key_pem).hexdigest()
