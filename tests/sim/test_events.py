"""One Event store behind both Event APIs, as in Kubernetes: an event written through ``events.k8s.io/v1`` is a
core/v1 Event too (and the other way round), with the fields converted (``note`` is ``message``,
``regarding`` is ``involvedObject``, ``deprecatedCount`` is ``count``...). That is what lets ``kubectl
describe`` and ``kubectl events`` show what an operator recorded with the newer API.

The tests use ``kube_api``, ``kubeconfig_path`` and ``test_namespace`` only, so they run unchanged against a
real cluster when LWS_TEST_KUBECONFIG is set.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from kubectl_cli import Kubectl
from kubernetes import client, watch


def _now(micro: bool = False) -> str:
    moment = datetime.datetime.now(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _config_map(kube_api: client.ApiClient, namespace: str, name: str) -> client.V1ConfigMap:
    return client.CoreV1Api(kube_api).create_namespaced_config_map(namespace, {"metadata": {"name": name}})


def _regarding(cm: client.V1ConfigMap) -> dict:
    meta = cm.metadata
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": meta.namespace,
        "name": meta.name,
        "uid": meta.uid,
    }


def _new_style_event(name: str, cm: client.V1ConfigMap, note: str = "recorded through events.k8s.io") -> dict:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name},
        "eventTime": _now(micro=True),
        "reportingController": "example.com/tester",
        "reportingInstance": "tester-1",
        "action": "Testing",
        "reason": "Tested",
        "type": "Normal",
        "regarding": _regarding(cm),
        "note": note,
    }


def test_an_events_k8s_io_event_is_a_core_event(kube_api, test_namespace):
    cm = _config_map(kube_api, test_namespace, "subject")
    client.EventsV1Api(kube_api).create_namespaced_event(test_namespace, _new_style_event("new-style", cm))
    core = client.CoreV1Api(kube_api)
    listed = core.list_namespaced_event(
        test_namespace, field_selector=f"involvedObject.name=subject,involvedObject.uid={cm.metadata.uid}"
    ).items
    assert [e.metadata.name for e in listed] == ["new-style"]
    event = core.read_namespaced_event("new-style", test_namespace)
    assert event.message == "recorded through events.k8s.io"
    assert (event.involved_object.kind, event.involved_object.name) == ("ConfigMap", "subject")
    assert event.reporting_component == "example.com/tester"
    assert (event.reason, event.type, event.action) == ("Tested", "Normal", "Testing")


def test_a_core_event_is_an_events_k8s_io_event(kube_api, test_namespace):
    cm = _config_map(kube_api, test_namespace, "subject")
    now = _now()
    body = {
        "metadata": {"name": "old-style"},
        "involvedObject": _regarding(cm),
        "reason": "Tested",
        "message": "recorded through core/v1",
        "type": "Warning",
        "source": {"component": "tester"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 3,
    }
    client.CoreV1Api(kube_api).create_namespaced_event(test_namespace, body)
    events = client.EventsV1Api(kube_api)
    # Read as JSON: a legacy event has no eventTime, which this client's model insists on.
    raw = events.read_namespaced_event("old-style", test_namespace, _preload_content=False)
    event = json.loads(raw.data)
    assert (event["apiVersion"], event["note"]) == ("events.k8s.io/v1", "recorded through core/v1")
    assert (event["regarding"]["kind"], event["regarding"]["name"]) == ("ConfigMap", "subject")
    assert event["deprecatedCount"] == 3
    assert event["deprecatedSource"] == {"component": "tester"}
    first, last = (_parse(event[f"deprecated{which}Timestamp"]) for which in ("First", "Last"))
    assert first == last == _parse(now)
    assert not {"message", "involvedObject", "count", "source", "firstTimestamp"} & set(event)
    selected = events.list_namespaced_event(
        test_namespace, field_selector="regarding.name=subject,type=Warning", _preload_content=False
    )
    assert [e["metadata"]["name"] for e in json.loads(selected.data)["items"]] == ["old-style"]


def test_both_apis_share_names_and_changes(kube_api, test_namespace):
    cm = _config_map(kube_api, test_namespace, "subject")
    events = client.EventsV1Api(kube_api)
    core = client.CoreV1Api(kube_api)
    events.create_namespaced_event(test_namespace, _new_style_event("shared", cm))
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_event(
            test_namespace, {"metadata": {"name": "shared"}, "involvedObject": _regarding(cm), "reason": "X"}
        )
    assert caught.value.status == 409
    core.patch_namespaced_event("shared", test_namespace, {"message": "changed through core/v1"})
    assert events.read_namespaced_event("shared", test_namespace).note == "changed through core/v1"
    events.delete_namespaced_event("shared", test_namespace)
    with pytest.raises(client.ApiException) as gone:
        core.read_namespaced_event("shared", test_namespace)
    assert gone.value.status == 404


def test_a_core_watch_sees_events_recorded_through_events_k8s_io(kube_api, test_namespace):
    cm = _config_map(kube_api, test_namespace, "subject")
    core = client.CoreV1Api(kube_api)
    rv = core.list_namespaced_event(test_namespace).metadata.resource_version
    client.EventsV1Api(kube_api).create_namespaced_event(test_namespace, _new_style_event("watched", cm))
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_event, test_namespace, resource_version=rv, timeout_seconds=10
    ):
        if event["object"].metadata.name == "watched":
            assert event["type"] == "ADDED"
            assert event["object"].message == "recorded through events.k8s.io"
            stream.stop()
            break
    else:
        pytest.fail("the core/v1 watch never saw the event")


def test_kubectl_describe_and_events_show_events_k8s_io_events(
    kube_api, kubeconfig_path: Path, test_namespace: str, tmp_path: Path
):
    cm = _config_map(kube_api, test_namespace, "subject")
    note = "the operator said so through events.k8s.io"
    client.EventsV1Api(kube_api).create_namespaced_event(
        test_namespace, _new_style_event("described", cm, note)
    )
    kubectl = Kubectl(kubeconfig_path, tmp_path, test_namespace)
    described = kubectl("describe", "configmap", "subject")
    events_section = described.split("Events:", 1)[1]
    assert "Tested" in events_section and note in events_section
    listed = kubectl("events", "--for", "configmap/subject")
    assert "Tested" in listed and note in listed
