"""The OLM bundle (``bundle/``): valid for operator-framework's own validator (built from its Go module), the
same installation as ``lws manifests --cert-manager`` (without cert-manager: OLM makes the certificates),
and, installed as OLM would install it, an operator that serves a LeaderWorkerSet.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from gotools import operator_verify
from install_kit import ROOT, kubectl
from install_run import apply_sample, denied, install, running, scrape
from olm_kit import NAMESPACED, WEBHOOK_CERT_DIR, OlmCertificates, olm_install, read_bundle

from lws import __version__
from lws.cli.manifests import Obj, Options, customize, manager_deployment, object_key

pytestmark = pytest.mark.xdist_group("olm")

BUNDLE = ROOT / "bundle"
#: operator-verify's one notice about its own flags, not about the bundle.
DEPRECATION = 'The \\"operatorhub\\" validator is deprecated'


def verify(directory: Path) -> list[str]:
    """operator-verify's complaints about a bundle: its error and warning lines (it exits 0 regardless)."""
    done = subprocess.run(
        [str(operator_verify()), "manifests", str(directory), "--object_validate", "--operatorhub_validate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 or "level=fatal" in done.stderr, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    return [line for line in lines if "level=" in line and DEPRECATION not in line]


def test_operator_frameworks_validator_finds_nothing_wrong() -> None:
    assert verify(BUNDLE) == []


@pytest.mark.parametrize(
    ("breakage", "complaint"),
    [
        ("no-install-modes", "install modes not found"),
        ("example-of-an-unknown-kind", "example must have a provided API"),
        ("bad-csv-name", "metadata.name"),
    ],
)
def test_the_validator_is_real_it_refuses_a_broken_bundle(
    tmp_path: Path, breakage: str, complaint: str
) -> None:
    copy_ = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy_)
    path = copy_ / "manifests" / "lws-operator.clusterserviceversion.yaml"
    csv = yaml.safe_load(path.read_text())
    if breakage == "no-install-modes":
        csv["spec"]["installModes"] = []
    elif breakage == "example-of-an-unknown-kind":
        csv["metadata"]["annotations"]["alm-examples"] = '[{"apiVersion": "example.com/v1", "kind": "Nope"}]'
    else:
        csv["metadata"]["name"] = "Not A Name"
    path.write_text(yaml.safe_dump(csv))
    complaints = verify(copy_)
    assert any(
        complaint in line and ("level=error" in line or "level=fatal" in line) for line in complaints
    ), complaints


def test_the_bundle_names_its_package_and_version() -> None:
    csv, _, annotations = read_bundle(BUNDLE)
    assert csv["metadata"]["name"] == f"lws-operator.v{__version__}" and csv["spec"]["version"] == __version__
    assert annotations["operators.operatorframework.io.bundle.package.v1"] == "lws-operator"
    assert annotations["operators.operatorframework.io.bundle.mediatype.v1"] == "registry+v1"
    owned = {c["kind"] for c in csv["spec"]["customresourcedefinitions"]["owned"]}
    assert owned == {
        "LeaderWorkerSet",
        "LeaderWorkerSetOperator",
        "DisaggregatedSet",
        "DisaggregatedSetRoleScaler",
    }


def _rules(objects: list[Obj], kind: str) -> list[Obj]:
    """Every rule of the roles of ``kind`` bound to the operator's ServiceAccount, sorted."""
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}
    rules = [
        rule
        for binding in objects
        if binding["kind"] == f"{kind}Binding"
        and any(s.get("name") == "lws-controller-manager" for s in binding["subjects"])
        for rule in roles[binding["roleRef"]["name"]]["rules"]
    ]
    return sorted(rules, key=lambda r: yaml.safe_dump(r, sort_keys=True))


def _webhooks(objects: list[Obj]) -> list[tuple[str, Obj]]:
    """(kind, webhook) of every webhook, without where it is sent (a Service each install names itself)."""
    found = []
    for config in objects:
        if config["kind"].endswith("WebhookConfiguration"):
            for webhook in config["webhooks"]:
                hook = copy.deepcopy(webhook)
                hook["clientConfig"] = {"path": hook["clientConfig"]["service"]["path"]}
                found.append((config["kind"], hook))
    return sorted(found, key=lambda kw: kw[1]["name"])


def test_installed_by_olm_it_is_the_installation_lws_manifests_prints() -> None:
    olm = olm_install(BUNDLE, "lws-system")
    printed = customize(Options(components=("certmanager",)))
    # Same operator RBAC, same webhooks, same CRDs and the same plain objects.
    for kind in ("ClusterRole", "Role"):
        assert _rules(olm, kind) == _rules(printed, kind), f"{kind} rules differ"
    assert _webhooks(olm) == _webhooks(printed)
    keyed = {object_key(o): o for o in olm}
    # Every object the bundle ships as a plain manifest (all but what OLM makes from the CSV: the
    # ServiceAccount, the Deployment) is lws manifests' own, byte for byte; none is left out.
    shipped = [
        o for o in printed if object_key(o) in keyed and o["kind"] not in ("ServiceAccount", "Deployment")
    ]
    for obj in shipped:
        assert keyed[object_key(obj)] == obj, f"{object_key(obj)} differs"
    _, plain, _ = read_bundle(BUNDLE)
    assert sorted(object_key(o)[1:] for o in shipped) == sorted(
        (o["kind"], "lws-system" if o["kind"] in NAMESPACED else "", o["metadata"]["name"]) for o in plain
    )
    # The same Deployment, the certificate mounted by OLM where cert-manager's was.
    ours, theirs = manager_deployment(printed)["spec"], manager_deployment(olm)["spec"]
    (mount,) = [
        m
        for m in theirs["template"]["spec"]["containers"][0]["volumeMounts"]
        if m["mountPath"] == WEBHOOK_CERT_DIR
    ]
    assert mount["name"] == "webhook-cert"
    for spec in (ours, theirs):
        pod = spec["template"]["spec"]
        keep = {"config", "tmp"}
        pod["volumes"] = [v for v in pod["volumes"] if v["name"] in keep]
        for container in pod["containers"]:
            container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] in keep]
    assert theirs == ours


@pytest.mark.e2e
@pytest.mark.sim_only
def test_lws_run_as_olm_installs_it_serves_a_leaderworkerset(tmp_path: Path) -> None:
    objects = olm_install(BUNDLE, "lws-system")

    def as_olm(objs: list[Obj], admin: Path) -> None:
        kubectl("create", "namespace", "lws-system", kubeconfig=admin)  # the OperatorGroup's, made first
        install(objs, admin)

    with running(objects, tmp_path, certs=OlmCertificates(objects), installer=as_olm) as run:
        apply_sample(run.cluster, run.admin, "olm", "leaderworkerset_v1_leaderworkerset.yaml")
        assert run.operator.running_operator.settings.internal_certs is False  # OLM's certificate is served
        status, body = scrape(run.metrics_port, "prometheus-token", server_name="localhost")
        assert status == 200 and "lws_reconcile_total" in body
    assert not denied(run.records), denied(run.records)
