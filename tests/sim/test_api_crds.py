"""CustomResourceDefinitions: what installing one teaches the server, and what deleting one takes away."""

from __future__ import annotations

import copy
import json
import re
import uuid

import pytest
from kubernetes import client

from lws.sim.testing import wait_until

GROUP = "example.com"


def _crd(plural: str, *, kind: str, printer: bool = True) -> dict:
    version: dict = {
        "name": "v1",
        "served": True,
        "storage": True,
        "subresources": {
            "status": {},
            "scale": {
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector",
            },
        },
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "properties": {
                            "replicas": {"type": "integer", "default": 1, "minimum": 0},
                            "color": {"type": "string", "enum": ["red", "blue"]},
                        },
                    },
                    "status": {
                        "type": "object",
                        "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}},
                    },
                },
            }
        },
    }
    if printer:
        version["additionalPrinterColumns"] = [
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "shortNames": [plural[:3]]},
            "versions": [version],
        },
    }


@pytest.fixture
def crd(kube_api):
    """A fresh CRD (unique plural, so tests can share a real cluster), removed afterwards."""
    suffix = uuid.uuid4().hex[:6]
    plural, kind = f"gadgets{suffix}", f"Gadget{suffix}"
    ext = client.ApiextensionsV1Api(kube_api)
    ext.create_custom_resource_definition(_crd(plural, kind=kind))

    def established() -> bool:
        status = ext.read_custom_resource_definition(f"{plural}.{GROUP}").status
        return any(c.type == "Established" and c.status == "True" for c in (status.conditions or []))

    # A real API server establishes a CRD asynchronously: a second or two, longer on a busy machine.
    wait_until(established, timeout=60, what="the CRD to be established")
    yield {"plural": plural, "kind": kind}
    try:
        ext.delete_custom_resource_definition(f"{plural}.{GROUP}")
    except client.ApiException as exc:
        if exc.status != 404:
            raise


def _object(crd: dict, name: str, spec: dict) -> dict:
    return {"apiVersion": f"{GROUP}/v1", "kind": crd["kind"], "metadata": {"name": name}, "spec": spec}


def test_crd_reports_accepted_names_and_established(kube_api, crd):
    status = (
        client.ApiextensionsV1Api(kube_api).read_custom_resource_definition(f"{crd['plural']}.{GROUP}").status
    )
    types = {c.type: c.status for c in status.conditions}
    assert types["Established"] == "True" and types["NamesAccepted"] == "True"
    assert status.accepted_names.kind == crd["kind"]
    assert status.stored_versions == ["v1"]


def test_crd_resources_appear_in_discovery(kube_api, crd):
    resources = client.CustomObjectsApi(kube_api).get_api_resources(GROUP, "v1")
    by_name = {r.name: r for r in resources.resources}
    assert by_name[crd["plural"]].kind == crd["kind"]
    assert by_name[crd["plural"]].short_names == [crd["plural"][:3]]
    assert f"{crd['plural']}/status" in by_name and f"{crd['plural']}/scale" in by_name


def test_custom_objects_are_defaulted_pruned_and_validated(kube_api, test_namespace, crd):
    objects = client.CustomObjectsApi(kube_api)
    created = objects.create_namespaced_custom_object(
        GROUP, "v1", test_namespace, crd["plural"], _object(crd, "one", {"color": "red", "unknown": 1})
    )
    assert created["spec"] == {"color": "red", "replicas": 1}
    assert created["metadata"]["generation"] == 1
    with pytest.raises(client.ApiException) as caught:
        objects.create_namespaced_custom_object(
            GROUP,
            "v1",
            test_namespace,
            crd["plural"],
            _object(crd, "bad", {"replicas": -1, "color": "green"}),
        )
    assert caught.value.status == 422
    fields = {cause["field"] for cause in json.loads(caught.value.body)["details"]["causes"]}
    # The scale subresource's own check names its specReplicasPath as written, leading dot included.
    assert fields == {"spec.replicas", "spec.color", ".spec.replicas"}


