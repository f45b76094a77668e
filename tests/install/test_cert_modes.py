"""Certificate modes: the operator's own (default) and cert-manager's (``lws manifests --cert-manager``).

With cert-manager, the installation's Certificates, Secret volumes, configuration file, webhook
annotations and ServiceMonitor must agree with each other and with what ``lws run`` reads; then the
operator runs as its pod would (cert-manager's certificates on the mounted paths, the CA injected into the
webhook configurations, its ServiceAccount's RBAC enforced, no access to Secrets or webhook
configurations), serves a LeaderWorkerSet, answers Prometheus over HTTPS only with a token the API server
vouches for, and picks up renewed certificates without a restart.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from deploy_kit import CertManager, Issued, find, resolve
from install_run import (
    Running,
    apply_sample,
    denied,
    peer_certificate,
    running,
    scrape,
    service_monitor_tls,
)
from prometheus_client import CollectorRegistry

from lws.cli.manifests import Obj, Options, customize
from lws.cluster.tls import CertificateFilesError, KeyPair, ServingTLS
from lws.observability.metrics import MetricsServer
from lws.sim.testing import wait_until

CERT_MANAGER = ("prometheus", "certmanager")


def _issue(name: str) -> Issued:
    manager = CertManager(
        [
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Issuer",
                "metadata": {"name": "i"},
                "spec": {"selfSigned": {}},
            },
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"dnsNames": [f"{name}.ns.svc"], "secretName": name, "issuerRef": {"name": "i"}},
            },
        ]
    )
    return manager.issue(name)


def _write(directory: Path, issued: Issued) -> None:
    for key, value in issued.secret_data.items():
        (directory / key).write_bytes(value)


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


class _Server:
    """A MetricsServer with ``tls`` on a loop of its own thread."""

    def __init__(self, tls: ServingTLS) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = MetricsServer(CollectorRegistry(), host="127.0.0.1", port=0, ssl_context=tls.context)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServingTLS, _Server, Path]]:
    _write(tmp_path, _issue("first"))
    tls = ServingTLS.from_directory(tmp_path)
    server = _Server(tls)
    try:
        yield tls, server, tmp_path
    finally:
        server.close()


def test_a_rotated_certificate_is_served_to_new_connections_without_a_restart(
    served: tuple[ServingTLS, _Server, Path],
) -> None:
    tls, server, directory = served
    first = (directory / "tls.crt").read_bytes()
    port = server.server.port
    assert peer_certificate(port, server_name="first.ns.svc", cadata=first) == _der(first)
    # A connection opened before the rotation keeps working with the certificate it was made with.
    context = ssl.create_default_context(cadata=first.decode())
    old = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="first.ns.svc")
    try:
        second = _issue("second")
        _write(directory, second)
        assert tls.reload() is True
        assert peer_certificate(port, server_name="second.ns.svc", cadata=second.cert_pem) == _der(
            second.cert_pem
        )
        old.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert old.recv(12) == b"HTTP/1.1 200"
    finally:
        old.close()
    assert tls.reload() is False  # nothing changed since
    assert tls.reloads == 1


def test_a_half_written_rotation_keeps_the_current_certificate(
    served: tuple[ServingTLS, _Server, Path],
) -> None:
    tls, server, directory = served
    first = (directory / "tls.crt").read_bytes()
    (directory / "tls.crt").write_bytes(_issue("next").cert_pem)  # the key is still the old one
    assert tls.reload() is False
    assert peer_certificate(server.server.port, server_name="first.ns.svc", cadata=first) == _der(first)


async def test_the_watch_notices_a_rotation(tmp_path: Path) -> None:
    _write(tmp_path, _issue("first"))
    tls = ServingTLS.from_directory(tmp_path)
    watching = asyncio.create_task(tls.watch(0.01))
    try:
        second = _issue("second")
        _write(tmp_path, second)
        async with asyncio.timeout(10):
            while tls.reloads == 0:
                await asyncio.sleep(0.01)  # a condition poll: reloads has no change signal
        assert tls.pair == KeyPair(second.cert_pem, second.key_pem)
    finally:
        watching.cancel()


def test_missing_certificate_files_are_named_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(
        CertificateFilesError, match=r"cannot read .*/tls\.crt: .*mount the serving certificate's Secret"
    ):
        ServingTLS.from_directory(tmp_path)
    (tmp_path / "tls.crt").write_text("not a certificate")
    (tmp_path / "tls.key").write_text("not a key")
    with pytest.raises(CertificateFilesError, match="are not a PEM certificate and its private key"):
        ServingTLS.from_directory(tmp_path)


@pytest.mark.parametrize("namespace", ["lws-system", "ml"])
def test_the_cert_manager_installation_agrees_with_itself_and_with_lws_run(
    namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = customize(Options(components=CERT_MANAGER, namespace=namespace))
    resolved = resolve(objects, tmp_path, monkeypatch, namespace=namespace)
    manager = CertManager(objects)
    serving = manager.certificates["lws-serving-cert"]["spec"]
    metrics = manager.certificates["lws-metrics-cert"]["spec"]
    # lws run serves cert-manager's certificates, from where the Deployment mounts their Secrets.
    assert resolved.settings.internal_certs is False
    secrets = resolved.kubelet.secrets
    assert secrets[resolved.settings.webhook_cert_dir] == serving["secretName"]
    assert secrets[resolved.metrics.cert_dir] == metrics["secretName"] and resolved.metrics.secure
    # The webhook certificate names the Service the webhook configurations call; its CA is injected there.
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        (config,) = [o for o in objects if o["kind"] == kind]
        assert (
            config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
            == f"{namespace}/lws-serving-cert"
        )
        for webhook in config["webhooks"]:
            service = webhook["clientConfig"]["service"]
            assert f"{service['name']}.{service['namespace']}.svc" in serving["dnsNames"]
            assert service["name"] == resolved.settings.webhook_service
    # Prometheus verifies the metrics certificate: the name it expects is in it, the CA is its Secret's.
    tls = service_monitor_tls(objects)
    assert tls["insecureSkipVerify"] is False and tls["serverName"] in metrics["dnsNames"]
    assert tls["ca"]["secret"] == {"name": metrics["secretName"], "key": "ca.crt"}
    service = find(objects, "Service", "lws-controller-manager-metrics-service")
    assert tls["serverName"] == f"{service['metadata']['name']}.{namespace}.svc"


def test_without_cert_manager_the_operator_makes_its_certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = customize(Options(components=("prometheus",)))
    resolved = resolve(objects, tmp_path, monkeypatch)
    assert resolved.settings.internal_certs is True and not resolved.kubelet.secrets
    assert service_monitor_tls(objects)["insecureSkipVerify"] is True  # self-signed metrics certificate
    assert not [o for o in objects if "cert-manager.io" in o["apiVersion"]]


@pytest.fixture(scope="module")
def certmanager_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``lws manifests --cert-manager --service-monitor`` installed and run, with a renewal of both
    certificates half-way."""
    tmp = tmp_path_factory.mktemp("certmanager")
    objects: list[Obj] = customize(Options(components=CERT_MANAGER))
    facts: dict[str, Any] = {}
    with running(objects, tmp) as run:
        facts["first_lws"] = apply_sample(
            run.cluster, run.admin, "before", "leaderworkerset_v1_leaderworkerset.yaml"
        )
        _observe(run, facts, "before")
        webhook_tls = run.operator.running_operator.webhook_tls
        assert webhook_tls is not None and run.metrics.tls is not None
        run.issue("lws-serving-cert")
        run.issue("lws-metrics-cert")
        run.route_webhooks()  # cert-manager's CA injector puts the renewed CA (only) into the caBundle
        wait_until(
            lambda: webhook_tls.reloads == 1 and run.metrics.tls.reloads == 1, 10, "both renewals loaded"
        )
        facts["second_lws"] = apply_sample(
            run.cluster, run.admin, "after", "leaderworkerset_v1_leaderworkerset.yaml"
        )
        _observe(run, facts, "after")
        facts["webhook_config_calls"] = [
            r for r in run.proxy.snapshot() if "webhookconfigurations" in r.attributes.resource
        ]
    facts["records"] = run.records
    facts["authorizer"] = run.authorizer
    yield facts


