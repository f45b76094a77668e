"""Least privilege, proven: the operator runs end to end under exactly the RBAC that ``lws manifests`` ships.

One embedded cluster gets the whole installation (``kubectl apply --server-side``). The operator then talks
to it only through :class:`rbac_kit.RbacProxy`, which authorizes every request against the shipped
ClusterRoles and Roles bound to ``lws-controller-manager`` and answers ``403`` to anything else. It runs
twice:

1. as in a pod (in-cluster, webhooks behind ``lws-webhook-service``): it starts, prunes the CA of a replica
   that is gone from the shipped webhook configurations, adds its own, and stops cleanly (Lease released,
   CA removed). The embedded cluster cannot reach Services, so no admission goes through this replica.
2. as outside a pod (webhooks at ``https://127.0.0.1:<port>``, the only way the embedded cluster can call
   them) with the shipped samples as workload: every set becomes available, one rolls out a new template,
   one recreates a group after a worker restart. It stops as a crash would: outside a pod, a clean stop of
   the last replica deletes the webhook configurations, which in a pod belong to the installation and which
   the shipped RBAC rightly does not let it delete.

Each gang-scheduling component gets a shorter run of its own: its Deployment's flags turn the plugin on,
and its RBAC lets the operator create a PodGroup per group.

The Deployment itself never runs here (the embedded cluster has no container runtime); the operator runs
in-process with the Deployment's identity.
"""

from __future__ import annotations

import base64
import functools
import json
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from install_kit import CONFIG, kubectl
from install_run import PROMETHEUS_BINDING, TOKENS, scrape
from prometheus_client import CollectorRegistry
from rbac_kit import OPERATOR_WORK, Attributes, Authorizer, RbacProxy, Record

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cli.manifests import DEFAULT_FILE, Obj, Options, customize, packaged
from lws.cli.run import command as run_command
from lws.cli.yaml_output import to_yaml_documents
from lws.cluster.certs import describe_ca, make_serving_certificate, split_bundle
from lws.cluster.client import ApiObserver, Cluster, ClusterConfig
from lws.cluster.kube import connect
from lws.cluster.resources import DISAGGREGATEDSETS, LEADERWORKERSETS, ROLE_SCALERS
from lws.controller.in_process import InProcessOperator
from lws.controller.metrics_endpoint import MetricsEndpoint, MetricsOptions
from lws.hooks.manager import PluginSelection, make_hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.kubeconfig import write_kubeconfig
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import wait_until
from tests.api.ds_api_testing import make_ds, role
from tests.operator.e2e_kit import Kube, condition

# One run serves every test here: keep them on one xdist worker.
pytestmark = [pytest.mark.e2e, pytest.mark.sim_only, pytest.mark.xdist_group("install-rbac")]

HERE = Path(__file__).parent
NAMESPACE = "lws-system"
SERVICE_ACCOUNT = "lws-controller-manager"
POD_NAME = "lws-controller-manager-5d8c7-abcde"
GONE_REPLICA = "pod/lws-system/lws-controller-manager-5d8c7-gone0"
LWS_GVR = (c.GROUP, c.VERSION, c.PLURAL)
DS_NAMESPACE = "disaggregated"
PODS_GVR = ("", "v1", "pods")
REVISIONS_GVR = ("apps", "v1", "controllerrevisions")
WEBHOOK_GVRS = {
    c.MUTATING_WEBHOOK_CONFIGURATION: ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"),
    c.VALIDATING_WEBHOOK_CONFIGURATION: (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
    ),
}
SAMPLES = {
    "basic": "leaderworkerset_v1_leaderworkerset.yaml",
    "multi": "leaderworkerset_multi_template.yaml",
    # Exclusive placement keeps other groups of the namespace out of a zone (upstream #539): on its own.
    "exclusive": "leaderworkerset_exclusive_placement.yaml",
    # groupIdentity Hash: the leader Deployment, the lifted scheduling gate, the group-ready condition.
    "hashed": "leaderworkerset_group_identity_hash.yaml",
}

# Shipped permissions that a run may not need, each for a path that depends on timing; the comments in
# config/rbac/role.yaml say the same.
JUSTIFIED: dict[tuple[str, str, str], str] = {
    ("get", "leaderworkerset.x-k8s.io", "leaderworkersets"): "re-read after a status write that conflicted",
    ("get", "disaggregatedset.x-k8s.io", "disaggregatedsets"): "re-read after a status write that conflicted",
    ("get", "disaggregatedset.x-k8s.io", "disaggregatedsetrolescalers"): (
        "read back a scaler whose create answered AlreadyExists (adopted only if the set controls it)"
    ),
    ("get", "apps", "controllerrevisions"): "read back a revision whose create answered AlreadyExists",
    ("patch", "events.k8s.io", "events"): "count a repeated event in its series instead of recreating it",
    ("patch", "operator.openshift.io", "leaderworkersetoperators/status"): (
        "report on the LeaderWorkerSetOperator named cluster, when there is one (test_leaderworkersetoperator.py)"
    ),
}


