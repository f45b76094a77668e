"""The Helm chart (``charts/lws``), linted and rendered by a real Helm built from its Go module: for every
choice that ``lws manifests`` also offers, ``helm template`` renders exactly the objects ``lws manifests``
prints (Helm's own labels aside; the Namespace is ``helm install --create-namespace``'s). ``helm install``
and ``helm upgrade`` then work against the embedded cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from gotools import helm_template, run_helm
from install_kit import CHART, kubectl
from install_run import (
    WEBHOOK_GVRS,
    apply_sample,
    available,
    denied,
    install_crds,
    running,
    scrape,
    service_monitor_tls,
)

from lws.api.disaggregated import constants as d
from lws.cli.manifests import NO_DISAGGREGATEDSET_WEBHOOK, Obj, Options, customize, object_key, with_crd
from lws.sim.runner import EmbeddedCluster
from tests.api.ds_api_testing import UPSTREAM_SAMPLES

pytestmark = pytest.mark.xdist_group("helm")

#: Helm's conventional labels, which the chart adds to every object's metadata and `lws manifests` does not.
HELM_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
)
IMAGE = "registry.example/team/lws-operator"


def template(home: Path, *values: str, namespace: str = "lws-system", release: str = "lws") -> list[Obj]:
    return helm_template(home, *values, namespace=namespace, release=release)


def without_helm_labels(objects: list[Obj], *, release: str = "lws") -> dict[tuple[str, str, str, str], Obj]:
    """The objects by key, Helm's labels checked and removed."""
    keyed: dict[tuple[str, str, str, str], Obj] = {}
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        if obj["kind"] != "CustomResourceDefinition":  # crds/ is installed as it is, untemplated
            assert labels.get("app.kubernetes.io/managed-by") == "Helm", object_key(obj)
            assert labels.get("app.kubernetes.io/instance") == release, object_key(obj)
            assert labels.get("helm.sh/chart") == "lws-0.1.0", object_key(obj)
        for name in HELM_LABELS:
            labels.pop(name, None)
        keyed[object_key(obj)] = obj
    assert len(keyed) == len(objects), "two objects with the same kind, namespace and name"
    return keyed


