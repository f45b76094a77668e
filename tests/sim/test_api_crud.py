"""CRUD through the official client: identity metadata, optimistic concurrency, generation, namespaces.

These tests use ``kube_api`` and ``test_namespace`` only, so they run unchanged against a real cluster when
LWS_TEST_KUBECONFIG is set.
"""

from __future__ import annotations

import pytest
from kubernetes import client


def _pod(name: str, image: str = "busybox:1") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def _sts(name: str, replicas: int = 1) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }


def test_create_stamps_identity_metadata(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    created = core.create_namespaced_config_map(
        test_namespace, {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp is not None
    assert int(meta.resource_version) > 0
    assert meta.namespace == test_namespace
    read = core.read_namespaced_config_map("settings", test_namespace)
    assert read.metadata.resource_version == meta.resource_version
    assert read.data == {"a": "1"}


def test_create_twice_is_already_exists(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "twice"}})
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "twice"}})
    assert caught.value.status == 409
    assert '"reason":"AlreadyExists"' in caught.value.body.replace(" ", "")


def test_get_missing_is_not_found_status(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_config_map("absent", test_namespace)
    assert caught.value.status == 404
    body = caught.value.body
    assert '"kind":"Status"' in body.replace(" ", "") and "NotFound" in body


def test_generate_name_appends_a_suffix(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    created = core.create_namespaced_config_map(test_namespace, {"metadata": {"generateName": "job-"}})
    assert created.metadata.name.startswith("job-") and len(created.metadata.name) == len("job-") + 5


def test_resource_version_increases_on_every_write(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    first = core.create_namespaced_config_map(
        test_namespace, {"metadata": {"name": "rv"}, "data": {"n": "1"}}
    )
    second = core.patch_namespaced_config_map("rv", test_namespace, {"data": {"n": "2"}})
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)


def test_update_with_stale_resource_version_conflicts(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    original = core.create_namespaced_config_map(
        test_namespace, {"metadata": {"name": "cas"}, "data": {"v": "0"}}
    )
    core.patch_namespaced_config_map("cas", test_namespace, {"data": {"v": "1"}})
    stale = original.to_dict()
    stale["data"] = {"v": "stale"}
    stale_body = {
        "metadata": {"name": "cas", "resourceVersion": original.metadata.resource_version},
        "data": {"v": "x"},
    }
    with pytest.raises(client.ApiException) as caught:
        core.replace_namespaced_config_map("cas", test_namespace, stale_body)
    assert caught.value.status == 409
    assert "Conflict" in caught.value.body


def test_update_without_resource_version_is_unconditional(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "blind"}, "data": {"v": "0"}})
    core.patch_namespaced_config_map("blind", test_namespace, {"data": {"v": "1"}})
    replaced = core.replace_namespaced_config_map(
        "blind", test_namespace, {"metadata": {"name": "blind"}, "data": {"v": "2"}}
    )
    assert replaced.data == {"v": "2"}


def test_generation_counts_spec_changes_only(kube_api, test_namespace):
    apps = client.AppsV1Api(kube_api)
    created = apps.create_namespaced_stateful_set(test_namespace, _sts("web"))
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_stateful_set("web", test_namespace, {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    scaled = apps.patch_namespaced_stateful_set("web", test_namespace, {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2


def test_status_is_ignored_on_main_resource_writes(kube_api, test_namespace):
    apps = client.AppsV1Api(kube_api)
    apps.create_namespaced_stateful_set(test_namespace, _sts("db"))
    patched = apps.patch_namespaced_stateful_set("db", test_namespace, {"status": {"replicas": 7}})
    # The StatefulSet controller may have written a status meanwhile; the patch's value must not be it.
    assert patched.status is None or patched.status.replicas != 7
    via_status = apps.patch_namespaced_stateful_set_status("db", test_namespace, {"status": {"replicas": 7}})
    assert via_status.status.replicas == 7
    assert via_status.metadata.generation == 1


def test_label_selector_filters_lists(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        core.create_namespaced_config_map(
            test_namespace, {"metadata": {"name": name, "labels": {"tier": tier}}}
        )

    def names(selector):
        listed = core.list_namespaced_config_map(test_namespace, label_selector=selector)
        return sorted(item.metadata.name for item in listed.items)

    assert names("tier=web") == ["a", "c"]
    assert names("tier in (db)") == ["b"]
    # Objects without the label match != and !: kube-root-ca.crt is in every namespace.
    assert names("tier!=web") == ["b", "kube-root-ca.crt"]
    assert names("tier") == ["a", "b", "c"]
    assert names("!tier") == ["kube-root-ca.crt"]


def test_create_in_missing_namespace_is_not_found(kube_api):
    core = client.CoreV1Api(kube_api)
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_config_map("no-such-namespace", {"metadata": {"name": "x"}})
    assert caught.value.status == 404


def test_delete_returns_pod_and_status_for_configmap(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(test_namespace, _pod("gone"))
    deleted_pod = core.delete_namespaced_pod("gone", test_namespace)
    assert deleted_pod.metadata.name == "gone"
    core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "gone"}})
    status = core.delete_namespaced_config_map("gone", test_namespace)
    assert status["status"] == "Success"
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_config_map("gone", test_namespace)
    assert caught.value.status == 404


async def test_asyncio_client_reads_and_writes(kube_aio_api, test_namespace):
    from kubernetes.aio import client as aio_client

    core = aio_client.CoreV1Api(kube_aio_api)
    await core.create_namespaced_config_map(test_namespace, {"metadata": {"name": "aio"}, "data": {"a": "1"}})
    read = await core.read_namespaced_config_map("aio", test_namespace)
    assert read.data == {"a": "1"}
