"""Running the operator as an installation would, without a container runtime.

The embedded cluster stores Deployments but runs no pods, so the install tests play the parts a real
cluster would:

* :func:`resolve`: what ``lws run`` makes of the Deployment's command line, environment and mounted
  ConfigMap (through ``lws run``'s own option parsing and settings resolution);
* :class:`Kubelet`: the Deployment's Secret and ConfigMap volumes, written to local directories, and the
  in-pod paths ``lws run`` reads mapped onto them (a path nothing is mounted at fails the test);
* :class:`CertManager`: the Certificates of the installation issued as cert-manager's self-signed Issuer
  does (``tls.crt``, ``tls.key``, ``ca.crt`` in the Certificate's Secret), and its CA injector's job:
  the CA into the ``caBundle`` of objects annotated ``cert-manager.io/inject-ca-from``.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lws.api.config import load_config
from lws.cli.manifests import INJECT_CA_FROM, Obj, manager_container, manager_deployment
from lws.cli.run import Flags, resolve_settings
from lws.cli.run import command as run_command
from lws.controller.metrics_endpoint import MetricsOptions
from lws.controller.settings import OperatorSettings

POD_NAME = "lws-controller-manager-5d8c7-abcde"


def find(objects: Iterable[Obj], kind: str, name: str) -> Obj:
    """The one object of ``kind`` named ``name``."""
    found = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def downward(env: Mapping[str, Any], namespace: str) -> str:
    """The value the kubelet gives an environment variable of the manager container."""
    if "value" in env:
        return str(env["value"])
    field_path = env["valueFrom"]["fieldRef"]["fieldPath"]
    return {"metadata.name": POD_NAME, "metadata.namespace": namespace}[field_path]


@dataclass
class Kubelet:
    """The manager container's volumes as local directories: ``mounts`` maps each mount path to one."""

    root: Path
    mounts: dict[str, Path] = field(default_factory=dict)
    #: mount path -> the Secret mounted there (for :meth:`write_secret`).
    secrets: dict[str, str] = field(default_factory=dict)
    #: mount path -> the Secret volume's ``items`` (key -> file name), when it names some.
    items: dict[str, dict[str, str]] = field(default_factory=dict)

    def local(self, path: str) -> Path:
        """Where the container's ``path`` is here: under the deepest mount that holds it."""
        pure = PurePosixPath(path)
        best = max(
            (m for m in self.mounts if pure == PurePosixPath(m) or PurePosixPath(m) in pure.parents),
            key=lambda m: len(PurePosixPath(m).parts),
            default=None,
        )
        if best is None:
            raise AssertionError(f"the operator reads {path}, where the Deployment mounts nothing")
        return self.mounts[best] / pure.relative_to(best)

    def write_secret(self, name: str, data: Mapping[str, bytes]) -> None:
        """Put a Secret's keys into every volume that mounts it (as the kubelet updates a Secret volume:
        each key as a file, or only the ``items`` named, under their paths)."""
        mounts = [m for m, secret in self.secrets.items() if secret == name]
        if not mounts:
            raise AssertionError(f"the Deployment mounts no Secret {name}")
        for mount in mounts:
            directory = self.mounts[mount]
            paths = self.items.get(mount) or {key: key for key in data}
            for key, path in paths.items():
                staged = directory / f".{path}.new"
                staged.write_bytes(data[key])
                staged.replace(directory / path)  # one atomic change per file


@dataclass
class Resolved:
    """What ``lws run`` in the installation's pod would run with."""

    settings: OperatorSettings
    metrics: MetricsOptions
    kubelet: Kubelet
    args: list[str]