def lws_manifests(options: Options) -> dict[tuple[str, str, str, str], Obj]:
    """What `lws manifests` prints for ``options``, without the Namespace."""
    objects = with_crd(customize(options), None, options.enable_plugins, options.disable_plugins)
    return {object_key(o): o for o in objects if o["kind"] != "Namespace"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("helm-home")


#: The chart's default, enableDisaggregatedSet=false (upstream's): no DisaggregatedSet webhook or user roles.
NO_DS = (NO_DISAGGREGATEDSET_WEBHOOK,)

CASES: list[tuple[str, list[str], Options]] = [
    ("defaults", [], Options(components=NO_DS)),
    ("namespace", [], Options(namespace="ml-platform", components=NO_DS)),
    # llm-d's: https://github.com/llm-d/llm-d/pull/2379
    ("disaggregatedset", ["--set", "enableDisaggregatedSet=true"], Options()),
    (
        "disaggregatedset-cert-manager-volcano",
        [
            "--set",
            "enableDisaggregatedSet=true",
            "--set",
            "enableCertManager=true",
            "--set",
            "gangSchedulingManagement.schedulerProvider=volcano",
        ],
        Options(components=("certmanager", "volcano")),
    ),
    (
        "image-and-replicas",
        [
            "--set",
            f"image.manager.repository={IMAGE}",
            "--set",
            "image.manager.tag=1.2.3",
            "--set",
            "replicaCount=3",
        ],
        Options(image=f"{IMAGE}:1.2.3", replicas=3, components=NO_DS),
    ),
    ("service-monitor", ["--set", "enablePrometheus=true"], Options(components=("prometheus", *NO_DS))),
    ("cert-manager", ["--set", "enableCertManager=true"], Options(components=("certmanager", *NO_DS))),
    (
        "volcano",
        ["--set", "gangSchedulingManagement.schedulerProvider=volcano"],
        Options(components=("volcano", *NO_DS)),
    ),
    (
        "everything",
        [
            "--set",
            "enableCertManager=true",
            "--set",
            "enablePrometheus=true",
            "--set",
            "gangSchedulingManagement.schedulerProvider=coscheduling",
            "--set",
            "replicaCount=1",
            "--set",
            "plugins.enable={coscheduling}",
            "--set",
            "plugins.disable={tpu,vllm}",
        ],
        Options(
            namespace="gang",
            replicas=1,
            components=("prometheus", "certmanager", "coscheduling", *NO_DS),
            enable_plugins=("coscheduling",),
            disable_plugins=("tpu", "vllm"),
        ),
    ),
]


@pytest.mark.parametrize(("values", "options"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_helm_template_renders_what_lws_manifests_prints(
    home: Path, values: list[str], options: Options
) -> None:
    rendered = without_helm_labels(template(home, *values, namespace=options.namespace or "lws-system"))
    printed = lws_manifests(options)
    assert sorted(rendered) == sorted(printed)
    for key, obj in printed.items():
        assert rendered[key] == obj, f"{key} differs from lws manifests'"


def test_the_release_name_changes_no_object_name(home: Path) -> None:
    """The webhook configurations and the Lease are upstream's, fixed: so are all names."""
    rendered = without_helm_labels(template(home, release="my-lws"), release="my-lws")
    assert sorted(rendered) == sorted(lws_manifests(Options(components=NO_DS)))


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set", "enableCertManager=true", "--set", "enablePrometheus=true"],
        ["--set", "enableDisaggregatedSet=true"],
    ],
    ids=["defaults", "cert-manager-and-prometheus", "disaggregatedset"],
)
def test_helm_lint_passes_strictly(home: Path, values: list[str]) -> None:
    done = run_helm("lint", "--strict", str(CHART), *values, home=home)
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("enableDisaggregatedSet=yes", "enableDisaggregatedSet"),
        ("fullnameOverride=x", "fullnameOverride"),
        ("gangSchedulingManagement.schedulerProvider=kueue", "schedulerProvider"),
        ("replicaCount=-1", "replicaCount"),
    ],
)
def test_a_value_the_chart_does_not_implement_is_refused(home: Path, value: str, named: str) -> None:
    done = run_helm("template", "lws", str(CHART), "--set", value, home=home, check=False)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr and named in done.stderr


