"""The watch history is a bounded window, as the API server's watch cache is: once enough changes have
happened, resuming a watch, an exact list or a continued list from before them answers 410 Expired.

Nothing here uses a fault or control endpoint: the window is set when the cluster is made
(``EmbeddedCluster(history_size=N)``) and the tests make changes until it slides. A real API server's window
grows with the rate of change (up to 102,400 events kept for 75 s), so only the embedded cluster can be
driven past it this quickly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, watch

from lws.sim.runner import EmbeddedCluster

pytestmark = pytest.mark.sim_only

WINDOW = 5


@pytest.fixture
def core(tmp_path: Path) -> Iterator[client.CoreV1Api]:
    with EmbeddedCluster(history_size=WINDOW) as cluster:
        api_client = config.new_client_from_config(str(cluster.write_kubeconfig(tmp_path / "kubeconfig")))  # type: ignore[no-untyped-call]
        try:
            yield client.CoreV1Api(api_client)
        finally:
            api_client.close()


def _changes(core: client.CoreV1Api, count: int, prefix: str = "c") -> None:
    for index in range(count):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"{prefix}{index}"}})


def _watch_from(core: client.CoreV1Api, rv: str) -> list[dict]:
    events = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=rv,
        timeout_seconds=1,
    ):
        events.append(event)
    return events


def test_a_watch_within_the_window_resumes_without_replay(core):
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    _changes(core, WINDOW)
    events = _watch_from(core, rv)
    assert [e["object"].metadata.name for e in events] == [f"c{i}" for i in range(WINDOW)]


def test_a_watch_from_before_the_window_answers_410_expired(core):
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    _changes(core, WINDOW + 1)
    with pytest.raises(client.ApiException) as caught:
        _watch_from(core, rv)
    assert caught.value.status == 410
    # The watch stream carried the Status (as an ERROR event) with the watch cache's wording.
    assert "too old resource version" in str(caught.value.reason) + str(caught.value.body)


def test_the_window_is_per_resource(core):
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    for index in range(3 * WINDOW):  # changes to secrets do not push configmap events out
        core.create_namespaced_secret("default", {"metadata": {"name": f"s{index}"}})
    _changes(core, 1)
    assert [e["object"].metadata.name for e in _watch_from(core, rv)] == ["c0"]


def test_an_exact_list_from_before_the_window_answers_410(core):
    _changes(core, 1, prefix="first")
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    assert [
        i.metadata.name
        for i in core.list_namespaced_config_map(
            "default", resource_version=rv, resource_version_match="Exact"
        ).items
    ] == ["first0", "kube-root-ca.crt"]
    _changes(core, WINDOW + 1)
    with pytest.raises(client.ApiException) as caught:
        core.list_namespaced_config_map("default", resource_version=rv, resource_version_match="Exact")
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (410, "Expired")
    assert status["message"] == "The resourceVersion for the provided list is too old."
    # NotOlderThan needs no history: it is served from the current state.
    fresh = core.list_namespaced_config_map(
        "default", resource_version=rv, resource_version_match="NotOlderThan"
    )
    assert len(fresh.items) == WINDOW + 3  # kube-root-ca.crt too


def test_a_continue_token_from_before_the_window_answers_410(core):
    _changes(core, 3, prefix="page")
    first = core.list_namespaced_config_map("default", limit=1)
    assert first.metadata._continue
    _changes(core, WINDOW + 1)
    with pytest.raises(client.ApiException) as caught:
        core.list_namespaced_config_map("default", limit=1, _continue=first.metadata._continue)
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (410, "Expired")
    assert status["message"].startswith("The provided continue parameter is too old")
