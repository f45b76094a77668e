"""DELETE semantics: finalizers, preconditions, dry run, graceful pod deletion, garbage collection,
namespace lifecycle."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from kubernetes import client

from lws.sim.apiserver import APIServer
from lws.sim.causes import Cause
from lws.sim.controllers.namespaces import run_namespace_lifecycle
from lws.sim.errors import APIError, ignoring_not_found
from lws.sim.gc import run_garbage_collector
from lws.sim.testing import until, wait_until

CM = ("", "v1", "configmaps")
PODS = ("", "v1", "pods")
NS = ("", "v1", "namespaces")
MERGE = "application/merge-patch+json"


@pytest.fixture
async def api():
    """An API server with the garbage collector and the namespace controller running on this loop."""
    server = APIServer()
    server.bootstrap()
    tasks = [asyncio.create_task(run(server)) for run in (run_garbage_collector, run_namespace_lifecycle)]
    yield server
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _owned(name: str, owner: dict, *, block: bool = False) -> dict:
    ref = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    if block:
        ref["blockOwnerDeletion"] = True
    return {"metadata": {"name": name, "ownerReferences": [ref]}}


def _gone(api: APIServer, name: str, gvr=CM, namespace: str = "default"):
    return lambda: api.store.get((gvr[0], gvr[2]), namespace, name) is None


# -- finalizers and preconditions ------------------------------------------------------------------


def test_finalizer_holds_the_object_until_removed(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(
        test_namespace, {"metadata": {"name": "held", "finalizers": ["x.io/hold"]}}
    )
    core.delete_namespaced_config_map("held", test_namespace)
    marked = core.read_namespaced_config_map("held", test_namespace)
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.finalizers == ["x.io/hold"]
    core.patch_namespaced_config_map("held", test_namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_config_map("held", test_namespace)
    assert caught.value.status == 404


async def test_new_finalizers_cannot_be_added_while_deleting(api):
    await api.create(CM, "default", {"metadata": {"name": "d", "finalizers": ["a.io/x"]}})
    await api.delete(CM, "default", "d")
    with pytest.raises(APIError) as caught:
        await api.patch(CM, "default", "d", {"metadata": {"finalizers": ["a.io/x", "b.io/y"]}}, MERGE)
    assert caught.value.code == 422


async def test_delete_preconditions(api):
    created = await api.create(CM, "default", {"metadata": {"name": "p"}})
    for wrong in ({"uid": "not-the-uid"}, {"resourceVersion": "1"}):
        with pytest.raises(APIError) as caught:
            await api.delete(CM, "default", "p", preconditions=wrong)
        assert caught.value.code == 409
    meta = created["metadata"]
    await api.delete(
        CM, "default", "p", preconditions={"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}
    )
    assert api.store.get(("", "configmaps"), "default", "p") is None


def test_dry_run_writes_leave_no_trace(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    dry = core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    assert dry.metadata.name == "dry"
    with pytest.raises(client.ApiException):
        core.read_namespaced_config_map("dry", test_namespace)
    real = core.create_namespaced_config_map(
        test_namespace, {"metadata": {"name": "real"}, "data": {"a": "1"}}
    )
    core.patch_namespaced_config_map("real", test_namespace, {"data": {"a": "2"}}, dry_run="All")
    core.replace_namespaced_config_map(
        "real", test_namespace, {"metadata": {"name": "real"}, "data": {"a": "3"}}, dry_run="All"
    )
    core.delete_namespaced_config_map("real", test_namespace, dry_run="All")
    after = core.read_namespaced_config_map("real", test_namespace)
    assert after.data == {"a": "1"}
    assert after.metadata.resource_version == real.metadata.resource_version


# -- pods --------------------------------------------------------------------------------------------


def _pod(name: str, node: str | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "i"}], "terminationGracePeriodSeconds": 45}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


async def test_bound_pod_is_marked_with_its_grace_period():
    api = APIServer()
    api.bootstrap()
    await api.create(PODS, "default", _pod("bound", node="n1"))
    marked = await api.delete(PODS, "default", "bound")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 45
    assert marked["metadata"]["deletionTimestamp"]
    assert api.store.get(("", "pods"), "default", "bound") is not None
    await api.delete(PODS, "default", "bound", grace_period_seconds=0)
    assert api.store.get(("", "pods"), "default", "bound") is None


async def test_unbound_pod_and_grace_zero_go_at_once():
    api = APIServer()
    api.bootstrap()
    await api.create(PODS, "default", _pod("unbound"))
    await api.create(PODS, "default", _pod("forced", node="n1"))
    await api.delete(PODS, "default", "unbound")
    await api.delete(PODS, "default", "forced", grace_period_seconds=0)
    assert api.store.count(("", "pods")) == 0


async def test_eviction_deletes_the_pod_and_binding_sets_the_node():
    api = APIServer()
    api.bootstrap()
    await api.create(PODS, "default", _pod("e"))
    status = await api.create(
        PODS, "default", {"target": {"kind": "Node", "name": "n2"}}, subresource="binding", name="e"
    )
    assert status["status"] == "Success"
    bound = await api.get(PODS, "default", "e")
    assert bound["spec"]["nodeName"] == "n2"
    with pytest.raises(APIError) as caught:
        await api.create(PODS, "default", {"target": {"name": "n3"}}, subresource="binding", name="e")
    assert caught.value.code == 409
    evicted = await api.create(
        PODS, "default", {"deleteOptions": {"gracePeriodSeconds": 0}}, subresource="eviction", name="e"
    )
    assert evicted["code"] == 201
    assert api.store.get(("", "pods"), "default", "e") is None


# -- garbage collection ------------------------------------------------------------------------------


async def test_background_deletion_collects_dependents_of_dependents(api):
    top = await api.create(CM, "default", {"metadata": {"name": "top"}})
    middle = await api.create(CM, "default", _owned("middle", top))
    await api.create(CM, "default", _owned("bottom", middle))
    await api.delete(CM, "default", "top")
    assert api.store.get(("", "configmaps"), "default", "top") is None
    await until(
        api, lambda: _gone(api, "middle")() and _gone(api, "bottom")(), what="the chain to be collected"
    )


async def test_foreground_deletion_waits_for_blocking_dependents(api):
    owner = await api.create(CM, "default", {"metadata": {"name": "owner"}})
    await api.create(CM, "default", {**_owned("child", owner, block=True)})
    await api.patch(CM, "default", "child", {"metadata": {"finalizers": ["test.io/slow"]}}, MERGE)
    await api.delete(CM, "default", "owner", propagation_policy="Foreground")
    marked = api.store.get(("", "configmaps"), "default", "owner")
    assert marked is not None and "foregroundDeletion" in marked["metadata"]["finalizers"]
    await until(
        api,
        lambda: (
            (api.store.get(("", "configmaps"), "default", "child") or {})
            .get("metadata", {})
            .get("deletionTimestamp")
        ),
        what="the dependent to be deleted first",
    )
    assert api.store.get(("", "configmaps"), "default", "owner") is not None
    await api.patch(CM, "default", "child", {"metadata": {"finalizers": None}}, MERGE)
    await until(api, _gone(api, "owner"), what="the owner to go once its blocking dependent is gone")


async def test_foreground_deletion_survives_failed_finalizer_updates(api):
    """A finalizer-removing update the cluster refuses (a webhook down) is retried with back-off: nothing else
    changes meanwhile, so only the collector's own retries can finish the deletion."""
    refusals = 3
    attempts: list[str] = []

    def webhook_down(resource, obj, old):
        dropping = old is not None and "foregroundDeletion" in (old["metadata"].get("finalizers") or ())
        if dropping and "foregroundDeletion" not in (obj["metadata"].get("finalizers") or ()):
            attempts.append(obj["metadata"]["name"])
            if len(attempts) <= refusals:
                return [Cause("metadata.finalizers", "FieldValueForbidden", "Forbidden: the webhook is down")]
        return []

    api.validators.append(webhook_down)
    owner = await api.create(CM, "default", {"metadata": {"name": "owner"}})
    await api.create(CM, "default", {**_owned("child", owner, block=True)})
    await api.delete(CM, "default", "owner", propagation_policy="Foreground")
    await until(api, _gone(api, "owner"), what="the owner to go once the refused updates are retried")
    # The dependent went in foreground too, so its own finalizer removal met the refusals first.
    assert len(attempts) > refusals and attempts[-1] == "owner"
    assert _gone(api, "child")()


