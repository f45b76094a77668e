"""Least privilege, enforced by Kubernetes itself: the operator runs on the real control plane with a
ServiceAccount token of ``lws-controller-manager`` and exactly the RBAC that ``lws manifests`` ships.

The real-plane twin of ``test_rbac.py`` (which puts an authorising proxy in front of the embedded cluster):
here kube-apiserver authenticates the token, RBAC authorizes every request, the OwnerReferencesPermission-
Enforcement admission plugin checks the owners' ``finalizers`` permission, and the audit log records each
request with the authorizer's decision. The installation is applied with kubectl (its Deployment left out:
kwok would fake its pods as Running while no operator runs in them), then the operator runs twice:

1. as in a pod (in-cluster, webhooks behind ``lws-webhook-service``): it prunes the CA of a replica that is
   gone from the shipped webhook configurations and adds its own;
2. as outside a pod (webhooks at ``https://127.0.0.1:<port>``, which the real API server calls over HTTPS
   with the operator's own ``caBundle``) with the shipped samples as workload: every set becomes
   available, one rolls out a new template, one recreates a group after a worker's container restarted;
   then a DisaggregatedSet becomes available, rolls out a new template and drops its RoleScaler
   (``test_rbac.disaggregated_workload``, the same as the embedded run's).
"""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from install_kit import CONFIG, kubectl
from install_run import PROMETHEUS_BINDING, scrape
from prometheus_client import CollectorRegistry
from rbac_kit import OPERATOR_WORK, Attributes, Authorizer
from test_rbac import (
    JUSTIFIED,
    NAMESPACE,
    POD_NAME,
    SAMPLES,
    SERVICE_ACCOUNT,
    WEBHOOK_GVRS,
    connect_as_pod,
    disaggregated_workload,
)

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cli.manifests import DEFAULT_FILE, packaged
from lws.cli.yaml_output import to_yaml_documents
from lws.cluster.certs import describe_ca, make_serving_certificate, split_bundle
from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.controller.metrics_endpoint import MetricsEndpoint, MetricsOptions
from lws.hooks.manager import make_hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.testing import wait_until
from tests.operator.e2e_kit import Kube
from tests.realcluster.plane import RealCluster, restart_container
from tests.sim.kubectl_cli import wait_crd_established

pytestmark = [pytest.mark.e2e, pytest.mark.real_plane, pytest.mark.xdist_group("real-plane-rbac")]

HERE = Path(__file__).parent
USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
GONE_REPLICA = "pod/lws-system/lws-controller-manager-5d8c7-gone0"
WEBHOOK_PATHS = {
    c.MUTATING_WEBHOOK_CONFIGURATION: "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    c.VALIDATING_WEBHOOK_CONFIGURATION: "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
}
assert set(WEBHOOK_PATHS) == set(WEBHOOK_GVRS)
# Permissions the real API server checks inside a request rather than as one: OwnerReferencesPermission-
# Enforcement asks for update on <owner>/finalizers when a write sets blockOwnerDeletion, and a server-side
# apply that creates its object needs create besides patch (the operator applies the groupIdentity Hash
# leader Deployments). A missing grant shows as a denied write, which test_the_operator_is_never_denied
# catches; the audit log has no line of its own for the check.
CHECKED_IN_ADMISSION = {
    ("update", "leaderworkerset.x-k8s.io", "leaderworkersets/finalizers"),
    ("update", "", "pods/finalizers"),
    # A DisaggregatedSet's RoleScaler blocks its set's deletion.
    ("update", "disaggregatedset.x-k8s.io", "disaggregatedsets/finalizers"),
    ("create", "apps", "deployments"),
}


@dataclass
class Run:
    events: list[dict[str, Any]]
    authorizer: Authorizer
    bundle_in_pod: list[str]
    probes: dict[str, int]
    webhooks: dict[str, dict[str, Any]]
    webhook_url: str
    scrapes: dict[str, int]


def _get(plane: RealCluster, path: str) -> Any:
    return plane.request("GET", path)


def _identities(plane: RealCluster) -> list[str]:
    found: list[str] = []
    for path in WEBHOOK_PATHS.values():
        for config in _get(plane, path)["items"]:
            if config["metadata"]["name"] not in WEBHOOK_PATHS:
                continue
            bundle = base64.b64decode(config["webhooks"][0].get("clientConfig", {}).get("caBundle") or "")
            for pem in split_bundle(bundle):
                info = describe_ca(pem)
                found.append(info.identity if info else "(foreign)")
    return found


