"""Every install against a real control plane (``tests/realcluster``: kube-apiserver, controller-manager,
scheduler, etcd, kwok nodes, all built from Go modules): the real API server's validation of each install
(``lws manifests`` in both certificate modes, the Helm chart in both, the OLM bundle as OLM installs it),
and ``lws run`` as the install runs it, authenticated with its ServiceAccount's token so that the real RBAC
authorizer decides every request, serving a LeaderWorkerSet on kwok's nodes, its webhooks called by the real
API server, and ``/metrics`` answering Prometheus by a real TokenReview and SubjectAccessReview.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_kit import CertManager, resolve
from gotools import helm_template
from install_kit import CONFIG, kubectl
from install_run import STUBS, WEBHOOK_GVRS, peer_certificate, scrape, service_monitor_tls
from olm_kit import OlmCertificates, olm_install
from prometheus_client import CollectorRegistry

from lws.api import constants as c
from lws.cli.manifests import Obj, Options, customize
from lws.cli.yaml_output import to_yaml_documents
from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.controller.instrumentation import build_telemetry
from lws.controller.metrics_endpoint import MetricsEndpoint
from lws.hooks.manager import make_hooks
from lws.observability.metrics import LwsMetrics
from lws.plugin_testing import settings_for_tests
from lws.sim.testing import wait_until
from tests.realcluster.plane import RealCluster
from tests.sim.kubectl_cli import wait_crd_established

pytestmark = [pytest.mark.real_plane, pytest.mark.xdist_group("install-real-plane")]

HERE = Path(__file__).parent
NAMESPACE = "lws-system"
CERT_MANAGER = ("prometheus", "certmanager")


@pytest.fixture(scope="module")
def plane() -> Iterator[RealCluster]:
    with RealCluster(HERE / "topology.yaml") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def admin(plane: RealCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plane.write_kubeconfig(tmp_path_factory.mktemp("real") / "admin")


def crds_of(objects: list[Obj]) -> list[Obj]:
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    return [o for o in objects if o["kind"] == "CustomResourceDefinition"] + [
        yaml.safe_load(text) for key, text in STUBS.items() if key in kinds
    ]


def apply_crds(objects: list[Obj], admin: Path) -> None:
    for crd in crds_of(objects):
        kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            stdin=to_yaml_documents([crd]),
            kubeconfig=admin,
        )
        wait_crd_established(admin, crd["metadata"]["name"])


INSTALLS = ["lws-manifests", "lws-manifests-cert-manager", "helm", "helm-cert-manager", "olm"]


def install_objects(which: str, home: Path) -> list[Obj]:
    if which == "lws-manifests":
        return customize(Options())
    if which == "lws-manifests-cert-manager":
        return customize(Options(components=CERT_MANAGER))
    if which == "helm":
        return helm_template(home)
    if which == "helm-cert-manager":
        return helm_template(home, "--set", "enableCertManager=true", "--set", "enablePrometheus=true")
    return olm_install(Path(__file__).parents[2] / "bundle", NAMESPACE)


@pytest.mark.parametrize("which", INSTALLS)
def test_the_real_api_server_accepts_every_install(
    which: str, plane: RealCluster, admin: Path, tmp_path: Path
) -> None:
    objects = install_objects(which, tmp_path)
    apply_crds(objects, admin)
    if plane.status("GET", f"/api/v1/namespaces/{NAMESPACE}") != 200:
        kubectl("create", "namespace", NAMESPACE, kubeconfig=admin)
    rest = [o for o in objects if o["kind"] not in ("CustomResourceDefinition", "Namespace")]
    out = kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=to_yaml_documents(rest),
        kubeconfig=admin,
    ).splitlines()
    assert len(out) == len(rest) and all(
        line.endswith("serverside-applied (server dry run)") for line in out
    ), out


def test_the_real_api_server_holds_the_leaderworkersetoperator_to_its_rules(
    plane: RealCluster, admin: Path
) -> None:
    apply_crds(customize(Options()), admin)
    body = {
        "apiVersion": "operator.openshift.io/v1",
        "kind": "LeaderWorkerSetOperator",
        "metadata": {"name": "other"},
        "spec": {},
    }
    with pytest.raises(AssertionError, match="must be 'cluster'"):
        kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(body), kubeconfig=admin)
    body["metadata"]["name"] = "cluster"
    body["spec"] = {"managementState": "Sometimes"}
    with pytest.raises(AssertionError, match="managementState"):
        kubectl("apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(body), kubeconfig=admin)


def token(plane: RealCluster, namespace: str, account: str) -> str:
    if plane.status("GET", f"/api/v1/namespaces/{namespace}") != 200:
        plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    if plane.status("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}") != 200:
        plane.request(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": account}}
        )
    review = plane.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    return str(review["status"]["token"])


def available(plane: RealCluster, namespace: str, name: str) -> bool:
    obj = plane.request("GET", f"/apis/{c.GROUP}/{c.VERSION}/namespaces/{namespace}/{c.PLURAL}/{name}")
    status = obj.get("status") or {}
    conditions = {x["type"]: x["status"] for x in status.get("conditions") or []}
    return conditions.get("Available") == "True" and status.get("readyReplicas") == obj["spec"]["replicas"]


def certificates_of(which: str, objects: list[Obj]) -> CertManager | None:
    """Who issues the install's mounted certificates: OLM, cert-manager, or nobody (the operator's own)."""
    if which == "olm":
        return OlmCertificates(objects)
    return CertManager(objects) if any(o["kind"] == "Certificate" for o in objects) else None


@pytest.mark.parametrize("which", INSTALLS)
def test_lws_run_with_the_installs_service_account_serves_a_leaderworkerset(
    which: str, tmp_path: Path
) -> None:
    """Each install as it is shipped (``lws manifests``, the chart, the bundle as OLM installs it), in each
    certificate mode: its RBAC decided by the real authorizer for its ServiceAccount's token, its
    certificates on the paths its Deployment mounts."""
    objects = install_objects(which, tmp_path)
    with RealCluster(HERE / "topology.yaml") as plane, pytest.MonkeyPatch.context() as env:
        admin = plane.write_kubeconfig(tmp_path / "admin")
        apply_crds(objects, admin)
        if not any(
            o["kind"] == "Namespace" for o in objects
        ):  # helm --create-namespace's, the OperatorGroup's
            kubectl("create", "namespace", NAMESPACE, kubeconfig=admin)
        kubectl("apply", "--server-side", "-f", "-", stdin=to_yaml_documents(objects), kubeconfig=admin)
        # Prometheus, allowed to read /metrics as the cluster admin would allow it; and someone who is not.
        prometheus = token(plane, "monitoring", "prometheus-k8s")
        intruder = token(plane, "default", "intruder")
        kubectl(
            "create",
            "clusterrolebinding",
            "prometheus-lws-metrics",
            "--clusterrole=lws-metrics-reader",
            "--serviceaccount=monitoring:prometheus-k8s",
            kubeconfig=admin,
        )
        resolved = resolve(objects, tmp_path / "volumes", env)
        certs = certificates_of(which, objects)
        if certs is not None:
            for name in certs.certificates:
                resolved.kubelet.write_secret(certs.secret_name(name), certs.issue(name).secret_data)
        operator_kubeconfig = plane.write_token_kubeconfig(
            tmp_path / "operator",
            token(plane, NAMESPACE, "lws-controller-manager"),
            user="lws-controller-manager",
        )
        base = settings_for_tests()
        kubelet = resolved.kubelet
        settings = dataclasses.replace(
            resolved.settings,
            kubeconfig=str(operator_kubeconfig),
            identity=base.identity,
            webhook_port=0,
            webhook_host="127.0.0.1",
            health_host="127.0.0.1",
            health_port=0,
            webhook_cert_dir=str(kubelet.local(resolved.settings.webhook_cert_dir)),
        )
        metrics = MetricsEndpoint(
            registry := CollectorRegistry(),
            dataclasses.replace(
                resolved.metrics,
                host="127.0.0.1",
                port=0,
                cert_dir=str(kubelet.local(resolved.metrics.cert_dir)),
            ),
        )
        telemetry = build_telemetry(metrics=LwsMetrics(registry))
        with InProcessOperator(
            settings, make_hooks(), connect=connect, telemetry=telemetry, metrics=metrics
        ) as operator:
            assert operator.running_operator.settings.internal_certs is (certs is None)
            if certs is not None:
                _route_webhooks(plane, objects, certs, operator)
            sample = yaml.safe_load(
                (CONFIG / "samples" / "leaderworkerset_v1_leaderworkerset.yaml").read_text()
            )
            kubectl("create", "namespace", "real", kubeconfig=admin)
            kubectl("apply", "-n", "real", "-f", "-", stdin=yaml.safe_dump(sample), kubeconfig=admin)
            name = sample["metadata"]["name"]
            wait_until(
                functools.partial(available, plane, "real", name), 120, "the sample to become available"
            )
            pods = plane.request(
                "GET", f"/api/v1/namespaces/real/pods?labelSelector={c.SET_NAME_LABEL}%3D{name}"
            )
            assert all(
                "LWS_LEADER_ADDRESS" in str(p["spec"]["containers"][0].get("env")) for p in pods["items"]
            )
            wait_until(lambda: metrics.server is not None and metrics.server.port, 10, "/metrics")
            assert metrics.server is not None
            monitored = any(o["kind"] == "ServiceMonitor" for o in objects)
            tls: dict[str, Any] = service_monitor_tls(objects) if monitored else {}
            # cert-manager's metrics certificate; else the operator's own, self-signed (OLM's covers webhooks).
            issued = certs.issued.get("lws-metrics-cert") if certs is not None else None
            ca = issued.secret_data["ca.crt"] if issued is not None else None
            server_name = tls.get("serverName", "localhost")
            status, body = scrape(metrics.server.port, prometheus, server_name=server_name, cadata=ca)
            assert status == 200 and "lws_reconcile_total" in body
            assert scrape(metrics.server.port, intruder, server_name=server_name, cadata=ca)[0] == 403
            if ca is not None:
                assert peer_certificate(metrics.server.port, server_name=server_name, cadata=ca)
            operator.stop(clean=False)  # as a crash would: the installation's webhook configurations stay


def _route_webhooks(
    plane: RealCluster, objects: list[Obj], certs: CertManager, operator: InProcessOperator
) -> None:
    """cert-manager's CA injector, and the network: the webhook configurations sent to this operator's
    address on 127.0.0.1 (the plane has no Service network), with cert-manager's CA."""
    url = operator.running_operator.webhook_url
    for kind, (group, version, plural) in WEBHOOK_GVRS.items():
        for shipped in [o for o in objects if o["kind"] == kind]:
            path = f"/apis/{group}/{version}/{plural}/{shipped['metadata']['name']}"
            live = certs.inject(plane.request("GET", path))
            for webhook, installed in zip(live["webhooks"], shipped["webhooks"], strict=True):
                webhook["clientConfig"].pop("service", None)
                webhook["clientConfig"]["url"] = f"{url}{installed['clientConfig']['service']['path']}"
            plane.request("PUT", path, live)