def test_the_values_for_the_pod_land_in_the_deployment(home: Path) -> None:
    values: dict[str, Any] = {
        "image": {"manager": {"repository": IMAGE, "pullPolicy": "Always"}},
        "imagePullSecrets": [{"name": "registry-login"}],
        "resources": {"requests": {"cpu": "2", "memory": "2Gi"}},
        "podAnnotations": {"team": "ml"},
        "priorityClassName": "system-cluster-critical",
        "nodeSelector": {"node-role.kubernetes.io/infra": ""},
        "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": None,  # Helm merges maps with the defaults: null removes the default anti-affinity
    }
    path = home / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    (deployment,) = [o for o in template(home, "-f", str(path)) if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (manager,) = pod["containers"]
    assert manager["image"] == f"{IMAGE}:0.1.0"  # the tag defaults to the chart's appVersion
    assert manager["imagePullPolicy"] == "Always"
    assert manager["resources"] == {
        "requests": {"cpu": "2", "memory": "2Gi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert pod["imagePullSecrets"] == values["imagePullSecrets"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert "affinity" not in pod
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/default-container": "manager",
        "team": "ml",
    }


@pytest.mark.e2e
@pytest.mark.sim_only
@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set", "enableDisaggregatedSet=true"],
        ["--set", "enableCertManager=true", "--set", "enablePrometheus=true"],
        [
            "--set",
            "enableCertManager=true",
            "--set",
            "enablePrometheus=true",
            "--set",
            "enableDisaggregatedSet=true",
        ],
    ],
    ids=[
        "own-certificates",
        "own-certificates-disaggregatedset",
        "cert-manager",
        "cert-manager-disaggregatedset",
    ],
)
def test_lws_run_as_the_chart_installs_it_serves_a_leaderworkerset(
    home: Path, tmp_path: Path, values: list[str]
) -> None:
    """``helm install``, then the operator as the chart's pod would run (its settings, RBAC, certificates).

    The webhooks in force are the ones the chart ships (the operator registers no other), so a
    DisaggregatedSet upstream's webhook refuses is refused with ``enableDisaggregatedSet=true`` only."""
    objects = template(home, *values)

    def helm_install(objs: list[Obj], admin: Path) -> None:
        install_crds(objs, admin, own=False)  # cert-manager's and prometheus-operator's: not the chart's job
        run_helm(
            "install",
            "lws",
            str(CHART),
            "-n",
            "lws-system",
            "--create-namespace",
            "--kubeconfig",
            str(admin),
            *values,
            home=home,
        )

    with running(objects, tmp_path, installer=helm_install) as run:
        name = apply_sample(run.cluster, run.admin, "helm", "leaderworkerset_v1_leaderworkerset.yaml")
        assert available(run.cluster, "helm", name) is not None
        tls = service_monitor_tls(objects) if "enablePrometheus=true" in values else {}
        ca = run.ca("lws-metrics-cert") if run.certs is not None else None
        status, body = scrape(
            run.metrics_port, "prometheus-token", server_name=tls.get("serverName", "localhost"), cadata=ca
        )
        assert status == 200 and "lws_reconcile_total" in body

        shipped = {h["name"] for o in objects if o["kind"] in WEBHOOK_GVRS for h in o["webhooks"]}
        live = {
            hook["name"]
            for kind, gvr in WEBHOOK_GVRS.items()
            for o in objects
            if o["kind"] == kind
            for hook in run.cluster.sync.get(gvr, None, o["metadata"]["name"])["webhooks"]
        }
        assert live == shipped
        with_webhook = "enableDisaggregatedSet=true" in values
        assert (d.WEBHOOK_NAME_VALIDATE in live) is with_webhook
        ds = yaml.safe_load(UPSTREAM_SAMPLES["disaggregatedset_v1_disaggregatedset"])
        ds["metadata"].pop("namespace", None)
        ds["spec"]["roles"][0]["spec"]["rolloutStrategy"] = {"rollingUpdateConfiguration": {"partition": 1}}
        ds_yaml = yaml.safe_dump(ds)
        if with_webhook:
            with pytest.raises(AssertionError, match="partition"):
                kubectl("apply", "-n", "helm", "-f", "-", stdin=ds_yaml, kubeconfig=run.admin)
        else:
            kubectl("apply", "-n", "helm", "-f", "-", stdin=ds_yaml, kubeconfig=run.admin)
    assert not denied(run.records), denied(run.records)


@pytest.mark.sim_only
def test_helm_install_and_upgrade_on_the_embedded_cluster(home: Path, tmp_path: Path) -> None:
    with EmbeddedCluster(topology="tiny") as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        args = ("-n", "lws-system", "--kubeconfig", str(kubeconfig))
        install = run_helm("install", "lws", str(CHART), "--create-namespace", *args, home=home)
        assert "STATUS: deployed" in install.stdout
        listed = kubectl(
            "get",
            "deployment,service,configmap,serviceaccount,role,rolebinding",
            "-n",
            "lws-system",
            "-l",
            "app.kubernetes.io/managed-by=Helm",
            "-o",
            "name",
            kubeconfig=kubeconfig,
        ).split()
        assert "deployment.apps/lws-controller-manager" in listed and len(listed) == 7
        crd = kubectl(
            "get", "crd", "leaderworkersets.leaderworkerset.x-k8s.io", "-o", "name", kubeconfig=kubeconfig
        )
        assert (
            crd.strip()
            == "customresourcedefinition.apiextensions.k8s.io/leaderworkersets.leaderworkerset.x-k8s.io"
        )
        upgrade = run_helm("upgrade", "lws", str(CHART), "--set", "replicaCount=3", *args, home=home)
        assert "REVISION: 2" in upgrade.stdout
        replicas = kubectl(
            "get",
            "deployment",
            "lws-controller-manager",
            "-n",
            "lws-system",
            "-o",
            "jsonpath={.spec.replicas}",
            kubeconfig=kubeconfig,
        )
        assert replicas == "3"