def resolve(
    objects: list[Obj], root: Path, monkeypatch: pytest.MonkeyPatch, *, namespace: str = "lws-system"
) -> Resolved:
    """The settings of ``lws run`` in the installation's pod, with in-pod paths mapped to local ones."""
    deployment = manager_deployment(objects)
    pod = deployment["spec"]["template"]["spec"]
    manager = manager_container(deployment)
    assert manager["command"] == ["lws", "run"]
    environment = {env["name"]: downward(env, namespace) for env in manager.get("env") or []}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    kubelet = Kubelet(root)
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in manager["volumeMounts"]:
        volume = volumes[mount["name"]]
        directory = root / mount["name"]
        directory.mkdir(parents=True, exist_ok=True)
        kubelet.mounts[mount["mountPath"]] = directory
        if "configMap" in volume:
            config_map = find(objects, "ConfigMap", volume["configMap"]["name"])
            for key, text in config_map["data"].items():
                (directory / key).write_text(text)
        elif "secret" in volume:
            kubelet.secrets[mount["mountPath"]] = volume["secret"]["secretName"]
            if volume["secret"].get("items"):
                kubelet.items[mount["mountPath"]] = {i["key"]: i["path"] for i in volume["secret"]["items"]}
    context = run_command.make_context("run", list(manager["args"]))
    params = dict(context.params)
    config = load_config(kubelet.local(params["config_path"])) if params["config_path"] else load_config(None)
    flags = Flags(**{f.name: params[f.name] for f in dataclasses.fields(Flags)})
    settings = resolve_settings(flags, config, environment)
    metrics = MetricsOptions(secure=bool(params["metrics_secure"]), cert_dir=str(params["metrics_cert_dir"]))
    return Resolved(settings, metrics, kubelet, list(manager["args"]))


@dataclass(frozen=True)
class Issued:
    """One certificate as cert-manager's self-signed Issuer writes it into its Secret."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def secret_data(self) -> dict[str, bytes]:
        # A self-signed certificate is its own CA.
        return {"tls.crt": self.cert_pem, "tls.key": self.key_pem, "ca.crt": self.cert_pem}


class CertManager:
    """cert-manager and its CA injector, for the Certificates and annotations of an installation.

    :param extra_ips: IP addresses added to every certificate: the embedded cluster reaches Services at
        127.0.0.1 (it has no DNS), so the certificates must name that address too.
    """

    def __init__(self, objects: Iterable[Obj], *, extra_ips: tuple[str, ...] = ("127.0.0.1",)) -> None:
        objs = list(objects)
        self.certificates = {
            o["metadata"]["name"]: o
            for o in objs
            if o.get("kind") == "Certificate" and o["apiVersion"].startswith("cert-manager.io/")
        }
        issuers = {o["metadata"]["name"]: o for o in objs if o.get("kind") == "Issuer"}
        for name, certificate in self.certificates.items():
            issuer = certificate["spec"]["issuerRef"]
            assert issuer.get("kind", "Issuer") == "Issuer" and issuer["name"] in issuers, (
                f"Certificate {name} names an Issuer the installation does not have: {issuer}"
            )
            assert "selfSigned" in issuers[issuer["name"]]["spec"], "only a selfSigned Issuer is emulated"
        self.extra_ips = extra_ips
        self.issued: dict[str, Issued] = {}

    def issue(self, name: str) -> Issued:
        """(Re)issue Certificate ``name``: a new key and certificate, as a renewal makes."""
        spec = self.certificates[name]["spec"]
        key = ec.generate_private_key(ec.SECP256R1())
        dns = list(spec.get("dnsNames") or [])
        common = spec.get("commonName") or (dns[0] if dns else name)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
        now = datetime.now(UTC) - timedelta(minutes=1)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in self.extra_ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256())
        )
        issued = Issued(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        self.issued[name] = issued
        return issued

    def secret_name(self, certificate: str) -> str:
        return str(self.certificates[certificate]["spec"]["secretName"])

    def inject(self, obj: Obj) -> Obj:
        """``obj`` with the CA its ``inject-ca-from`` annotation names put into every ``caBundle``."""
        source = ((obj.get("metadata") or {}).get("annotations") or {}).get(INJECT_CA_FROM)
        if source is None:
            return obj
        namespace, _, name = source.partition("/")
        certificate = self.certificates.get(name)
        assert certificate is not None and certificate["metadata"]["namespace"] == namespace, (
            f"{obj['kind']} {obj['metadata']['name']}: {INJECT_CA_FROM} names {source}, which is no "
            "Certificate of the installation"
        )
        bundle = base64.b64encode(self.issued[name].secret_data["ca.crt"]).decode()
        injected = copy.deepcopy(obj)
        for webhook in injected.get("webhooks") or []:
            webhook["clientConfig"]["caBundle"] = bundle
        return injected