async def test_orphan_deletion_keeps_dependents_and_strips_the_reference(api):
    owner = await api.create(CM, "default", {"metadata": {"name": "parent"}})
    await api.create(CM, "default", _owned("kept", owner))
    await api.delete(CM, "default", "parent", propagation_policy="Orphan")
    await until(api, _gone(api, "parent"), what="the owner to go")
    kept = api.store.get(("", "configmaps"), "default", "kept")
    assert kept is not None and not kept["metadata"].get("ownerReferences")


async def test_dependents_of_an_owner_that_never_existed_are_collected(api):
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ghost", "uid": "no-such-uid"}}
    await api.create(CM, "default", _owned("stray", ghost))
    await until(api, _gone(api, "stray"), what="the stray dependent to be collected")


async def test_dependent_with_one_live_owner_survives(api):
    first = await api.create(CM, "default", {"metadata": {"name": "first"}})
    second = await api.create(CM, "default", {"metadata": {"name": "second"}})
    both = _owned("shared", first)
    both["metadata"]["ownerReferences"] += _owned("x", second)["metadata"]["ownerReferences"]
    await api.create(CM, "default", both)
    await api.delete(CM, "default", "first")
    await until(
        api,
        lambda: (
            len(api.store.get(("", "configmaps"), "default", "shared")["metadata"]["ownerReferences"]) == 1
        ),
        what="the dangling reference to be removed",
    )
    assert api.store.get(("", "configmaps"), "default", "shared") is not None


