"""Deeply nested request bodies: Kubernetes' JSON decoder accepts objects nested up to 10,000 levels and
refuses deeper ones with 400 BadRequest ("exceeded max depth"); the embedded cluster answers the same beyond
10,000, handles a few hundred levels itself, and between the two answers 413 with a message saying so, never
a 500. (Python's recursion limit is process-wide: raising it for the cluster's sake would let other threads
overflow the C stack instead of raising RecursionError.)

The bodies are sent as raw bytes through the official client's connection pool (the client's own serialiser
is recursive), so the portable tests run unchanged against a real cluster when LWS_TEST_KUBECONFIG is set.
"""

from __future__ import annotations

import json

import pytest
from kubernetes import client

MAX_DEPTH = 10_000


def _nested_config_map(name: str, depth: int) -> bytes:
    """A ConfigMap whose unknown field ``x`` brings its deepest nesting (the object itself counted) to ``depth``."""
    inner = depth - 1
    head = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})[:-1]
    return (head + ',"x":' + '{"a":' * inner + "1" + "}" * inner + "}").encode()


def _post(kube_api: client.ApiClient, path: str, body: bytes) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    kube_api.update_params_for_auth(headers, [], ["BearerToken"], path, "POST", None)
    response = kube_api.rest_client.pool_manager.request(
        "POST", kube_api.configuration.host + path, body=body, headers=headers, timeout=120
    )
    return response.status, response.data


@pytest.mark.parametrize("depth", [100, 500, 800])
def test_bodies_nested_up_to_the_limit_are_decoded(kube_api, test_namespace, depth):
    name = f"deep-{depth}"
    status, body = _post(
        kube_api, f"/api/v1/namespaces/{test_namespace}/configmaps", _nested_config_map(name, depth)
    )
    assert status == 201, body[:500]
    assert client.CoreV1Api(kube_api).read_namespaced_config_map(name, test_namespace).metadata.name == name


def test_a_body_nested_beyond_the_limit_is_a_bad_request(kube_api, test_namespace):
    status, body = _post(
        kube_api,
        f"/api/v1/namespaces/{test_namespace}/configmaps",
        _nested_config_map("too-deep", MAX_DEPTH + 1),
    )
    answer = json.loads(body)
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert "exceeded max depth" in answer["message"]
    with pytest.raises(client.ApiException) as caught:
        client.CoreV1Api(kube_api).read_namespaced_config_map("too-deep", test_namespace)
    assert caught.value.status == 404


def test_brackets_inside_strings_do_not_count_as_nesting(kube_api, test_namespace):
    brackets = "{[" * MAX_DEPTH
    body = json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "strings"}, "data": {"b": brackets}}
    ).encode()
    status, answer = _post(kube_api, f"/api/v1/namespaces/{test_namespace}/configmaps", body)
    assert status == 201, answer[:500]
    read = client.CoreV1Api(kube_api).read_namespaced_config_map("strings", test_namespace)
    assert read.data == {"b": brackets}


@pytest.mark.sim_only
def test_deeper_than_the_embedded_cluster_handles_is_a_clear_4xx(kube_api, test_namespace):
    status, body = _post(
        kube_api, f"/api/v1/namespaces/{test_namespace}/configmaps", _nested_config_map("deep", MAX_DEPTH)
    )
    answer = json.loads(body)
    assert (status, answer["reason"]) == (413, "RequestEntityTooLarge")
    assert "nests too deeply for the embedded cluster" in answer["message"]
    assert "Kubernetes takes up to 10,000" in answer["message"]