def _seed_gone_replica(plane: RealCluster) -> None:
    certificate = make_serving_certificate(
        identity=GONE_REPLICA, dns_names=["lws-webhook-service.lws-system.svc"]
    )
    encoded = base64.b64encode(certificate.ca_pem).decode()
    for name, path in WEBHOOK_PATHS.items():
        config = _get(plane, f"{path}/{name}")
        for webhook in config["webhooks"]:
            webhook["clientConfig"]["caBundle"] = encoded
        plane.request("PUT", f"{path}/{name}", config)


def _lws(plane: RealCluster, namespace: str, name: str) -> dict[str, Any]:
    return _get(plane, f"/apis/{c.GROUP}/{c.VERSION}/namespaces/{namespace}/{c.PLURAL}/{name}")


def _available(plane: RealCluster, namespace: str, name: str) -> dict[str, Any] | None:
    obj = _lws(plane, namespace, name)
    status = obj.get("status") or {}
    ready = any(
        cond.get("type") == "Available" and cond.get("status") == "True"
        for cond in status.get("conditions") or []
    )
    return obj if ready and status.get("readyReplicas") == obj["spec"]["replicas"] else None


def _set_revisions(plane: RealCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    found = _get(
        plane,
        f"/apis/apps/v1/namespaces/{namespace}/controllerrevisions?labelSelector={c.SET_NAME_LABEL}%3D{name}",
    )["items"]
    return [r for r in found if r["metadata"]["ownerReferences"][0]["kind"] == c.KIND]


def _workload(plane: RealCluster) -> None:
    """The samples, a rollout and a group restart, each waited for."""
    admin = plane.kubeconfig
    names: dict[str, str] = {}
    for namespace, sample in SAMPLES.items():
        path = CONFIG / "samples" / sample
        names[namespace] = yaml.safe_load(path.read_text())["metadata"]["name"]
        kubectl("create", "namespace", namespace, kubeconfig=admin)
        kubectl("apply", "-n", namespace, "-f", str(path), kubeconfig=admin)
    for namespace, name in names.items():
        wait_until(
            lambda n=namespace, m=name: _available(plane, n, m), 90, f"{namespace}/{name} to be available"
        )

    multi = names["multi"]
    before = _lws(plane, "multi", multi)["metadata"]["generation"]
    patch = {
        "spec": {
            "leaderWorkerTemplate": {
                "workerTemplate": {
                    "spec": {"containers": [{"name": "worker", "image": "registry.k8s.io/pause:3.9"}]}
                }
            }
        }
    }
    plane.request(
        "PATCH",
        f"/apis/{c.GROUP}/{c.VERSION}/namespaces/multi/{c.PLURAL}/{multi}",
        patch,
        content_type="application/merge-patch+json",
    )

    def rolled_out() -> bool:
        obj = _available(plane, "multi", multi)
        return bool(
            obj
            and obj["metadata"]["generation"] > before
            and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
            and obj["status"].get("updatedReplicas") == obj["spec"]["replicas"]
            and len(_set_revisions(plane, "multi", multi)) == 1
        )

    wait_until(rolled_out, 120, "the rollout of the new worker template and the old revision's deletion")

    basic = names["basic"]
    leader = _get(plane, f"/api/v1/namespaces/basic/pods/{basic}-0")["metadata"]["uid"]
    restart_container(plane, "basic", f"{basic}-0-1")

    def recreated() -> bool:
        pods = _get(plane, f"/api/v1/namespaces/basic/pods?fieldSelector=metadata.name%3D{basic}-0")["items"]
        return bool(pods and pods[0]["metadata"]["uid"] != leader and _available(plane, "basic", basic))

    wait_until(recreated, 90, "group 0 to be recreated after its worker's container restarted")
    kube = Kube(admin)
    try:
        disaggregated_workload(kube, admin)
    finally:
        kube.close()


def _token(plane: RealCluster, namespace: str = NAMESPACE, name: str = SERVICE_ACCOUNT) -> str:
    """A token of the ServiceAccount from the TokenRequest API, as the kubelet would mount it."""
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    answer = plane.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", request)
    return str(answer["status"]["token"])


def _scraper_tokens(plane: RealCluster) -> dict[str, str]:
    """Prometheus's ServiceAccount, bound to the shipped metrics-reader role, and one that is not."""
    (subject,) = PROMETHEUS_BINDING["subjects"]
    accounts = {"prometheus": (subject["namespace"], subject["name"]), "intruder": ("default", "intruder")}
    for namespace, name in accounts.values():
        if namespace != "default":
            plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
        plane.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": name}})
    plane.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", PROMETHEUS_BINDING)
    return {who: _token(plane, namespace, name) for who, (namespace, name) in accounts.items()}


def _probe(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("rbac-real")
    objects = [o for o in packaged(DEFAULT_FILE) if o["kind"] != "Deployment"]
    authorizer = Authorizer.for_service_account(objects, NAMESPACE, SERVICE_ACCOUNT)
    with RealCluster(HERE / "topology.yaml", audit=True) as plane:
        admin = plane.kubeconfig
        kubectl("apply", "--server-side", "-f", "-", stdin=to_yaml_documents(objects), kubeconfig=admin)
        for crd in (c.CRD_NAME, d.CRD_NAME, d.SCALER_CRD_NAME):
            wait_crd_established(admin, crd)
        _seed_gone_replica(plane)
        kubeconfig = str(plane.write_token_kubeconfig(tmp / "operator", _token(plane), user=USER))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("POD_NAME", POD_NAME)
            in_pod = settings_for_tests(
                kubeconfig=kubeconfig, operator_namespace=NAMESPACE, webhook_host="127.0.0.1", webhook_port=0
            )
            with InProcessOperator(in_pod, make_hooks(), connect=connect_as_pod):
                bundle_in_pod = _identities(plane)
        tokens = _scraper_tokens(plane)
        metrics = MetricsEndpoint(CollectorRegistry(), MetricsOptions(host="127.0.0.1", port=0))
        outside = InProcessOperator(
            settings_for_tests(kubeconfig=kubeconfig, operator_namespace=NAMESPACE),
            make_hooks(),
            connect=connect,
            metrics=metrics,
        ).start()
        try:
            health = f"http://127.0.0.1:{outside.running_operator.health_port}"
            probes = {path: _probe(health + path) for path in ("/healthz", "/readyz")}
            wait_until(lambda: metrics.server is not None and metrics.server.port, 10, "/metrics")
            assert metrics.server is not None
            # The operator asks kube-apiserver who each scraper is (TokenReview) and whether it may read
            # /metrics (SubjectAccessReview); the certificate is self-signed (not verified).
            scrapes = {
                who: scrape(metrics.server.port, token, server_name="localhost")[0]
                for who, token in tokens.items()
            }
            _workload(plane)
            webhooks = {name: _get(plane, f"{path}/{name}") for name, path in WEBHOOK_PATHS.items()}
            webhook_url = str(outside.running_operator.webhook_url)
        finally:
            outside.stop(clean=False)  # in a pod the configurations belong to the installation (test_rbac.py)
        yield Run(
            list(plane.audit_events()), authorizer, bundle_in_pod, probes, webhooks, webhook_url, scrapes
        )


def _attributes(event: dict[str, Any]) -> Attributes | None:
    ref = event.get("objectRef")
    if not ref or not ref.get("resource"):
        return None
    return Attributes(
        event["verb"],
        ref.get("apiGroup") or "",
        ref["resource"],
        ref.get("subresource") or "",
        ref.get("namespace") or "",
        ref.get("name") or "",
    )


def _operator_events(run: Run) -> list[dict[str, Any]]:
    return [e for e in run.events if (e.get("user") or {}).get("username") == USER]


def test_the_operator_authenticated_with_its_service_account_token(run: Run) -> None:
    events = _operator_events(run)
    assert len(events) > 100, "the audit log holds the operator's requests, made as its ServiceAccount"
    assert "system:serviceaccounts:lws-system" in events[0]["user"]["groups"]


#: kube-apiserver's OwnerReferencesPermissionEnforcement resolves an owner's kind with a discovery
#: RESTMapper it refreshes every 30 s: for that long after a CRD is installed, creating an object whose
#: ``blockOwnerDeletion`` owner is of that kind answers 403 naming this, whatever the requester's rights.
DISCOVERY_LAG = "cannot find RESTMapping"


def _message(event: dict[str, Any]) -> str:
    return str((event.get("responseStatus") or {}).get("message") or "")


def _denied(event: dict[str, Any]) -> bool:
    return (
        event.get("annotations", {}).get("authorization.k8s.io/decision") == "forbid"
        or event.get("responseStatus", {}).get("code") == 403
    )


def test_the_operator_is_never_denied(run: Run) -> None:
    denied = sorted(
        {
            f"{_attributes(e)} -> {e.get('responseStatus', {}).get('code')}: "
            f"{e.get('annotations', {}).get('authorization.k8s.io/reason', '')} {_message(e)}"
            for e in _operator_events(run)
            if _denied(e) and DISCOVERY_LAG not in _message(e)
        }
    )
    assert not denied, "requests Kubernetes denied the shipped RBAC:\n" + "\n".join(denied)


def test_a_create_refused_while_the_api_server_discovers_the_crd_succeeds_later(run: Run) -> None:
    """The 403s left out above are the API server's, not RBAC's: each such create succeeded on a retry."""
    events = _operator_events(run)
    created = {_attributes(e) for e in events if e.get("responseStatus", {}).get("code") == 201}
    lagged = {_attributes(e) for e in events if _denied(e) and DISCOVERY_LAG in _message(e)}
    for attributes in lagged:
        assert attributes is not None and attributes.verb == "create", attributes
    assert not lagged - created, f"refused while discovering the CRD, never created: {lagged - created}"


def test_every_shipped_permission_is_used_or_justified(run: Run) -> None:
    allowed = [
        a
        for e in _operator_events(run)
        if e.get("annotations", {}).get("authorization.k8s.io/decision") == "allow" and (a := _attributes(e))
    ]
    unused = {
        (verb, group, resource)
        for rule in run.authorizer.rules
        for verb, group, resource in rule.grants()
        if not any(
            a.verb == verb and a.group == group and a.target == resource and rule.allows(a) for a in allowed
        )
    }
    excused = set(JUSTIFIED) | CHECKED_IN_ADMISSION
    assert unused <= excused, (
        f"shipped but never used: {sorted(unused - excused)}; drop them from "
        "config/rbac, or say why they are needed there and in test_rbac.JUSTIFIED"
    )


def test_a_replica_in_a_pod_prunes_gone_replicas_and_adds_its_own_ca(run: Run) -> None:
    assert run.bundle_in_pod == [f"pod/{NAMESPACE}/{POD_NAME}"] * len(WEBHOOK_PATHS)


def test_the_probe_paths_answer(run: Run) -> None:
    assert run.probes == {"/healthz": 200, "/readyz": 200}


def test_metrics_answer_the_scraper_bound_to_the_metrics_reader_role_only(run: Run) -> None:
    assert run.scrapes == {"prometheus": 200, "intruder": 403}


def test_the_real_api_server_called_the_webhooks_over_https_with_the_operators_ca(run: Run) -> None:
    for name, config in run.webhooks.items():
        for webhook in config["webhooks"]:
            client = webhook["clientConfig"]
            assert client["url"].startswith(run.webhook_url), (name, client)
            cas = [describe_ca(pem) for pem in split_bundle(base64.b64decode(client["caBundle"]))]
            assert any(ca is not None and ca.url == run.webhook_url for ca in cas), (name, cas)
    # The API server annotates each admitted request with the webhooks it called (audit level Metadata).
    mutated = [
        e
        for e in run.events
        if (e.get("objectRef") or {}).get("resource") == c.PLURAL
        and e["verb"] == "create"
        and any(k.startswith("mutation.webhook.admission.k8s.io/") for k in e.get("annotations") or {})
    ]
    assert mutated, "no LeaderWorkerSet create went through the operator's mutating webhook"
    pods = [
        e
        for e in run.events
        if (e.get("objectRef") or {}).get("resource") == "pods"
        and e["verb"] == "create"
        and any(
            "lws" in v
            for k, v in (e.get("annotations") or {}).items()
            if k.startswith("mutation.webhook.admission")
        )
    ]
    assert pods, "no group pod went through the operator's pod webhook"


def test_the_run_covered_the_operators_work(run: Run) -> None:
    seen = {
        (a.verb, a.target)
        for e in _operator_events(run)
        if e.get("annotations", {}).get("authorization.k8s.io/decision") == "allow" and (a := _attributes(e))
    }
    for wanted in OPERATOR_WORK:
        assert wanted in seen, f"the run never made {wanted}"
