"""EmbeddedCluster as a library: its own thread and loop, thread-safe wrappers, restart, kubeconfig."""

from __future__ import annotations

import urllib.request

import pytest
import yaml

from lws.sim.errors import APIError
from lws.sim.runner import ClusterError, EmbeddedCluster

pytestmark = pytest.mark.sim_only

CM = ("", "v1", "configmaps")


def test_start_returns_once_http_answers_and_stop_closes_the_port():
    cluster = EmbeddedCluster().start()
    url = cluster.url
    with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
        assert response.read() == b"ok"
    cluster.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/readyz", timeout=5)


def test_cluster_runs_on_its_own_thread_and_loop(embedded_cluster):
    thread_of_loop = embedded_cluster.call(_thread_name())
    assert thread_of_loop.startswith("lws-sim")


async def _thread_name() -> str:
    import threading

    return threading.current_thread().name


def test_sync_wrappers_round_trip_and_raise_api_errors(embedded_cluster):
    created = embedded_cluster.sync.create(CM, "default", {"metadata": {"name": "s"}, "data": {"a": "1"}})
    assert embedded_cluster.sync.get(CM, "default", "s")["metadata"]["uid"] == created["metadata"]["uid"]
    embedded_cluster.sync.patch(CM, "default", "s", {"data": {"a": "2"}}, "application/merge-patch+json")
    assert embedded_cluster.sync.get(CM, "default", "s")["data"] == {"a": "2"}
    embedded_cluster.sync.delete(CM, "default", "s")
    with pytest.raises(APIError) as caught:
        embedded_cluster.sync.get(CM, "default", "s")
    assert caught.value.code == 404


async def test_async_wrappers_and_watch_from_another_loop(embedded_cluster):
    stream = embedded_cluster.aio.watch(
        CM, "default", resource_version=str(embedded_cluster.api.store.resource_version)
    )
    await embedded_cluster.aio.create(CM, "default", {"metadata": {"name": "from-test-loop"}})
    async for event in stream:
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "from-test-loop")
        break
    with pytest.raises(APIError) as caught:
        async for _ in embedded_cluster.aio.watch(CM, "default", label_selector="bad in ("):
            pass
    assert caught.value.code == 400


def test_sync_wrapper_on_the_cluster_loop_refuses_instead_of_deadlocking(embedded_cluster):
    async def misuse() -> None:
        embedded_cluster.sync.list(CM, "default")

    with pytest.raises(ClusterError, match="deadlock"):
        embedded_cluster.call(misuse())


def test_a_stopped_cluster_can_start_again_with_its_objects():
    cluster = EmbeddedCluster()
    with cluster:
        cluster.sync.create(CM, "default", {"metadata": {"name": "kept"}})
    with cluster:
        # kube-root-ca.crt is in every namespace, as kube-controller-manager puts it there.
        names = [i["metadata"]["name"] for i in cluster.sync.list(CM, "default")["items"]]
        assert names == ["kept", "kube-root-ca.crt"]


def test_kubeconfig_points_its_current_context_at_the_cluster(embedded_cluster, tmp_path):
    path = embedded_cluster.write_kubeconfig(tmp_path / "nested" / "kubeconfig")
    document = yaml.safe_load(path.read_text())
    context = {c["name"]: c["context"] for c in document["contexts"]}[document["current-context"]]
    server = {c["name"]: c["cluster"] for c in document["clusters"]}[context["cluster"]]["server"]
    assert server == embedded_cluster.url
    assert path.stat().st_mode & 0o777 == 0o600


def test_using_a_cluster_that_is_not_running_is_an_error():
    with pytest.raises(ClusterError, match="start"):
        EmbeddedCluster().sync.list(CM, "default")


def test_two_clusters_are_independent():
    with EmbeddedCluster() as first, EmbeddedCluster() as second:
        first.sync.create(CM, "default", {"metadata": {"name": "only-in-first"}})
        assert [i["metadata"]["name"] for i in second.sync.list(CM, "default")["items"]] == [
            "kube-root-ca.crt"
        ]
        assert first.port != second.port


def test_call_propagates_exceptions(embedded_cluster):
    async def fail() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        embedded_cluster.call(fail())
