"""Pod and node faults over the runner's ``/sim/v1/faults`` control routes, on a real EmbeddedCluster."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lws.sim.runner import EmbeddedCluster

PODS = ("", "v1", "pods")
STATEFULSETS = ("apps", "v1", "statefulsets")


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(topology="tiny") as running:
        yield running


def post(cluster: EmbeddedCluster, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{cluster.url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_pod(cluster: EmbeddedCluster, name: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Block until the pod satisfies ``check``, following the cluster's store from its own loop."""
    found = threading.Event()
    seen: dict[str, Any] = {}

    async def follow() -> None:
        store = cluster.api.store
        done = cluster.loop.create_future()

        def consider(pod: dict[str, Any] | None) -> None:
            if pod is not None and pod["metadata"]["name"] == name and check(pod) and not done.done():
                seen["pod"] = pod
                done.set_result(None)

        def listener(gr: Any, event: Any) -> None:
            if gr == ("", "pods") and event.type != "DELETED":
                consider(event.obj)

        store.add_listener(listener)
        try:
            consider(store.get(("", "pods"), "default", name))
            await done
        finally:
            store.remove_listener(listener)
        found.set()

    cluster.call(follow(), timeout=15)
    assert found.is_set()
    return seen["pod"]


def ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or []
    )


def test_fault_routes(cluster: EmbeddedCluster):
    body = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    cluster.sync.create(STATEFULSETS, "default", body)
    first = wait_pod(cluster, "web-0", ready)

    code, result = post(
        cluster, "/sim/v1/faults/pods/restart-container", {"namespace": "default", "pod": "web-0"}
    )
    assert (code, result["container"]) == (201, "c")
    wait_pod(
        cluster, "web-0", lambda p: ready(p) and p["status"]["containerStatuses"][0]["restartCount"] == 1
    )

    node = first["spec"]["nodeName"]
    code, result = post(cluster, "/sim/v1/faults/nodes/fail", {"node": node})
    assert (code, result["pods"]) == (201, ["web-0"])
    moved = wait_pod(cluster, "web-0", lambda p: ready(p) and p["spec"]["nodeName"] != node)
    assert moved["metadata"]["uid"] != first["metadata"]["uid"]
    code, result = post(cluster, "/sim/v1/faults/nodes/recover", {"node": node})
    assert code == 201

    code, result = post(
        cluster, "/sim/v1/faults/pods/restart-container", {"namespace": "default", "pod": "nope"}
    )
    assert (code, result["reason"]) == (404, "NotFound")
    assert "pod default/nope does not exist" in result["message"]
    code, result = post(cluster, "/sim/v1/faults/nodes/recover", {"node": node})
    assert (code, result["reason"]) == (409, "Conflict")
    code, result = post(cluster, "/sim/v1/faults/nodes/fail", {"nodeName": node})
    assert (code, result["reason"]) == (400, "BadRequest")