def _observe(run: Running, facts: dict[str, Any], when: str) -> None:
    tls = service_monitor_tls(run.objects)
    ca = run.ca("lws-metrics-cert")
    server_name = tls["serverName"]
    facts[f"{when}_scrapes"] = {
        who: scrape(run.metrics_port, token, server_name=server_name, cadata=ca)
        for who, token in {
            "prometheus": "prometheus-token",
            "intruder": "intruder-token",
            "no token": None,
            "a forged token": "forged",
        }.items()
    }
    facts[f"{when}_metrics_cert"] = peer_certificate(run.metrics_port, server_name=server_name, cadata=ca)
    facts[f"{when}_expected_metrics_cert"] = _der(ca)
    serving_ca = run.ca("lws-serving-cert")
    facts[f"{when}_webhook_cert"] = peer_certificate(
        run.webhook_port, server_name="lws-webhook-service.lws-system.svc", cadata=serving_ca
    )
    facts[f"{when}_expected_webhook_cert"] = _der(serving_ca)


@pytest.mark.e2e
@pytest.mark.sim_only
@pytest.mark.parametrize("when", ["before", "after"])
def test_cert_manager_mode_serves_leaderworkersets_with_cert_managers_certificates(
    certmanager_run: dict[str, Any], when: str
) -> None:
    assert certmanager_run[f"{when}_webhook_cert"] == certmanager_run[f"{when}_expected_webhook_cert"]
    assert certmanager_run[f"{when}_metrics_cert"] == certmanager_run[f"{when}_expected_metrics_cert"]
    assert certmanager_run["before_metrics_cert"] != certmanager_run["after_metrics_cert"]


@pytest.mark.e2e
@pytest.mark.sim_only
@pytest.mark.parametrize("when", ["before", "after"])
def test_metrics_answer_only_who_the_api_server_authorizes(
    certmanager_run: dict[str, Any], when: str
) -> None:
    scrapes = certmanager_run[f"{when}_scrapes"]
    status, body = scrapes["prometheus"]
    assert status == 200 and "lws_reconcile_total" in body
    assert scrapes["intruder"][0] == 403 and 'cannot get path "/metrics"' in scrapes["intruder"][1]
    assert scrapes["no token"][0] == 401 and scrapes["a forged token"][0] == 401


@pytest.mark.e2e
@pytest.mark.sim_only
def test_cert_manager_mode_needs_no_secrets_and_no_webhook_configuration_access(
    certmanager_run: dict[str, Any],
) -> None:
    records = certmanager_run["records"]
    assert not denied(records), denied(records)
    assert not certmanager_run["webhook_config_calls"]
    assert not [r for r in records if r.attributes.resource == "secrets"]
    # The API server checked who scraped, on the operator's behalf (the rest of the RBAC is the default
    # installation's, whose every rule test_rbac.py sees used).
    used = {(r.attributes.verb, r.attributes.resource) for r in records if r.allowed}
    assert {("create", "tokenreviews"), ("create", "subjectaccessreviews")} <= used