@dataclass
class Run:
    records: list[Record]
    authorizer: Authorizer
    bundle_in_pod: list[str]
    probes: dict[str, int]
    scrapes: dict[str, int]


async def connect_as_pod(
    kubeconfig: str | None, context: str | None, observers: Sequence[ApiObserver]
) -> Cluster:
    """The real client, believing it runs in a pod of the operator's namespace (what in-cluster config says)."""
    cluster = await connect(kubeconfig, context=context, observers=observers)
    cluster.info = ClusterConfig(source="in-cluster (test)", in_cluster=True, namespace=NAMESPACE)
    return cluster


def _identities(cluster: EmbeddedCluster) -> list[str]:
    """The replicas whose CA is in each webhook configuration's caBundle."""
    found: list[str] = []
    for name, gvr in WEBHOOK_GVRS.items():
        config = cluster.sync.get(gvr, None, name)
        bundle = base64.b64decode(config["webhooks"][0].get("clientConfig", {}).get("caBundle") or "")
        for pem in split_bundle(bundle):
            info = describe_ca(pem)
            found.append(info.identity if info else "(foreign)")
    return found


def _seed_gone_replica(cluster: EmbeddedCluster) -> None:
    """Put the CA of a replica whose pod no longer exists into both webhook configurations."""
    certificate = make_serving_certificate(
        identity=GONE_REPLICA, dns_names=["lws-webhook-service.lws-system.svc"]
    )
    encoded = base64.b64encode(certificate.ca_pem).decode()
    for name, gvr in WEBHOOK_GVRS.items():
        config = cluster.sync.get(gvr, None, name)
        for webhook in config["webhooks"]:
            webhook["clientConfig"]["caBundle"] = encoded
        cluster.sync.update(gvr, None, name, config)


def _available(cluster: EmbeddedCluster, namespace: str, name: str) -> dict[str, Any] | None:
    obj = cluster.sync.get(LWS_GVR, namespace, name)
    status = obj.get("status") or {}
    ready = any(
        cond.get("type") == "Available" and cond.get("status") == "True"
        for cond in status.get("conditions") or []
    )
    return obj if ready and status.get("readyReplicas") == obj["spec"]["replicas"] else None


