"""The generated CRD: equal to the checked-in file, and upstream's identity, columns, subresources and
defaults; every default valid under its own schema (the API server refuses a CRD where one is not)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from lws.api import constants as c
from lws.api.crd import CRD_FILE_NAME, build_crd, crd_yaml
from lws.api.pod_schema import ROOTS, closure, definitions, extract, render, source_info
from lws.api.schema import INT_OR_STRING, LIST_MAP_KEYS, PRESERVE_UNKNOWN
from lws.api.structural import check
from lws.cli.main import cli
from lws.hooks.manager import make_hooks

CHECKED_IN = Path(__file__).resolve().parents[2] / "crds" / CRD_FILE_NAME


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    hooks = make_hooks()
    return build_crd(startup_policies=hooks.startup_values, restart_policies=hooks.restart_values)


def schema_at(crd: dict[str, Any], *path: str) -> dict[str, Any]:
    node: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for key in path:
        node = node["items"] if key == "[]" else node["properties"][key]
    return node


def test_lws_crd_prints_the_checked_in_crd() -> None:
    result = CliRunner().invoke(cli, ["crd"])
    assert result.exit_code == 0, result.output
    assert result.stdout == CHECKED_IN.read_text(encoding="utf-8")


def test_identity_is_upstreams(crd: dict[str, Any]) -> None:
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "leaderworkersets.leaderworkerset.x-k8s.io"
    spec = crd["spec"]
    assert spec["group"] == "leaderworkerset.x-k8s.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "LeaderWorkerSet",
        "listKind": "LeaderWorkerSetList",
        "plural": "leaderworkersets",
        "singular": "leaderworkerset",
        "shortNames": ["lws"],
    }
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert "conversion" not in spec


def test_printer_columns_are_upstreams(crd: dict[str, Any]) -> None:
    columns = [
        (col["name"], col["type"], col["jsonPath"])
        for col in crd["spec"]["versions"][0]["additionalPrinterColumns"]
    ]
    assert columns == [
        ("Ready", "integer", ".status.readyReplicas"),
        ("Desired", "integer", ".spec.replicas"),
        ("Up-to-date", "integer", ".status.updatedReplicas"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_subresources_are_upstreams(crd: dict[str, Any]) -> None:
    assert crd["spec"]["versions"][0]["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.hpaPodSelector",
        },
    }


@pytest.mark.parametrize(
    ("path", "default"),
    [
        (("spec", "replicas"), 1),
        (("spec", "startupPolicy"), "LeaderCreated"),
        (("spec", "leaderWorkerTemplate", "size"), 1),
        (("spec", "leaderWorkerTemplate", "restartPolicy"), "RecreateGroupOnPodRestart"),
        (("spec", "leaderWorkerTemplate", "subGroupPolicy", "subGroupPolicyType"), "LeaderWorker"),
        (("spec", "rolloutStrategy", "type"), "RollingUpdate"),
        (("spec", "rolloutStrategy", "rollingUpdateConfiguration", "partition"), 0),
        (("spec", "rolloutStrategy", "rollingUpdateConfiguration", "maxUnavailable"), 1),
        (("spec", "rolloutStrategy", "rollingUpdateConfiguration", "maxSurge"), 0),
    ],
)
def test_defaults_are_upstreams(crd: dict[str, Any], path: tuple[str, ...], default: object) -> None:
    assert schema_at(crd, *path)["default"] == default


def _embedded_core_v1(path: str) -> bool:
    return any(
        path.startswith(f"spec.leaderWorkerTemplate.{t}")
        for t in ("leaderTemplate.spec.", "workerTemplate.spec.", "volumeClaimTemplates[].")
    )


def test_only_upstream_defaults_are_declared(crd: dict[str, Any]) -> None:
    # networkConfig and a missing rollingUpdateConfiguration are the webhook's to default, not the schema's.
    declared = {
        path for path, node in walk(schema_at(crd)) if "default" in node and not _embedded_core_v1(path)
    }
    assert declared == {
        "spec.replicas",
        "spec.startupPolicy",
        # upstream's CRD defaults it (a set applied without the webhook, a DisaggregatedSet role)
        "spec.groupIdentity",
        "spec.leaderWorkerTemplate.size",
        "spec.leaderWorkerTemplate.restartPolicy",
        "spec.leaderWorkerTemplate.subGroupPolicy.subGroupPolicyType",
        "spec.rolloutStrategy.type",
        "spec.rolloutStrategy.rollingUpdateConfiguration.partition",
        "spec.rolloutStrategy.rollingUpdateConfiguration.maxUnavailable",
        "spec.rolloutStrategy.rollingUpdateConfiguration.maxSurge",
    }


def test_replicas_range_and_int32_formats(crd: dict[str, Any]) -> None:
    replicas = schema_at(crd, "spec", "replicas")
    assert (replicas["minimum"], replicas["maximum"], replicas["format"]) == (0, c.MAX_REPLICAS, "int32")
    for path in (
        ("spec", "leaderWorkerTemplate", "size"),
        ("spec", "leaderWorkerTemplate", "subGroupPolicy", "subGroupSize"),
    ):
        assert schema_at(crd, *path)["format"] == "int32"


@pytest.mark.parametrize("field", ["maxUnavailable", "maxSurge"])
def test_int_or_string_fields(crd: dict[str, Any], field: str) -> None:
    node = schema_at(crd, "spec", "rolloutStrategy", "rollingUpdateConfiguration", field)
    assert node[INT_OR_STRING] is True
    assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert "type" not in node


@pytest.mark.parametrize(
    ("path", "values"),
    [
        (("spec", "startupPolicy"), ["LeaderCreated", "LeaderReady"]),
        (
            ("spec", "leaderWorkerTemplate", "restartPolicy"),
            ["Default", "RecreateGroupOnPodRestart", "RecreateGroupAfterStart", "None"],
        ),
        (("spec", "rolloutStrategy", "type"), ["RollingUpdate"]),
        (
            ("spec", "leaderWorkerTemplate", "subGroupPolicy", "subGroupPolicyType"),
            ["LeaderWorker", "LeaderExcluded"],
        ),
        (("spec", "networkConfig", "subdomainPolicy"), ["Shared", "UniquePerReplica"]),
    ],
)
def test_enums_are_upstreams_with_the_builtin_plugins(
    crd: dict[str, Any], path: tuple[str, ...], values: list[str]
) -> None:
    """Upstream's values come first, in upstream's order; built-in plugins may only add to them."""
    enum = schema_at(crd, *path)["enum"]
    assert enum[: len(values)] == values


def test_policy_enums_are_upstream_values_plus_registered_ones() -> None:
    crd = build_crd(
        startup_policies=["LeaderScheduled"], restart_policies=["RecreateGroupWithBackoff", "None"]
    )
    assert schema_at(crd, "spec", "startupPolicy")["enum"] == [
        "LeaderCreated",
        "LeaderReady",
        "LeaderScheduled",
    ]
    assert schema_at(crd, "spec", "leaderWorkerTemplate", "restartPolicy")["enum"] == [
        "Default",
        "RecreateGroupOnPodRestart",
        "RecreateGroupAfterStart",
        "None",
        "RecreateGroupWithBackoff",
    ]


def test_upstream_values_stay_in_the_crd_without_any_plugin() -> None:
    crd = build_crd(startup_policies=[], restart_policies=[])
    assert schema_at(crd, "spec", "startupPolicy")["enum"] == ["LeaderCreated", "LeaderReady"]
    assert "Default" in schema_at(crd, "spec", "leaderWorkerTemplate", "restartPolicy")["enum"]


@pytest.mark.parametrize(
    ("path", "required"),
    [
        (("spec",), ["leaderWorkerTemplate"]),
        (("spec", "leaderWorkerTemplate"), ["workerTemplate"]),
        (("spec", "rolloutStrategy"), ["type"]),
        (("spec", "networkConfig"), ["subdomainPolicy"]),
    ],
)
def test_required_fields_are_upstreams(
    crd: dict[str, Any], path: tuple[str, ...], required: list[str]
) -> None:
    assert schema_at(crd, *path)["required"] == required


@pytest.mark.parametrize("template", ["leaderTemplate", "workerTemplate"])
def test_pod_templates_keep_upstreams_template_metadata(crd: dict[str, Any], template: str) -> None:
    node = schema_at(crd, "spec", "leaderWorkerTemplate", template)
    assert set(node["properties"]["metadata"]["properties"]) == {
        "annotations",
        "labels",
        "finalizers",
        "name",
        "namespace",
    }


def test_volume_claim_templates_embed_the_claim_schema(crd: dict[str, Any]) -> None:
    vcts = schema_at(crd, "spec", "leaderWorkerTemplate", "volumeClaimTemplates")
    assert vcts["type"] == "array"
    assert PRESERVE_UNKNOWN not in vcts["items"]["properties"]["spec"]
    assert vcts["items"]["properties"]["status"]["properties"]["phase"]["type"] == "string"


def test_status_has_upstream_fields_and_the_group_restarts_extension(crd: dict[str, Any]) -> None:
    status = schema_at(crd, "status")
    assert set(status["properties"]) == {
        "conditions",
        "readyReplicas",
        "updatedReplicas",
        "replicas",
        "hpaPodSelector",
        "observedGeneration",
        "groupRestarts",
    }
    conditions = status["properties"]["conditions"]
    assert (conditions["x-kubernetes-list-type"], conditions[LIST_MAP_KEYS]) == ("map", ["type"])
    restarts = status["properties"]["groupRestarts"]
    assert (restarts["x-kubernetes-list-type"], restarts[LIST_MAP_KEYS]) == ("map", ["index"])
    item = restarts["items"]
    assert set(item["properties"]) == {
        "index",
        "key",
        "count",
        "lastRecreateTime",
        "state",
        "message",
        "recreatingLeaderUID",
    }
    assert item["properties"]["state"]["enum"] == ["Backoff", "Failed"]
    assert item["properties"]["lastRecreateTime"]["format"] == "date-time"
    assert "beyond upstream" in restarts["description"]


# --- structural-schema rules the API server enforces on a CRD -------------------------------------------


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in (node.get("properties") or {}).items():
        yield from walk(child, f"{path}.{key}" if path else key)
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_every_node_has_a_type(crd: dict[str, Any]) -> None:
    untyped = [
        path for path, node in walk(schema_at(crd)) if "type" not in node and not node.get(INT_OR_STRING)
    ]
    assert untyped == []


def test_every_default_is_valid_under_its_own_schema(crd: dict[str, Any]) -> None:
    for path, node in walk(schema_at(crd)):
        if "default" in node:
            assert check(node, node["default"], path) == [], path


def test_list_map_keys_are_required_or_defaulted_scalars(crd: dict[str, Any]) -> None:
    # The API server refuses a CRD whose list-map key may be missing (ports' protocol defaults to TCP).
    for path, node in walk(schema_at(crd)):
        for key in node.get(LIST_MAP_KEYS, ()):
            item = node["items"]
            assert key in item.get("required", ()) or "default" in item["properties"][key], path
            assert item["properties"][key]["type"] in ("string", "integer"), path


def test_every_field_is_described_for_kubectl_explain(crd: dict[str, Any]) -> None:
    undescribed = [
        path
        for path, node in walk(schema_at(crd, "spec"))
        if not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert undescribed == []


def test_yaml_output_round_trips(crd: dict[str, Any]) -> None:
    text = crd_yaml(crd)
    assert text.startswith("# ")
    assert yaml.safe_load(text) == crd


def test_pod_templates_embed_the_published_pod_spec_schema_as_upstreams_crd_does(crd: dict[str, Any]) -> None:
    for template in ("leaderTemplate", "workerTemplate"):
        spec = schema_at(crd, "spec", "leaderWorkerTemplate", template, "spec")
        assert spec["required"] == ["containers"]
        assert PRESERVE_UNKNOWN not in spec, "typed: unknown fields are pruned, wrong types refused"
        containers = spec["properties"]["containers"]
        assert (containers[LIST_MAP_KEYS], containers["x-kubernetes-list-type"]) == (["name"], "map")
        container = containers["items"]
        assert container["required"] == ["name"] and "default" not in container["properties"]["name"]
        ports = container["properties"]["ports"]
        assert ports[LIST_MAP_KEYS] == ["containerPort", "protocol"]
        assert ports["items"]["properties"]["protocol"]["default"] == "TCP", "a +default marker"
        assert "default" not in ports["items"]["properties"]["containerPort"], "required: no zero default"
        limits = container["properties"]["resources"]["properties"]["limits"]["additionalProperties"]
        assert limits[INT_OR_STRING] is True and limits["pattern"].startswith("^(\\+|-)?")
        assert "default" not in container["properties"]["resources"], "no {} defaults on structs"
        metadata = spec["properties"]["volumes"]["items"]["properties"]["ephemeral"]["properties"][
            "volumeClaimTemplate"
        ]["properties"]["metadata"]
        assert set(metadata["properties"]) == {"annotations", "finalizers", "labels", "name", "namespace"}
    claim = schema_at(crd, "spec", "leaderWorkerTemplate", "volumeClaimTemplates", "[]", "spec")
    assert "accessModes" in claim["properties"] and PRESERVE_UNKNOWN not in claim
    pod_defaults = {
        path.rsplit(".", 1)[-1]
        for path, node in walk(schema_at(crd))
        if "default" in node and _embedded_core_v1(path)
    }
    assert {"protocol", "fsType", "name", "service", "optional"} <= pod_defaults


def test_the_embedded_schema_comes_verbatim_from_a_published_kubernetes_document() -> None:
    info = source_info()
    assert info["kubernetes"] == "v1.37.2"
    assert info["document"] == "api/openapi-spec/v3/api__v1_openapi.json" and len(info["sha256"]) == 64
    schemas = definitions()
    assert closure(schemas, ROOTS) == dict(schemas), "closed under $ref, and nothing else in it"
    document = json.dumps({"components": {"schemas": dict(schemas)}}).encode()
    assert render(extract(document, "v1.37.2", info["document"]))[-2:] == "}\n"
    assert extract(document, "v1.37.2", info["document"])["schemas"] == dict(schemas)


def test_extraction_keeps_only_what_the_roots_reach() -> None:
    document = {
        "A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}},
        "B": {"properties": {"c": {"allOf": [{"$ref": "#/components/schemas/C"}]}}},
        "C": {"type": "string"},
        "unrelated": {"type": "integer"},
    }
    assert list(closure(document, ["A"])) == ["A", "B", "C"]
    with pytest.raises(KeyError, match="D is referenced but not defined"):
        closure({"A": {"$ref": "#/components/schemas/D"}}, ["A"])
