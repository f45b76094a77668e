"""One installation, end to end on the embedded cluster: apply its objects, run ``lws run`` as its pod would
(settings from its Deployment and ConfigMap, certificates from its Secrets, its ServiceAccount's RBAC
enforced by :class:`rbac_kit.RbacProxy`), drive a workload, scrape ``/metrics`` as Prometheus would.

Used for ``lws manifests`` in each certificate mode, for the Helm chart and for the OLM bundle, so that
"what each install provides serves a LeaderWorkerSet" is proved for each, not inferred.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_kit import CertManager, Resolved, find, resolve
from install_kit import CONFIG, kubectl
from prometheus_client import CollectorRegistry
from rbac_kit import Authorizer, RbacProxy, Record

from lws import __version__
from lws.api import constants as c
from lws.cli.manifests import Obj
from lws.cli.yaml_output import to_yaml_documents
from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.controller.instrumentation import build_telemetry
from lws.controller.metrics_endpoint import MetricsEndpoint
from lws.hooks.manager import PluginSelection, make_hooks
from lws.observability.metrics import LwsMetrics
from lws.plugin_testing import settings_for_tests
from lws.sim.kubeconfig import write_kubeconfig
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import wait_until
from tests.sim.kubectl_cli import wait_crd_established

HERE = Path(__file__).parent
NAMESPACE = "lws-system"
SERVICE_ACCOUNT = "lws-controller-manager"
LWS_GVR = (c.GROUP, c.VERSION, c.PLURAL)
WEBHOOK_GVRS = {
    "MutatingWebhookConfiguration": ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"),
    "ValidatingWebhookConfiguration": (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
    ),
}
#: Prometheus' ServiceAccount, bound to lws-metrics-reader as the cluster admin would; and one that is not.
PROMETHEUS = "system:serviceaccount:monitoring:prometheus-k8s"
TOKENS = {"prometheus-token": PROMETHEUS, "intruder-token": "system:serviceaccount:default:intruder"}
PROMETHEUS_BINDING: Obj = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "prometheus-lws-metrics"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "lws-metrics-reader"},
    "subjects": [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}],
}


def stub_crd(group: str, version: str, kind: str, plural: str) -> str:
    """A CRD that only lets the API server store objects of ``kind`` (cert-manager's, prometheus-operator's)."""
    return yaml.safe_dump(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "names": {
                    "kind": kind,
                    "listKind": f"{kind}List",
                    "plural": plural,
                    "singular": kind.lower(),
                },
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": version,
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
    )


#: The CRDs of the optional parts' kinds, by (apiVersion, kind).
STUBS = {
    ("cert-manager.io/v1", "Certificate"): stub_crd("cert-manager.io", "v1", "Certificate", "certificates"),
    ("cert-manager.io/v1", "Issuer"): stub_crd("cert-manager.io", "v1", "Issuer", "issuers"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): stub_crd(
        "monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"
    ),
}


def install_crds(objects: list[Obj], admin: Path, *, own: bool = True) -> None:
    """The CRDs of the kinds the installation uses that a bare cluster lacks (cert-manager's,
    prometheus-operator's), and with ``own`` the installation's own; each waited for."""
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    crds = [o for o in objects if own and o["kind"] == "CustomResourceDefinition"]
    for crd in crds + [yaml.safe_load(text) for key, text in STUBS.items() if key in kinds]:
        kubectl("apply", "--server-side", "-f", "-", stdin=to_yaml_documents([crd]), kubeconfig=admin)
        wait_crd_established(admin, crd["metadata"]["name"])


def install(objects: list[Obj], admin: Path) -> None:
    """``kubectl apply --server-side`` of the installation, after the CRDs of the kinds it uses."""
    install_crds(objects, admin)
    kubectl("apply", "--server-side", "-f", "-", stdin=to_yaml_documents(objects), kubeconfig=admin)


def available(cluster: EmbeddedCluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The LeaderWorkerSet once it is Available with all its groups ready."""
    obj = cluster.sync.get(LWS_GVR, namespace, name)
    status = obj.get("status") or {}
    ready = any(
        cond.get("type") == "Available" and cond.get("status") == "True"
        for cond in status.get("conditions") or []
    )
    return obj if ready and status.get("readyReplicas") == obj["spec"]["replicas"] else None


def apply_sample(
    cluster: EmbeddedCluster, admin: Path, namespace: str, sample: str, name: str | None = None
) -> str:
    """Apply a sample of config/samples in a new namespace (renamed to ``name``); wait until Available."""
    obj = yaml.safe_load((CONFIG / "samples" / sample).read_text())
    if name is not None:
        obj["metadata"]["name"] = name
    kubectl("create", "namespace", namespace, kubeconfig=admin)
    kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(obj), kubeconfig=admin)
    wait_until(
        functools.partial(available, cluster, namespace, obj["metadata"]["name"]),
        60,
        f"{namespace} available",
    )
    return str(obj["metadata"]["name"])