def test_background_gc_over_http(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "o"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "d", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("o", test_namespace, propagation_policy="Background")

    def dependent_gone() -> bool:
        try:
            core.read_namespaced_config_map("d", test_namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_until(dependent_gone, what="the dependent to be garbage collected")


# -- namespaces ----------------------------------------------------------------------------------------


async def test_initial_namespaces_exist(api):
    names = {ns["metadata"]["name"] for ns in (await api.list(NS))["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


async def test_namespace_deletion_empties_then_removes_it(api):
    await api.create(NS, None, {"metadata": {"name": "doomed"}})
    await api.create(CM, "doomed", {"metadata": {"name": "plain"}})
    await api.create(CM, "doomed", {"metadata": {"name": "sticky", "finalizers": ["t.io/x"]}})
    await api.delete(NS, None, "doomed")
    namespace = api.store.get(("", "namespaces"), "", "doomed")
    assert namespace["status"]["phase"] == "Terminating"
    with pytest.raises(APIError) as caught:
        await api.create(CM, "doomed", {"metadata": {"name": "late"}})
    assert caught.value.code == 403
    await until(api, _gone(api, "plain", namespace="doomed"), what="the namespace's content to be deleted")
    assert api.store.get(("", "namespaces"), "", "doomed") is not None  # the finalizer still holds one object
    await api.patch(CM, "doomed", "sticky", {"metadata": {"finalizers": None}}, MERGE)
    await until(api, _gone(api, "doomed", gvr=NS, namespace=""), what="the namespace to go")


async def test_ignoring_not_found_makes_deleting_a_missing_object_a_no_op_but_keeps_other_errors(api):
    with ignoring_not_found():
        await api.delete(CM, "default", "never-created")
    await api.create(CM, "default", {"metadata": {"name": "cm"}})
    with pytest.raises(APIError) as info, ignoring_not_found():
        await api.create(CM, "default", {"metadata": {"name": "cm"}})
    assert info.value.code == 409
