"""Watch semantics: initial events, resume without replay, selectors, bookmarks, timeouts, 410 Gone."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes import client, watch

from lws.sim.apiserver import APIServer
from lws.sim.store import Store

CM = ("", "v1", "configmaps")


def _cm(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "data": {}}


async def _collect(stream, count: int, timeout: float = 5.0) -> list[dict]:
    events: list[dict] = []

    async def take() -> None:
        async for event in stream:
            events.append(event)
            if len(events) == count:
                return

    await asyncio.wait_for(take(), timeout)
    return events


@pytest.fixture
def api() -> APIServer:
    server = APIServer()
    server.bootstrap()
    return server


def test_watch_without_resource_version_lists_then_follows(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(test_namespace, _cm("before"))
    seen = []
    w = watch.Watch()
    # Stopping drains the stream until the server ends it, so keep the server-side timeout short.
    for event in w.stream(core.list_namespaced_config_map, test_namespace, timeout_seconds=2):
        if event["object"].metadata.name == "kube-root-ca.crt":
            continue  # in every namespace, as kube-controller-manager puts it there
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 1:
            core.create_namespaced_config_map(test_namespace, _cm("after"))
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "before"), ("ADDED", "after")]


def test_watch_resumes_after_resource_version_without_replay(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(test_namespace, _cm("old"))
    listed = core.list_namespaced_config_map(test_namespace)
    core.patch_namespaced_config_map("old", test_namespace, {"data": {"k": "v"}})
    core.create_namespaced_config_map(test_namespace, _cm("new"))
    seen = []
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_config_map,
        test_namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=2,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    assert seen == [("MODIFIED", "old"), ("ADDED", "new")]


def test_server_ends_the_stream_after_timeout_seconds(kube_api, test_namespace):
    core = client.CoreV1Api(kube_api)
    listed = core.list_namespaced_config_map(test_namespace)
    # The client relies on the server closing the stream; if it did not, this loop would never end.
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            test_namespace,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    assert events == []


async def test_a_waiting_watcher_wakes_on_a_change(api):
    stream = api.watch(CM, "default", resource_version=str(api.store.resource_version))

    async def first_event() -> dict:
        async for event in stream:
            return event
        raise AssertionError("the stream ended without an event")

    watcher = asyncio.ensure_future(first_event())
    # Runs after the watcher's first step, so the write lands while the watcher waits for changes.
    asyncio.get_running_loop().call_soon(
        lambda: asyncio.ensure_future(api.create(CM, "default", _cm("late")))
    )
    event = await asyncio.wait_for(watcher, 5)
    assert event["object"]["metadata"]["name"] == "late"


async def test_a_change_made_while_the_watcher_holds_an_event_is_delivered_at_once(api):
    # The stream used to start waiting for the next change only after its consumer came back: a change
    # made meanwhile sat in the log until another one came, or the next bookmark (a second in lws run).
    rv = (await api.list(CM, "default"))["metadata"]["resourceVersion"]
    stream = api.watch(CM, "default", resource_version=rv)
    await api.create(CM, "default", _cm("first"))
    first = await asyncio.wait_for(anext(stream), 5)
    await api.create(CM, "default", _cm("second"))  # while the watcher holds "first"
    second = await asyncio.wait_for(anext(stream), 5)
    assert [first["object"]["metadata"]["name"], second["object"]["metadata"]["name"]] == ["first", "second"]
    await stream.aclose()


async def test_events_committed_together_come_in_one_batch_and_in_order(api):
    # An HTTP watch writes each batch at once: one transport write for the three, not three.
    rv = (await api.list(CM, "default"))["metadata"]["resourceVersion"]
    batches = api.watch_batches(CM, "default", resource_version=rv, label_selector="batch=yes")
    for name in ("one", "two", "three"):
        await api.create(CM, "default", _cm(name, batch="yes"))
    await api.create(CM, "default", _cm("left-out"))
    first = await asyncio.wait_for(anext(batches), 5)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in first] == [
        ("ADDED", "one"),
        ("ADDED", "two"),
        ("ADDED", "three"),
    ]
    await api.delete(CM, "default", "two")
    second = await asyncio.wait_for(anext(batches), 5)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in second] == [("DELETED", "two")]
    await batches.aclose()


async def test_the_initial_list_and_its_closing_bookmark_come_as_one_batch(api):
    for name in ("a", "b"):
        await api.create(CM, "default", _cm(name, initial="yes"))
    batches = api.watch_batches(
        CM, "default", label_selector="initial=yes", send_initial_events=True, allow_bookmarks=True
    )
    first = await asyncio.wait_for(anext(batches), 5)
    assert [e["type"] for e in first] == ["ADDED", "ADDED", "BOOKMARK"]
    assert {e["object"]["metadata"]["name"] for e in first[:2]} == {"a", "b"}
    await batches.aclose()


async def test_label_selector_watch_reports_objects_entering_and_leaving(api):
    await api.create(CM, "default", _cm("x", tier="db"))
    rv = (await api.list(CM, "default"))["metadata"]["resourceVersion"]
    stream = api.watch(CM, "default", label_selector="tier=web", resource_version=rv)
    await api.patch(
        CM, "default", "x", {"metadata": {"labels": {"tier": "web"}}}, "application/merge-patch+json"
    )
    await api.patch(CM, "default", "x", {"data": {"a": "1"}}, "application/merge-patch+json")
    await api.patch(
        CM, "default", "x", {"metadata": {"labels": {"tier": "db"}}}, "application/merge-patch+json"
    )
    events = await _collect(stream, 3)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2]["object"]["metadata"]["labels"] == {"tier": "db"}


async def test_field_selector_watch_filters_by_name(api):
    rv = (await api.list(CM, "default"))["metadata"]["resourceVersion"]
    stream = api.watch(CM, "default", field_selector="metadata.name=wanted", resource_version=rv)
    await api.create(CM, "default", _cm("other"))
    await api.create(CM, "default", _cm("wanted"))
    events = await _collect(stream, 1)
    assert events[0]["object"]["metadata"]["name"] == "wanted"


async def test_namespaced_watch_sees_only_its_namespace(api):
    await api.create(("", "v1", "namespaces"), None, {"metadata": {"name": "other"}})
    rv = (await api.list(CM))["metadata"]["resourceVersion"]
    stream = api.watch(CM, "default", resource_version=rv)
    await api.create(CM, "other", _cm("elsewhere"))
    await api.create(CM, "default", _cm("here"))
    events = await _collect(stream, 1)
    assert events[0]["object"]["metadata"]["name"] == "here"


async def test_deleted_event_carries_the_final_resource_version(api):
    await api.create(CM, "default", _cm("doomed"))
    rv = api.store.resource_version
    stream = api.watch(CM, "default", resource_version=str(rv))
    await api.delete(CM, "default", "doomed")
    (event,) = await _collect(stream, 1)
    assert event["type"] == "DELETED"
    assert int(event["object"]["metadata"]["resourceVersion"]) > rv


async def test_bookmarks_arrive_periodically_and_before_timeout():
    api = APIServer(bookmark_interval=0.05)
    api.bootstrap()
    stream = api.watch(CM, "default", resource_version="1", allow_bookmarks=True, timeout_seconds=0.3)
    events = [event async for event in stream]
    assert events, "expected bookmarks from an idle watch"
    assert {e["type"] for e in events} == {"BOOKMARK"}
    assert all(e["object"]["metadata"]["resourceVersion"] for e in events)


async def test_send_initial_events_ends_with_an_annotated_bookmark(api):
    await api.create(CM, "default", _cm("a"))
    await api.create(CM, "default", _cm("b"))
    stream = api.watch(CM, "default", allow_bookmarks=True, send_initial_events=True)
    events = await _collect(stream, 3)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_resume_from_a_compacted_version_yields_410_expired(api):
    await api.create(CM, "default", _cm("a"))
    old = api.store.resource_version
    await api.create(CM, "default", _cm("b"))
    api.store.compact()
    events = [e async for e in api.watch(CM, "default", resource_version=str(old))]
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


async def test_resume_from_the_current_version_after_compaction_still_works(api):
    await api.create(CM, "default", _cm("a"))
    api.store.compact()
    stream = api.watch(CM, "default", resource_version=str(api.store.resource_version))
    await api.create(CM, "default", _cm("b"))
    (event,) = await _collect(stream, 1)
    assert event["object"]["metadata"]["name"] == "b"


async def test_slow_watcher_never_blocks_writers_and_falls_behind_into_410():
    api = APIServer(store=Store(history_size=10))
    api.bootstrap()
    stream = api.watch(CM, "default", resource_version=str(api.store.resource_version))
    # The watcher reads nothing while 100 writes go through: none of them waits for it.
    for index in range(100):
        await api.create(CM, "default", _cm(f"c{index}"))
    assert api.store.count(("", "configmaps")) == 100
    events = [e async for e in stream]
    assert events[-1]["type"] == "ERROR" and events[-1]["object"]["code"] == 410


async def test_drop_watches_ends_open_streams(api):
    stream = api.watch(CM, "default", resource_version=str(api.store.resource_version))
    api.drop_watches()
    assert await _drain(stream) == []


async def test_drop_watches_wakes_a_waiting_watcher(api):
    stream = api.watch(CM, "default", resource_version=str(api.store.resource_version))
    waiting = asyncio.create_task(_drain(stream))
    # Once the watcher waits, a write to another resource type does not wake it; dropping does.
    await api.create(("", "v1", "secrets"), "default", {"metadata": {"name": "s"}})
    api.drop_watches()
    assert await asyncio.wait_for(waiting, 5) == []


async def _drain(stream) -> list[dict]:
    return [e async for e in stream]


async def test_watch_rejects_bad_selectors_before_streaming(api):
    with pytest.raises(Exception) as caught:
        api.watch(CM, "default", label_selector="a in (")
    assert getattr(caught.value, "code", None) == 400


def test_watch_over_http_resumes_and_reports_410_after_compaction(embedded_cluster, embedded_api):
    core = client.CoreV1Api(embedded_api)
    core.create_namespaced_config_map("default", _cm("a"))
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("b"))
    embedded_cluster.faults.compact()
    with pytest.raises(client.ApiException) as caught:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=2
        ):
            pass
    assert caught.value.status == 410
