"""The generated DisaggregatedSet and DisaggregatedSetRoleScaler CRDs: equal to the checked-in files, with
upstream's identity, subresources, printer columns, defaults, ranges and CEL rule; the roles' LWS spec is the
LeaderWorkerSet schema itself; structurally sound for an API server; accepted by the embedded cluster."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.disaggregated.crd import (
    DS_CRD_FILE_NAME,
    SCALER_CRD_FILE_NAME,
    build_disaggregatedset_crd,
    build_rolescaler_crd,
)
from lws.api.schema import INT_OR_STRING, LIST_MAP_KEYS, LIST_TYPE, spec_schema
from lws.api.structural import check
from lws.cli.main import cli
from lws.hooks.manager import make_hooks
from lws.sim.testing import wait_until
from tests.api.ds_api_testing import UPSTREAM_SAMPLES, sample_three_roles, sample_two_roles

CRDS = Path(__file__).resolve().parents[2] / "crds"


@pytest.fixture(scope="module")
def ds_crd() -> dict[str, Any]:
    hooks = make_hooks()
    return build_disaggregatedset_crd(
        startup_policies=hooks.startup_values, restart_policies=hooks.restart_values
    )


@pytest.fixture(scope="module")
def scaler_crd() -> dict[str, Any]:
    return build_rolescaler_crd()


def root(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def schema_at(crd: dict[str, Any], *path: str) -> dict[str, Any]:
    node = root(crd)
    for key in path:
        node = node["items"] if key == "[]" else node["properties"][key]
    return node


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in (node.get("properties") or {}).items():
        yield from walk(child, f"{path}.{key}" if path else key)
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


# --- checked-in files --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "kind"), [(DS_CRD_FILE_NAME, d.KIND), (SCALER_CRD_FILE_NAME, d.SCALER_KIND)]
)
def test_lws_crd_prints_the_checked_in_crd(file_name: str, kind: str) -> None:
    # That the checked-in file is current is tests/test_generated_files.py's to say (tools/generate.py).
    result = CliRunner().invoke(cli, ["crd", "--kind", kind])
    assert result.exit_code == 0, result.output
    assert result.stdout == (CRDS / file_name).read_text(encoding="utf-8")


def test_lws_crd_still_prints_the_leaderworkerset_crd_by_default() -> None:
    result = CliRunner().invoke(cli, ["crd"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["metadata"]["name"] == c.CRD_NAME


# --- identity, subresources, columns ----------------------------------------------------------------------


def test_disaggregatedset_identity_is_upstreams(ds_crd: dict[str, Any]) -> None:
    assert ds_crd["metadata"]["name"] == "disaggregatedsets.disaggregatedset.x-k8s.io"
    spec = ds_crd["spec"]
    assert (spec["group"], spec["scope"]) == ("disaggregatedset.x-k8s.io", "Namespaced")
    assert spec["names"] == {
        "kind": "DisaggregatedSet",
        "listKind": "DisaggregatedSetList",
        "plural": "disaggregatedsets",
        "singular": "disaggregatedset",
    }
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    # Upstream: a status subresource only, no printer columns.
    assert version["subresources"] == {"status": {}}
    assert "additionalPrinterColumns" not in version


def test_rolescaler_identity_subresources_and_columns_are_upstreams(scaler_crd: dict[str, Any]) -> None:
    assert scaler_crd["metadata"]["name"] == "disaggregatedsetrolescalers.disaggregatedset.x-k8s.io"
    spec = scaler_crd["spec"]
    assert spec["names"] == {
        "kind": "DisaggregatedSetRoleScaler",
        "listKind": "DisaggregatedSetRoleScalerList",
        "plural": "disaggregatedsetrolescalers",
        "singular": "disaggregatedsetrolescaler",
        "shortNames": ["dsrs"],
    }
    [version] = spec["versions"]
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }
    assert version["additionalPrinterColumns"] == [
        {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Current", "type": "integer", "jsonPath": ".status.replicas"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def test_rolescaler_spec_replicas_is_required_with_a_default_so_scale_always_resolves(
    scaler_crd: dict[str, Any],
) -> None:
    replicas = schema_at(scaler_crd, "spec", "replicas")
    assert (replicas["default"], replicas["minimum"], replicas["format"]) == (0, 0, "int32")
    assert schema_at(scaler_crd, "spec")["required"] == ["replicas"]
    assert set(schema_at(scaler_crd, "status")["properties"]) == {
        "replicas",
        "selector",
        "observedGeneration",
        "conditions",
    }


# --- the DisaggregatedSet schema ---------------------------------------------------------------------------


def test_only_upstream_defaults_are_declared(ds_crd: dict[str, Any]) -> None:
    # Pod and claim templates carry whatever defaults the LeaderWorkerSet's pod schema declares.
    templates = ("leaderTemplate.", "workerTemplate.", "volumeClaimTemplates")
    declared = {
        path: node["default"]
        for path, node in walk(root(ds_crd))
        if "default" in node and not any(t in path for t in templates)
    }
    role = "spec.roles[].spec"
    assert declared == {
        "spec.slices": 1,
        "spec.placementPolicy.type": "None",
        "spec.roles[].scaling.mode": "Static",
        f"{role}.replicas": 1,
        f"{role}.startupPolicy": "LeaderCreated",
        f"{role}.groupIdentity": "Ordinal",
        f"{role}.leaderWorkerTemplate.size": 1,
        f"{role}.leaderWorkerTemplate.restartPolicy": "RecreateGroupOnPodRestart",
        f"{role}.leaderWorkerTemplate.subGroupPolicy.subGroupPolicyType": "LeaderWorker",
        f"{role}.rolloutStrategy.type": "RollingUpdate",
        f"{role}.rolloutStrategy.rollingUpdateConfiguration.partition": 0,
        f"{role}.rolloutStrategy.rollingUpdateConfiguration.maxUnavailable": 1,
        f"{role}.rolloutStrategy.rollingUpdateConfiguration.maxSurge": 0,
    }


def test_ranges_enums_and_required_are_upstreams(ds_crd: dict[str, Any]) -> None:
    roles = schema_at(ds_crd, "spec", "roles")
    assert (roles["minItems"], roles["maxItems"]) == (2, 10)
    assert (roles[LIST_TYPE], roles[LIST_MAP_KEYS]) == ("map", ["name"])
    assert roles["items"]["required"] == ["name"]
    name = schema_at(ds_crd, "spec", "roles", "[]", "name")
    assert (name["minLength"], name["maxLength"], name["pattern"]) == (
        1,
        63,
        "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    )
    slices = schema_at(ds_crd, "spec", "slices")
    assert (slices["minimum"], slices["maximum"], slices["format"]) == (1, 100, "int32")
    assert schema_at(ds_crd, "spec", "roles", "[]", "scaling", "mode")["enum"] == ["Static", "External"]
    assert schema_at(ds_crd, "spec", "placementPolicy", "type")["enum"] == [
        "None",
        "ExclusiveSlice",
        "ExclusiveTopology",
    ]
    assert schema_at(ds_crd, "spec")["required"] == ["roles"]
    assert root(ds_crd)["required"] == ["spec"]
    replicas = schema_at(ds_crd, "spec", "roles", "[]", "spec", "replicas")
    assert (replicas["minimum"], replicas["maximum"]) == (0, 1_000_000)


def test_the_cel_rule_is_upstreams_word_for_word(ds_crd: dict[str, Any]) -> None:
    assert schema_at(ds_crd, "spec")["x-kubernetes-validations"] == [
        {
            "rule": "self.roles.filter(r, !has(r.scaling) || r.scaling.mode != 'External').all(r, "
            "!has(r.spec.replicas) || r.spec.replicas == 0) || self.roles.filter(r, !has(r.scaling) || "
            "r.scaling.mode != 'External').all(r, has(r.spec.replicas) && r.spec.replicas > 0)",
            "message": "replicas must be zero for all non-External roles or non-zero for all non-External roles",
        }
    ]


def test_role_spec_is_the_leaderworkerset_spec_schema_itself(ds_crd: dict[str, Any]) -> None:
    """Reused, not copied: whatever the LWS spec schema grows (pod template fields, defaults) roles get."""
    hooks = make_hooks()
    from lws.api.schema import merged_values

    lws_spec = spec_schema(
        startup_policies=merged_values(c.UPSTREAM_STARTUP_POLICIES, hooks.startup_values),
        restart_policies=merged_values(c.UPSTREAM_RESTART_POLICIES, hooks.restart_values),
    )
    role_spec = schema_at(ds_crd, "spec", "roles", "[]", "spec")
    assert role_spec["properties"] == lws_spec["properties"]
    assert role_spec["required"] == lws_spec["required"] == ["leaderWorkerTemplate"]


def test_role_metadata_keeps_upstreams_embedded_fields(ds_crd: dict[str, Any]) -> None:
    metadata = schema_at(ds_crd, "spec", "roles", "[]", "metadata")
    assert set(metadata["properties"]) == {"annotations", "finalizers", "labels", "name", "namespace"}


def test_status_fields_are_upstreams(ds_crd: dict[str, Any]) -> None:
    status = schema_at(ds_crd, "status")
    assert set(status["properties"]) == {"observedGeneration", "roleStatuses", "conditions"}
    role_status = status["properties"]["roleStatuses"]
    assert role_status[LIST_MAP_KEYS] == ["name"]
    assert set(role_status["items"]["properties"]) == {"name", "replicas", "readyReplicas", "updatedReplicas"}
    assert status["properties"]["conditions"][LIST_MAP_KEYS] == ["type"]


# --- structural-schema rules the API server enforces on a CRD -------------------------------------------


@pytest.mark.parametrize("which", ["ds", "scaler"])
def test_structural_rules(which: str, ds_crd: dict[str, Any], scaler_crd: dict[str, Any]) -> None:
    crd = ds_crd if which == "ds" else scaler_crd
    nodes = list(walk(root(crd)))
    untyped = [path for path, node in nodes if "type" not in node and not node.get(INT_OR_STRING)]
    assert untyped == []
    for path, node in nodes:
        if "default" in node:
            assert check(node, node["default"], path) == [], path
        for key in node.get(LIST_MAP_KEYS, ()):
            # Required, or defaulted (the pod schema's ports: protocol defaults to TCP), as the API server asks.
            item = node["items"]
            assert key in item.get("required", ()) or "default" in item["properties"][key], path
    undescribed = [
        path
        for path, node in walk(schema_at(crd, "spec"))
        if not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert undescribed == []


# --- a cluster accepts them --------------------------------------------------------------------------------


def test_the_embedded_cluster_serves_both_crds(kubeconfig_path: Path) -> None:
    beside = Path(sys.executable).parent / "kubectl"
    binary = str(beside) if beside.exists() else (shutil.which("kubectl") or "kubectl")
    kubectl = [binary, "--kubeconfig", str(kubeconfig_path)]
    for name in (DS_CRD_FILE_NAME, SCALER_CRD_FILE_NAME):
        subprocess.run(
            [*kubectl, "apply", "--server-side", "-f", str(CRDS / name)],
            check=True,
            capture_output=True,
            timeout=60,
        )
    expected = [
        "disaggregatedsetrolescalers.disaggregatedset.x-k8s.io",
        "disaggregatedsets.disaggregatedset.x-k8s.io",
    ]

    def served() -> list[str]:
        return sorted(
            subprocess.run(
                [*kubectl, "api-resources", "--api-group", d.GROUP, "-o", "name"],
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.split()
        )

    # A real API server puts a new CRD in discovery once it is Established, a moment after the create (and
    # kubectl wait right after it fails on the missing conditions); the embedded one at once.
    assert wait_until(lambda: served() == expected, timeout=60, what="both CRDs in discovery")


def test_a_rolescaler_scales_through_its_subresource_before_and_after_any_write(
    kubeconfig_path: Path, test_namespace: str
) -> None:
    """Upstream's HPA e2e: GET /scale works on a fresh scaler (spec.replicas defaulted to 0), kubectl
    scale writes spec.replicas, and kubectl get shows upstream's columns."""
    beside = Path(sys.executable).parent / "kubectl"
    binary = str(beside) if beside.exists() else (shutil.which("kubectl") or "kubectl")

    def kubectl(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [binary, "--kubeconfig", str(kubeconfig_path), "-n", test_namespace, *args],
            check=True,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=60,
        ).stdout

    kubectl("apply", "--server-side", "-f", str(CRDS / SCALER_CRD_FILE_NAME))
    scaler = {
        "apiVersion": d.API_VERSION,
        "kind": d.SCALER_KIND,
        "metadata": {"name": "ds-prefill"},
        "spec": {},
    }
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(scaler))
    path = f"/apis/{d.API_VERSION}/namespaces/{test_namespace}/{d.SCALER_PLURAL}/ds-prefill/scale"
    scale = yaml.safe_load(kubectl("get", "--raw", path))
    # autoscaling/v1 ScaleSpec.replicas is omitempty: Kubernetes sends a scale of 0 as an empty spec.
    assert (scale["kind"], scale["spec"].get("replicas", 0)) == ("Scale", 0)
    kubectl("scale", "dsrs/ds-prefill", "--replicas=3")
    assert yaml.safe_load(kubectl("get", "--raw", path))["spec"] == {"replicas": 3}
    header, row = kubectl("get", "dsrs", "ds-prefill").splitlines()
    assert header.split() == ["NAME", "DESIRED", "CURRENT", "AGE"]
    assert row.split()[:2] == ["ds-prefill", "3"]


def test_the_upstream_sample_texts_are_the_samples_the_other_tests_use() -> None:
    """The YAML applied with kubectl in the end-to-end tests is the sample the unit tests build, except for
    ``ports[].protocol``, which upstream's API server stores and the manifest leaves out."""
    three = yaml.safe_load(UPSTREAM_SAMPLES["disaggregatedset_v1_3role"])
    assert three == sample_three_roles()
    two = yaml.safe_load(UPSTREAM_SAMPLES["disaggregatedset_v1_disaggregatedset"])
    stored = sample_two_roles()
    for r in stored["spec"]["roles"]:
        for key in ("leaderTemplate", "workerTemplate"):
            for container in r["spec"]["leaderWorkerTemplate"][key]["spec"]["containers"]:
                for port in container["ports"]:
                    assert port.pop("protocol") == "TCP"
    assert two == stored