def test_status_subresource_separates_spec_and_status(kube_api, test_namespace, crd):
    objects = client.CustomObjectsApi(kube_api)
    args = (GROUP, "v1", test_namespace, crd["plural"])
    body = _object(crd, "two", {"color": "blue"})
    body["status"] = {"replicas": 9}
    created = objects.create_namespaced_custom_object(*args, body)
    assert "status" not in created  # creating cannot set status
    ignored = objects.patch_namespaced_custom_object(*args, "two", {"status": {"replicas": 5}})
    assert "status" not in ignored
    via_status = objects.patch_namespaced_custom_object_status(
        *args, "two", {"status": {"replicas": 5}, "spec": {"color": "red"}}
    )
    assert via_status["status"] == {"replicas": 5}
    assert via_status["spec"]["color"] == "blue"
    assert via_status["metadata"]["generation"] == 1
    spec_change = objects.patch_namespaced_custom_object(*args, "two", {"spec": {"color": "red"}})
    assert spec_change["metadata"]["generation"] == 2


def test_scale_subresource_maps_replicas_and_selector(kube_api, test_namespace, crd):
    objects = client.CustomObjectsApi(kube_api)
    args = (GROUP, "v1", test_namespace, crd["plural"])
    objects.create_namespaced_custom_object(*args, _object(crd, "three", {"replicas": 2}))
    objects.patch_namespaced_custom_object_status(
        *args, "three", {"status": {"replicas": 2, "selector": "app=x"}}
    )
    scale = objects.get_namespaced_custom_object_scale(*args, "three")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 2 and scale["status"] == {"replicas": 2, "selector": "app=x"}
    objects.patch_namespaced_custom_object_scale(*args, "three", {"spec": {"replicas": 4}})
    assert objects.get_namespaced_custom_object(*args, "three")["spec"]["replicas"] == 4


def test_strategic_merge_patch_on_a_custom_resource_is_415(kube_api, test_namespace, crd):
    objects = client.CustomObjectsApi(kube_api)
    objects.create_namespaced_custom_object(
        GROUP, "v1", test_namespace, crd["plural"], _object(crd, "four", {"replicas": 1})
    )
    url = f"{kube_api.configuration.host}/apis/{GROUP}/v1/namespaces/{test_namespace}/{crd['plural']}/four"
    response = kube_api.rest_client.pool_manager.request(
        "PATCH",
        url,
        body=b'{"spec":{"replicas":2}}',
        headers={"Content-Type": "application/strategic-merge-patch+json", "Accept": "application/json"},
    )
    assert response.status == 415


def test_table_output_uses_additional_printer_columns(kube_api, test_namespace, crd):
    objects = client.CustomObjectsApi(kube_api)
    objects.create_namespaced_custom_object(
        GROUP, "v1", test_namespace, crd["plural"], _object(crd, "five", {"replicas": 3, "color": "red"})
    )
    url = f"{kube_api.configuration.host}/apis/{GROUP}/v1/namespaces/{test_namespace}/{crd['plural']}"
    response = kube_api.rest_client.pool_manager.request(
        "GET", url, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    )
    table = json.loads(response.data)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Replicas", "Color", "Age"]
    (row,) = table["rows"]
    assert row["cells"][:3] == ["five", 3, "red"]
    # A date column is an age, rendered by the server as Kubernetes does ("0s", "5m", "3d"), not a timestamp.
    assert re.fullmatch(r"\d+[smhdy]", row["cells"][3]), row["cells"][3]
    assert row["object"]["kind"] == "PartialObjectMetadata"


def test_deleting_the_crd_deletes_its_objects_and_stops_serving(embedded_api):
    ext = client.ApiextensionsV1Api(embedded_api)
    definition = _crd("doomeds", kind="Doomed")
    ext.create_custom_resource_definition(copy.deepcopy(definition))
    objects = client.CustomObjectsApi(embedded_api)
    objects.create_namespaced_custom_object(
        GROUP, "v1", "default", "doomeds", _object({"kind": "Doomed"}, "d1", {"replicas": 1})
    )
    ext.delete_custom_resource_definition("doomeds.example.com")

    def gone() -> bool:
        try:
            objects.list_namespaced_custom_object(GROUP, "v1", "default", "doomeds")
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(gone, timeout=60, what="the CRD's resource to stop being served")
    with pytest.raises(client.ApiException) as caught:
        ext.read_custom_resource_definition("doomeds.example.com")
    assert caught.value.status == 404
    # Recreating the CRD finds no leftover objects.
    ext.create_custom_resource_definition(copy.deepcopy(definition))
    assert objects.list_namespaced_custom_object(GROUP, "v1", "default", "doomeds")["items"] == []


def test_invalid_crd_is_rejected(embedded_api):
    broken = _crd("brokens", kind="Broken")
    broken["metadata"]["name"] = "wrong-name"
    with pytest.raises(client.ApiException) as caught:
        client.ApiextensionsV1Api(embedded_api).create_custom_resource_definition(broken)
    assert caught.value.status == 422