def peer_certificate(port: int, *, server_name: str, cadata: bytes | None = None) -> bytes:
    """The DER certificate a TLS server on 127.0.0.1:``port`` presents to a new connection (verified
    against ``cadata`` for ``server_name`` when given)."""
    if cadata is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=cadata.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def scrape(port: int, token: str | None, *, server_name: str, cadata: bytes | None = None) -> tuple[int, str]:
    """``GET /metrics`` over HTTPS as Prometheus does (bearer token, certificate verified against ``cadata``
    for the ServiceMonitor's serverName when given); (status, body)."""
    if cadata is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cadata=cadata.decode())
    request = f"GET /metrics HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n"
    if token is not None:
        request += f"Authorization: Bearer {token}\r\n"
    chunks = []
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        tls.sendall((request + "\r\n").encode())
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


@dataclass
class Running:
    """An installation's operator, running: what the tests read and drive."""

    cluster: EmbeddedCluster
    admin: Path
    objects: list[Obj]
    resolved: Resolved
    operator: InProcessOperator
    metrics: MetricsEndpoint
    proxy: RbacProxy
    certs: CertManager | None
    authorizer: Authorizer
    records: list[Record] = field(default_factory=list)

    @property
    def metrics_port(self) -> int:
        assert self.metrics.server is not None
        return self.metrics.server.port

    @property
    def webhook_port(self) -> int:
        url = self.operator.running_operator.webhook_url
        assert url is not None
        return int(url.rsplit(":", 1)[1])

    def route_webhooks(self) -> None:
        """The network and cert-manager's CA injector: the installed webhook configurations sent to this
        operator's address (the embedded cluster cannot reach Services), with the injected CA."""
        assert self.certs is not None
        url = self.operator.running_operator.webhook_url
        for kind, gvr in WEBHOOK_GVRS.items():
            for shipped in [o for o in self.objects if o["kind"] == kind]:
                live = self.cluster.sync.get(gvr, None, shipped["metadata"]["name"])
                injected = self.certs.inject(live)
                for webhook, installed in zip(injected["webhooks"], shipped["webhooks"], strict=True):
                    webhook["clientConfig"].pop("service", None)
                    webhook["clientConfig"]["url"] = f"{url}{installed['clientConfig']['service']['path']}"
                self.cluster.sync.update(gvr, None, shipped["metadata"]["name"], injected)

    def issue(self, certificate: str) -> None:
        """cert-manager (re)issues a Certificate; the kubelet updates the Secret volume."""
        assert self.certs is not None
        issued = self.certs.issue(certificate)
        self.resolved.kubelet.write_secret(self.certs.secret_name(certificate), issued.secret_data)

    def ca(self, certificate: str) -> bytes:
        assert self.certs is not None
        return self.certs.issued[certificate].secret_data["ca.crt"]


def _local_settings(resolved: Resolved, kubeconfig: str) -> tuple[Any, Any]:
    """The pod's settings, with what differs outside a pod: free ports on 127.0.0.1, short Lease times, and
    in-pod paths mapped to the volumes' local directories."""
    kubelet = resolved.kubelet
    base = settings_for_tests()
    settings = dataclasses.replace(
        resolved.settings,
        kubeconfig=kubeconfig,
        identity=base.identity,
        webhook_port=0,
        webhook_host="127.0.0.1",
        health_host=base.health_host,
        health_port=0,
        lease_duration=base.lease_duration,
        renew_deadline=base.renew_deadline,
        retry_period=base.retry_period,
        cert_check_interval=0.1,
        webhook_cert_dir=str(kubelet.local(resolved.settings.webhook_cert_dir)),
    )
    metrics = dataclasses.replace(
        resolved.metrics,
        host="127.0.0.1",
        port=0,
        cert_check_interval=0.1,
        cert_dir=str(kubelet.local(resolved.metrics.cert_dir)),
    )
    return settings, metrics


