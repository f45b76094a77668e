"""List semantics: pagination with consistent snapshots, resourceVersion/resourceVersionMatch, field selectors."""

from __future__ import annotations

import pytest
from kubernetes import client

from lws.sim.apiserver import APIServer
from lws.sim.errors import APIError
from lws.sim.store import Store

CM = ("", "v1", "configmaps")


@pytest.fixture
def api() -> APIServer:
    server = APIServer()
    server.bootstrap()
    return server


def test_limit_and_continue_page_through_everything(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    for index in range(7):
        core.create_namespaced_config_map(test_namespace, {"metadata": {"name": f"cm-{index}"}})
    names: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(test_namespace, limit=3, _continue=token)
        pages += 1
        names += [item.metadata.name for item in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 8 - len(names)
    assert pages == 3
    # Every namespace also holds kube-root-ca.crt, as kube-controller-manager puts it there.
    assert names == sorted([*(f"cm-{i}" for i in range(7)), "kube-root-ca.crt"])


def test_list_items_carry_kind_and_api_version_and_the_list_a_resource_version(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "one"}})
    listed = core.list_namespaced_config_map(test_namespace)
    assert listed.metadata.resource_version
    assert listed.kind == "ConfigMapList" and listed.api_version == "v1"


async def test_list_items_are_complete_objects(api):
    await api.create(CM, "default", {"metadata": {"name": "one"}})
    listed = await api.list(CM, "default")
    assert listed["kind"] == "ConfigMapList"
    assert listed["items"][0]["kind"] == "ConfigMap" and listed["items"][0]["apiVersion"] == "v1"


async def test_pages_come_from_the_snapshot_of_the_first_page(api):
    for index in range(4):
        await api.create(CM, "default", {"metadata": {"name": f"n{index}"}})
    first = await api.list(CM, "default", limit=2)
    await api.delete(CM, "default", "n3")
    await api.create(CM, "default", {"metadata": {"name": "n9"}})
    second = await api.list(CM, "default", limit=2, continue_=first["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in second["items"]] == ["n2", "n3"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


async def test_continue_token_older_than_history_is_410():
    api = APIServer(store=Store(history_size=2))
    api.bootstrap()
    for index in range(3):
        await api.create(CM, "default", {"metadata": {"name": f"n{index}"}})
    first = await api.list(CM, "default", limit=1)
    for index in range(3, 10):
        await api.create(CM, "default", {"metadata": {"name": f"n{index}"}})
    with pytest.raises(APIError) as caught:
        await api.list(CM, "default", limit=1, continue_=first["metadata"]["continue"])
    assert caught.value.code == 410 and caught.value.reason == "Expired"


async def test_damaged_continue_token_is_400(api):
    with pytest.raises(APIError) as caught:
        await api.list(CM, "default", limit=1, continue_="not-a-token")
    assert caught.value.code == 400


async def test_exact_resource_version_lists_the_past(api):
    await api.create(CM, "default", {"metadata": {"name": "a"}, "data": {"v": "1"}})
    then = api.store.resource_version
    await api.patch(CM, "default", "a", {"data": {"v": "2"}}, "application/merge-patch+json")
    await api.create(CM, "default", {"metadata": {"name": "b"}})
    past = await api.list(CM, "default", resource_version=str(then), resource_version_match="Exact")
    assert [(i["metadata"]["name"], i["data"]) for i in past["items"]] == [("a", {"v": "1"})]
    assert past["metadata"]["resourceVersion"] == str(then)


async def test_not_older_than_returns_current_state(api):
    await api.create(CM, "default", {"metadata": {"name": "a"}})
    then = api.store.resource_version
    await api.create(CM, "default", {"metadata": {"name": "b"}})
    current = await api.list(CM, "default", resource_version=str(then), resource_version_match="NotOlderThan")
    assert len(current["items"]) == 2


async def test_resource_version_in_the_future_times_out(api):
    with pytest.raises(APIError) as caught:
        await api.list(CM, "default", resource_version="999999")
    assert caught.value.code == 504


async def test_resource_version_match_without_version_is_400(api):
    with pytest.raises(APIError) as caught:
        await api.list(CM, "default", resource_version_match="Exact")
    assert caught.value.code == 400


async def test_field_selectors_on_pods(api):
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    await api.create(("", "v1", "pods"), "default", pod)
    await api.create(("", "v1", "pods"), "default", {**pod, "metadata": {"name": "q"}})
    await api.create(
        ("", "v1", "pods"),
        "default",
        {"target": {"kind": "Node", "name": "node-1"}},
        subresource="binding",
        name="q",
    )
    on_node = await api.list(("", "v1", "pods"), field_selector="spec.nodeName=node-1")
    assert [p["metadata"]["name"] for p in on_node["items"]] == ["q"]
    pending = await api.list(
        ("", "v1", "pods"), "default", field_selector="status.phase=Pending,metadata.name!=q"
    )
    assert [p["metadata"]["name"] for p in pending["items"]] == ["p"]


async def test_unsupported_field_selector_is_400(api):
    with pytest.raises(APIError) as caught:
        await api.list(CM, "default", field_selector="data.x=y")
    assert caught.value.code == 400


async def test_cluster_wide_list_spans_namespaces(api):
    await api.create(("", "v1", "namespaces"), None, {"metadata": {"name": "other"}})
    await api.create(CM, "default", {"metadata": {"name": "a"}})
    await api.create(CM, "other", {"metadata": {"name": "b"}})
    everything = await api.list(CM)
    assert sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in everything["items"]) == [
        ("default", "a"),
        ("other", "b"),
    ]