def _set_revisions(cluster: EmbeddedCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    found = cluster.sync.list(REVISIONS_GVR, namespace, label_selector=f"{c.SET_NAME_LABEL}={name}")["items"]
    return [r for r in found if r["metadata"]["ownerReferences"][0]["kind"] == c.KIND]


def _workload(cluster: EmbeddedCluster, admin: Path) -> None:
    """The samples, a rollout and a group restart, each waited for."""
    names: dict[str, str] = {}
    for namespace, sample in SAMPLES.items():
        path = CONFIG / "samples" / sample
        names[namespace] = yaml.safe_load(path.read_text())["metadata"]["name"]
        kubectl("create", "namespace", namespace, kubeconfig=admin)
        kubectl("apply", "-n", namespace, "-f", str(path), kubeconfig=admin)
    for namespace, name in names.items():
        available = functools.partial(_available, cluster, namespace, name)
        wait_until(available, 30, f"{namespace}/{name} to be available")

    # A new worker template rolls out group by group, then the old revision is deleted.
    multi = names["multi"]
    before = cluster.sync.get(LWS_GVR, "multi", multi)["metadata"]["generation"]
    patch = {
        "spec": {
            "leaderWorkerTemplate": {
                "workerTemplate": {
                    "spec": {"containers": [{"name": "worker", "image": "registry.k8s.io/pause:3.9"}]}
                }
            }
        }
    }
    cluster.sync.patch(LWS_GVR, "multi", multi, patch, "application/merge-patch+json")

    def rolled_out() -> bool:
        obj = _available(cluster, "multi", multi)
        return bool(
            obj
            and obj["metadata"]["generation"] > before
            and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
            and obj["status"].get("updatedReplicas") == obj["spec"]["replicas"]
            and len(_set_revisions(cluster, "multi", multi)) == 1
        )

    wait_until(rolled_out, 60, "the rollout of the new worker template and the old revision's deletion")

    # A worker restart recreates its whole group (RecreateGroupOnPodRestart): the leader is deleted.
    basic = names["basic"]
    leader = cluster.sync.get(PODS_GVR, "basic", f"{basic}-0")["metadata"]["uid"]
    cluster.faults.restart_container("basic", f"{basic}-0-1")

    def recreated() -> bool:
        pods = cluster.sync.list(PODS_GVR, "basic", field_selector=f"metadata.name={basic}-0")["items"]
        return bool(pods and pods[0]["metadata"]["uid"] != leader and _available(cluster, "basic", basic))

    wait_until(recreated, 60, "group 0 to be recreated after its worker restarted")
    kube = Kube(admin)
    try:
        disaggregated_workload(kube, admin)
    finally:
        kube.close()


def _ds_ready(kube: Kube, name: str) -> dict[str, Any] | None:
    obj = kube.get(DISAGGREGATEDSETS, DS_NAMESPACE, name)
    cond = condition(obj, d.CONDITION_AVAILABLE) if obj is not None else None
    if obj is None or cond is None:
        return None
    ok = cond.get("status") == "True" and cond.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if ok else None


def disaggregated_workload(kube: Kube, admin: Path) -> None:
    """A DisaggregatedSet with an External role: it becomes Available (children, -prv Services, scaler and
    status written), rolls out a new template (children annotated, scaled and deleted, old Services
    deleted), and its role turns Static (the scaler deleted). Over HTTP only (``kube`` as the
    administrator), so the real-plane twin (test_rbac_real.py) drives the same."""
    kubectl("create", "namespace", DS_NAMESPACE, kubeconfig=admin)

    def apply(image: str, mode: str) -> None:
        body = make_ds(
            role("prefill", 2, image),
            {**role("decode", None, image), "scaling": {"mode": mode}},
            name="pd",
        )
        kubectl("apply", "-n", DS_NAMESPACE, "-f", "-", stdin=json.dumps(body), kubeconfig=admin)

    apply("registry.k8s.io/pause:3.10", "External")
    first = wait_until(functools.partial(_ds_ready, kube, "pd"), 90, "the DisaggregatedSet to be available")
    apply("registry.k8s.io/pause:3.9", "External")

    def rolled_out() -> bool:
        obj = _ds_ready(kube, "pd")
        children = kube.list(LEADERWORKERSETS, DS_NAMESPACE, f"{d.SET_NAME_LABEL}=pd")
        revisions = {x["metadata"]["labels"][d.REVISION_LABEL] for x in children}
        return bool(
            obj and obj["metadata"]["generation"] > first["metadata"]["generation"] and len(revisions) == 1
        )

    wait_until(rolled_out, 120, "the DisaggregatedSet's rollout and its old children's deletion")
    apply("registry.k8s.io/pause:3.9", "Static")

    def scaler_gone() -> bool:
        return not kube.list(ROLE_SCALERS, DS_NAMESPACE) and _ds_ready(kube, "pd") is not None

    wait_until(scaler_gone, 90, "the scaler of a role no longer External to be deleted")


def _install(cluster: EmbeddedCluster, objects: list[Obj], admin: Path) -> None:
    kubectl("apply", "--server-side", "-f", "-", stdin=to_yaml_documents(objects), kubeconfig=admin)
    for crd in (c.CRD_NAME, d.CRD_NAME, d.SCALER_CRD_NAME):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", kubeconfig=admin)


def _denied(records: list[Record]) -> list[str]:
    return sorted(
        {
            str(r.attributes) + (f" (for {r.implied_by})" if r.implied_by else "")
            for r in records
            if not r.allowed
        }
    )


def _probe(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("rbac")
    objects = packaged(DEFAULT_FILE)
    authorizer = Authorizer.for_service_account(objects, NAMESPACE, SERVICE_ACCOUNT)
    with EmbeddedCluster(topology=HERE / "topology.yaml") as cluster:
        admin = cluster.write_kubeconfig(tmp / "admin")
        _install(cluster, objects, admin)
        _seed_gone_replica(cluster)
        proxy = RbacProxy(
            cluster.url, authorizer, tokens=dict(TOKENS), rbac_objects=[*objects, PROMETHEUS_BINDING]
        )
        with proxy:
            kubeconfig = str(write_kubeconfig(tmp / "operator", proxy.url))
            with pytest.MonkeyPatch.context() as env:
                env.setenv("POD_NAME", POD_NAME)
                in_pod = settings_for_tests(
                    kubeconfig=kubeconfig,
                    operator_namespace=NAMESPACE,
                    webhook_host="127.0.0.1",
                    webhook_port=0,
                )
                with InProcessOperator(in_pod, make_hooks(), connect=connect_as_pod):
                    bundle_in_pod = _identities(cluster)
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
                # Prometheus with its own token; the certificate is self-signed (not verified).
                scrapes = {
                    who: scrape(metrics.server.port, token, server_name="localhost")[0]
                    for who, token in {"prometheus": "prometheus-token", "intruder": "intruder-token"}.items()
                }
                _workload(cluster, admin)
            finally:
                outside.stop(clean=False)
        yield Run(proxy.snapshot(), authorizer, bundle_in_pod, probes, scrapes)


def test_the_operator_is_never_denied(run: Run) -> None:
    denied = _denied(run.records)
    assert not denied, "requests the shipped RBAC forbids:\n" + "\n".join(denied)


def test_every_shipped_permission_is_used_or_justified(run: Run) -> None:
    allowed = [r.attributes for r in run.records if r.allowed]
    unused = {
        (verb, group, resource)
        for rule in run.authorizer.rules
        for verb, group, resource in rule.grants()
        if not any(
            a.verb == verb and a.group == group and a.target == resource and rule.allows(a) for a in allowed
        )
    }
    shipped = {grant for rule in run.authorizer.rules for grant in rule.grants()}
    assert set(JUSTIFIED) <= shipped, (
        f"JUSTIFIED names permissions no longer shipped: {set(JUSTIFIED) - shipped}"
    )
    assert unused <= set(JUSTIFIED), (
        f"shipped but never used: {sorted(unused - set(JUSTIFIED))}; drop them from config/rbac, or say why "
        "they are needed there and in JUSTIFIED"
    )


def test_a_replica_in_a_pod_prunes_gone_replicas_and_adds_its_own_ca(run: Run) -> None:
    assert run.bundle_in_pod == [f"pod/{NAMESPACE}/{POD_NAME}"] * len(WEBHOOK_GVRS)


def test_the_probe_paths_of_the_deployment_answer(run: Run) -> None:
    assert run.probes == {"/healthz": 200, "/readyz": 200}


def test_metrics_answer_the_scraper_bound_to_the_metrics_reader_role_only(run: Run) -> None:
    assert run.scrapes == {"prometheus": 200, "intruder": 403}


def test_the_run_covered_the_operators_work(run: Run) -> None:
    """The proof is only as good as the run: each kind of write the operator makes happened."""
    seen = {(r.attributes.verb, r.attributes.target) for r in run.records if r.allowed}
    for wanted in OPERATOR_WORK:
        assert wanted in seen, f"the run never made {wanted}"
    assert Attributes(
        "update", "coordination.k8s.io", "leases", namespace=NAMESPACE, name=c.LEADER_ELECTION_LEASE
    ) in {r.attributes for r in run.records}


POD_GROUPS = {
    "volcano": ("scheduling.volcano.sh", "v1beta1"),
    "coscheduling": ("scheduling.x-k8s.io", "v1alpha1"),
}


def _pod_group_crd(group: str, version: str) -> str:
    """The scheduler's PodGroup CRD, reduced to what lets the API server store PodGroups."""
    return yaml.safe_dump(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"podgroups.{group}"},
            "spec": {
                "group": group,
                "names": {
                    "kind": "PodGroup",
                    "listKind": "PodGroupList",
                    "plural": "podgroups",
                    "singular": "podgroup",
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


@pytest.mark.parametrize("gang", sorted(POD_GROUPS))
def test_a_gang_scheduling_component_grants_what_its_plugin_needs(gang: str, tmp_path: Path) -> None:
    """The component's Deployment turns the plugin on, and its RBAC lets the operator make the PodGroups."""
    objects = customize(Options(components=(gang,)))
    authorizer = Authorizer.for_service_account(objects, NAMESPACE, SERVICE_ACCOUNT)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    enabled = run_command.make_context("run", list(args)).params["enable_plugins"]
    group, version = POD_GROUPS[gang]
    with EmbeddedCluster(topology=HERE / "topology.yaml") as cluster:
        admin = cluster.write_kubeconfig(tmp_path / "admin")
        kubectl("apply", "-f", "-", stdin=_pod_group_crd(group, version), kubeconfig=admin)
        _install(cluster, objects, admin)
        with RbacProxy(cluster.url, authorizer) as proxy:
            kubeconfig = str(write_kubeconfig(tmp_path / "operator", proxy.url))
            settings = settings_for_tests(kubeconfig=kubeconfig, operator_namespace=NAMESPACE)
            operator = InProcessOperator(
                settings, make_hooks(PluginSelection(enable=enabled)), connect=connect
            ).start()
            try:
                kubectl("create", "namespace", "gang", kubeconfig=admin)
                sample = CONFIG / "samples" / SAMPLES["basic"]
                kubectl("apply", "-n", "gang", "-f", str(sample), kubeconfig=admin)
                listing = functools.partial(cluster.sync.list, (group, version, "podgroups"), "gang")
                wait_until(
                    lambda: len(listing()["items"]) == 3, 30, f"a {gang} PodGroup for each of the 3 groups"
                )
            finally:
                operator.stop(clean=False)  # see the module docstring
        records = proxy.snapshot()
    assert not _denied(records), _denied(records)
    assert any(r.attributes.verb == "create" and r.attributes.resource == "podgroups" for r in records)