Installer = Callable[[list[Obj], Path], None]
"""(the installation's objects, an admin kubeconfig) -> the installation applied to the cluster."""


@contextmanager
def running(
    objects: list[Obj],
    tmp: Path,
    *,
    namespace: str = NAMESPACE,
    topology: Path = HERE / "topology.yaml",
    installer: Installer = install,
    certs: CertManager | None = None,
) -> Iterator[Running]:
    """The installation applied to a fresh embedded cluster (by ``installer``: ``kubectl apply`` unless
    said otherwise) and its operator running, as its pod would; ``certs`` issues its mounted certificates
    (cert-manager's, for an installation with Certificates, unless said otherwise)."""
    authorizer = Authorizer.for_service_account(objects, namespace, SERVICE_ACCOUNT)
    # Frequent bookmarks: quiet watches advance, so a test can wait until the operator has seen a write.
    cluster_ = EmbeddedCluster(topology=topology, bookmark_interval=0.2)
    with cluster_ as cluster, pytest.MonkeyPatch.context() as env:
        admin = cluster.write_kubeconfig(tmp / "admin")
        installer(objects, admin)
        if certs is None and any(o["kind"] == "Certificate" for o in objects):
            certs = CertManager(objects)
        resolved = resolve(objects, tmp / "volumes", env, namespace=namespace)
        if certs is not None:
            for name in certs.certificates:
                issued = certs.issue(name)
                resolved.kubelet.write_secret(certs.secret_name(name), issued.secret_data)
        with RbacProxy(
            cluster.url, authorizer, tokens=dict(TOKENS), rbac_objects=[*objects, PROMETHEUS_BINDING]
        ) as proxy:
            kubeconfig = str(write_kubeconfig(tmp / "operator", proxy.url))
            settings, metrics_options = _local_settings(resolved, kubeconfig)
            registry = CollectorRegistry()
            telemetry = build_telemetry(metrics=LwsMetrics(registry), version=__version__)
            metrics = MetricsEndpoint(registry, metrics_options)
            enabled = PluginSelection(
                enable=tuple(a.split("=", 1)[1] for a in resolved.args if a.startswith("--enable-plugin=")),
                disable=tuple(a.split("=", 1)[1] for a in resolved.args if a.startswith("--disable-plugin=")),
            )
            operator = InProcessOperator(
                settings, make_hooks(enabled), connect=connect, telemetry=telemetry, metrics=metrics
            ).start()
            run = Running(cluster, admin, objects, resolved, operator, metrics, proxy, certs, authorizer)
            try:
                wait_until(
                    lambda: metrics.server is not None and metrics.server.port != 0, 10, "/metrics to listen"
                )
                if certs is not None:
                    run.route_webhooks()
                yield run
            finally:
                # As a crash would: outside a pod a clean stop of the last replica deletes the webhook
                # configurations, which in a pod belong to the installation (test_rbac.py says more).
                operator.stop(clean=False)
                run.records = proxy.snapshot()


def denied(records: list[Record]) -> list[str]:
    """The requests RBAC refused, readably."""
    return sorted(
        {
            str(r.attributes) + (f" (for {r.implied_by})" if r.implied_by else "")
            for r in records
            if not r.allowed
        }
    )


def unused(records: list[Record], authorizer: Authorizer) -> set[tuple[str, str, str]]:
    """The (verb, group, resource) grants of the operator's RBAC that no allowed request used."""
    allowed = [r.attributes for r in records if r.allowed]
    return {
        (verb, group, resource)
        for rule in authorizer.rules
        for verb, group, resource in rule.grants()
        if not any(
            a.verb == verb and a.group == group and a.target == resource and rule.allows(a) for a in allowed
        )
    }


def ca_bundle(cluster: EmbeddedCluster, kind: str, name: str) -> bytes:
    """The caBundle of a webhook configuration's first webhook."""
    config = cluster.sync.get(WEBHOOK_GVRS[kind], None, name)
    return base64.b64decode(config["webhooks"][0]["clientConfig"].get("caBundle") or "")


def service_monitor_tls(objects: list[Obj]) -> dict[str, Any]:
    """The ServiceMonitor's TLS settings (what Prometheus verifies the metrics certificate with)."""
    monitor = find(objects, "ServiceMonitor", "lws-controller-manager-metrics-monitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    return dict(endpoint["tlsConfig"])
