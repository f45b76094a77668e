"""The cluster adapter against the embedded cluster: errors by type, request counting, informers that
resume and relist, events aggregated into series, and leader election on a Lease."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lws.cluster.client import NO_RETRY, Cluster, RetryPolicy
from lws.cluster.errors import AlreadyExists, ApiError, Conflict, Forbidden, Invalid, NotFound
from lws.cluster.events import EventRecorder
from lws.cluster.informer import Informer
from lws.cluster.kube import connect, environment_proxy
from lws.cluster.lease import LeaderElector, LeaseConfig
from lws.cluster.resources import EVENTS, Resource
from lws.sim.runner import EmbeddedCluster

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition") -> Any:
    """Re-check ``predicate`` on this loop until it holds; fail after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not (result := predicate()):
                await asyncio.sleep(0.01)  # a condition poll on state another task changes
            return result
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


@pytest.fixture
async def cluster(embedded_cluster: EmbeddedCluster, tmp_path: Path) -> AsyncIterator[Cluster]:
    client = await connect(str(embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig")))
    yield client
    await client.close()


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


async def test_errors_come_back_as_types_and_every_request_is_counted(cluster: Cluster) -> None:
    mark = cluster.log.mark()
    with pytest.raises(NotFound, match="get configmaps default/missing"):
        await cluster.get(CONFIGMAPS, "default", "missing")
    created = await cluster.create(CONFIGMAPS, "default", _cm("one"))
    with pytest.raises(AlreadyExists):
        await cluster.create(CONFIGMAPS, "default", _cm("one"))
    await cluster.replace(CONFIGMAPS, "default", "one", {**created, "data": {"k": "2"}})
    with pytest.raises(Conflict):
        await cluster.replace(CONFIGMAPS, "default", "one", {**created, "data": {"k": "3"}})  # stale version
    with pytest.raises(Invalid):
        await cluster.create(CONFIGMAPS, "default", _cm("Not_A_Name"))
    calls = cluster.log.calls(since=mark)
    assert [(c.verb, c.status) for c in calls] == [
        ("get", 404),
        ("create", 201),
        ("create", 409),
        ("update", 200),
        ("update", 409),
        ("create", 422),
    ]
    assert len(cluster.log.writes(since=mark)) == 5


async def test_the_informer_resumes_relists_after_410_and_reports_what_it_missed(
    embedded_cluster: EmbeddedCluster, cluster: Cluster
) -> None:
    seen: list[tuple[str, str]] = []
    informer = Informer(
        cluster,
        CONFIGMAPS,
        label_selector="team",
        handlers=[lambda kind, obj, _old: seen.append((kind, obj["metadata"]["name"]))],
    )
    await cluster.create(CONFIGMAPS, "default", _cm("before", team="a"))
    await cluster.create(CONFIGMAPS, "default", _cm("not-ours"))
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 10)
        assert seen == [("ADDED", "before")], "listed with the selector: unlabelled objects never arrive"

        embedded_cluster.faults.drop_watches()  # the stream ends; the informer resumes from its version
        await cluster.create(CONFIGMAPS, "default", _cm("during", team="a"))
        await until(lambda: informer.get("default", "during"), what="the resumed watch")

        calls_before = len([c for c in cluster.log.calls() if c.verb == "list"])
        # The watch fails for a while (the informer backs off); meanwhile objects change and the history
        # is compacted, so the resume answers 410 Gone and only a relist can tell what happened.
        embedded_cluster.faults.inject_error(503, verbs=["watch"], resources=["configmaps"], times=None)
        embedded_cluster.faults.drop_watches()
        await cluster.delete(CONFIGMAPS, "default", "before")
        await cluster.create(CONFIGMAPS, "default", _cm("after", team="b"))
        embedded_cluster.faults.compact()
        await until(
            lambda: any(c.verb == "watch" and c.status == 503 for c in cluster.log.calls()),
            what="a refused watch",
        )
        embedded_cluster.faults.clear()
        await until(
            lambda: informer.get("default", "after") and not informer.get("default", "before"),
            what="a relist",
        )
        assert len([c for c in cluster.log.calls() if c.verb == "list"]) == calls_before + 1, "one relist"
        assert ("DELETED", "before") in seen and ("ADDED", "after") in seen
        assert informer.by_index is not None and informer.get("default", "not-ours") is None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_an_informer_without_a_selector_must_say_it_wants_every_object(cluster: Cluster) -> None:
    with pytest.raises(ValueError, match="label selector or all_objects"):
        Informer(cluster, CONFIGMAPS)
    with pytest.raises(ValueError, match="not both"):
        Informer(cluster, CONFIGMAPS, label_selector="team", all_objects=True)


async def test_a_late_write_reply_does_not_revive_an_object_whose_deletion_the_cache_saw(
    cluster: Cluster,
) -> None:
    informer = Informer(cluster, CONFIGMAPS, all_objects=True, namespaces=["default"])
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 10)
        written = await cluster.create(CONFIGMAPS, "default", _cm("ghost", team="a"))
        await until(lambda: informer.get("default", "ghost"), what="the ADDED event")
        await cluster.delete(CONFIGMAPS, "default", "ghost")
        await until(lambda: informer.get("default", "ghost") is None, what="the DELETED event")

        informer.observe_write(written)  # the reply to a write made before the deletion, arriving late
        assert informer.get("default", "ghost") is None, "an older reply does not bring it back"
        informer.observe_write({**written, "status": {}}, only_if_cached=True)
        assert informer.get("default", "ghost") is None

        again = await cluster.create(CONFIGMAPS, "default", _cm("ghost", team="b"))
        informer.observe_write(again)  # a newer object of the same name is cached at once
        assert (informer.get("default", "ghost") or {}).get("metadata", {}).get("labels") == {"team": "b"}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_identical_events_become_one_event_with_a_series(cluster: Cluster) -> None:
    regarding = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "subject", "namespace": "default", "uid": "u1"},
    }
    recorder = EventRecorder(cluster, instance="test", flush_interval=3600)
    for _ in range(3):
        recorder.record(
            regarding,
            "Normal",
            "GroupsProgressing",
            "Create",
            "Created worker statefulset for leader pod x-0",
        )
    recorder.record(regarding, "Warning", "FailedCreate", "Create", "Failed to create x")
    await recorder.drain()
    events = {e["reason"]: e for e in (await cluster.list_page(EVENTS, "default"))["items"]}
    assert set(events) == {"GroupsProgressing", "FailedCreate"}, "repeats did not create more events"
    progressing = events["GroupsProgressing"]
    assert progressing["series"]["count"] == 3
    assert (
        progressing["reportingController"] == "leaderworkerset" and progressing["reportingInstance"] == "test"
    )
    assert progressing["regarding"]["name"] == "subject" and progressing["action"] == "Create"
    assert "series" not in events["FailedCreate"]


async def test_similar_events_are_combined_into_one_more_event_per_window(cluster: Cluster) -> None:
    regarding = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "many", "namespace": "default", "uid": "u2"},
    }
    recorder = EventRecorder(cluster, instance="test", flush_interval=3600)
    mark = cluster.log.mark()
    for i in range(500):
        leader = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"many-{i}", "uid": f"p{i}"}}
        recorder.record(
            regarding,
            "Normal",
            "GroupsProgressing",
            "Create",
            f"Created worker statefulset for leader pod many-{i}",
            related=leader,
        )
    await recorder.drain()
    writes = cluster.log.writes(since=mark)
    assert [(call.verb, call.resource) for call in writes] == [("create", "events")] * 2, (
        "two events, not 500"
    )
    found = [
        e for e in (await cluster.list_page(EVENTS, "default"))["items"] if e["regarding"]["uid"] == "u2"
    ]
    first, combined = sorted(found, key=lambda e: "series" in e)
    assert first["note"] == "Created worker statefulset for leader pod many-0" and "series" not in first
    assert first["related"]["name"] == "many-0"
    assert (
        combined["note"]
        == "(combined from similar events): Created worker statefulset for leader pod many-499"
    )
    assert combined["series"]["count"] == 499 and combined["related"]["name"] == "many-499"
    assert (combined["reason"], combined["action"], combined["type"]) == (
        "GroupsProgressing",
        "Create",
        "Normal",
    )

    # More of them later in the window: the combined event's count goes up, nothing is created.
    mark = cluster.log.mark()
    recorder.record(regarding, "Normal", "GroupsProgressing", "Create", "Created worker statefulset for x")
    await recorder.drain()
    assert [(c.verb, c.resource) for c in cluster.log.writes(since=mark)] == [("create", "events")], (
        "no related object: another kind of similarity, its own event"
    )
    mark = cluster.log.mark()
    leader = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "many-500", "uid": "p500"}}
    recorder.record(
        regarding, "Normal", "GroupsProgressing", "Create", "Created ... many-500", related=leader
    )
    await recorder.drain()
    assert [(c.verb, c.resource) for c in cluster.log.writes(since=mark)] == [("patch", "events")]


async def test_a_series_whose_event_expired_starts_anew_and_the_recorder_keeps_running(
    cluster: Cluster,
) -> None:
    """Regression: the first event of a series expired on the server while its combined event had news
    to send; the flush looked the dropped series up again, raised KeyError and stopped the operator."""
    regarding = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "expiring", "namespace": "default", "uid": "u3"},
    }
    recorder = EventRecorder(cluster, instance="test", flush_interval=3600)

    def record(i: int) -> None:
        leader = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}", "uid": f"q{i}"}}
        recorder.record(regarding, "Normal", "GroupReplacementDeferred", "Update", f"pod-{i}", related=leader)

    record(0)
    record(1)  # similar: the combined event is created at once
    await recorder.drain()

    async def firsts() -> list[dict[str, Any]]:
        items = (await cluster.list_page(EVENTS, "default"))["items"]
        return [e for e in items if e["regarding"]["uid"] == "u3" and "combined" not in e["note"]]

    [first] = await firsts()
    await cluster.delete(EVENTS, "default", first["metadata"]["name"])  # its TTL ran out

    record(0)  # an identical repeat: the series' count is patched, and the event is gone
    record(2)  # and the combined event has news too
    await recorder.drain()  # raised KeyError before the fix

    mark = cluster.log.mark()
    record(0)
    await recorder.drain()
    assert [(c.verb, c.resource) for c in cluster.log.writes(since=mark)] == [("create", "events")], (
        "the next occurrence starts a new series with a new event"
    )
    assert [e["note"] for e in await firsts()] == ["pod-0"]


async def test_one_leader_at_a_time_and_a_standby_takes_over_when_the_lease_lapses(cluster: Cluster) -> None:
    def elector(identity: str) -> LeaderElector:
        return LeaderElector(
            cluster,
            LeaseConfig(
                identity=identity,
                namespace="default",
                name="test-lease",
                lease_duration=1.0,
                renew_deadline=0.8,
                retry_period=0.1,
            ),
        )

    first, second = elector("first"), elector("second")
    one = asyncio.create_task(first.run())
    await asyncio.wait_for(first.leading.wait(), 10)
    two = asyncio.create_task(second.run())
    await until(lambda: second._observed is not None, what="the standby to see the Lease")
    assert not second.is_leader

    first.release_on_stop = False  # a crash: the Lease is left to lapse
    one.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await one
    await asyncio.wait_for(second.leading.wait(), 10)

    third = elector("third")
    three = asyncio.create_task(third.run())
    two.cancel()  # a clean stop releases the Lease: the next candidate takes it at once
    with contextlib.suppress(asyncio.CancelledError):
        await two
    await asyncio.wait_for(third.leading.wait(), 5)
    three.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await three
    lease = await cluster.get(
        Resource("coordination.k8s.io", "v1", "leases", "Lease"), "default", "test-lease"
    )
    assert lease["spec"]["leaseTransitions"] >= 2


class _Sleeps:
    """Stands in for asyncio.sleep in a retry policy: records each wait, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_transient_errors_are_retried_with_backoff_and_retry_after_is_honoured(
    embedded_cluster: EmbeddedCluster, cluster: Cluster
) -> None:
    sleeps = _Sleeps()
    cluster.retry = RetryPolicy(attempts=6, sleep=sleeps)
    await cluster.create(CONFIGMAPS, "default", _cm("retried"))
    faults = embedded_cluster.faults
    mark = cluster.log.mark()
    for code in (429, 500, 502, 503, 504):
        faults.inject_error(code, verbs=["get"], resources=["configmaps"], times=1)
    got = await cluster.get(CONFIGMAPS, "default", "retried")
    assert got["metadata"]["name"] == "retried"
    assert [c.status for c in cluster.log.calls(since=mark)] == [429, 500, 502, 503, 504, 200]
    assert len(sleeps.delays) == 5 and sleeps.delays[0] >= 1.0, "429 said Retry-After: 1"
    assert 0.1 <= sleeps.delays[1] < sleeps.delays[2] < 1.0, "exponential backoff below Retry-After"

    # Writes too: a create answered 504 is sent again (fixed names make that safe).
    faults.inject_error(504, verbs=["create"], resources=["configmaps"], times=1)
    await cluster.create(CONFIGMAPS, "default", _cm("written"))
    assert (await cluster.get(CONFIGMAPS, "default", "written"))["data"] == {"k": "v"}


async def test_errors_that_would_come_again_fail_at_once_and_retries_end(
    embedded_cluster: EmbeddedCluster, cluster: Cluster
) -> None:
    sleeps = _Sleeps()
    cluster.retry = RetryPolicy(attempts=3, sleep=sleeps)
    faults = embedded_cluster.faults
    mark = cluster.log.mark()
    faults.inject_error(403, verbs=["get"], resources=["configmaps"], times=1)
    with pytest.raises(Forbidden):
        await cluster.get(CONFIGMAPS, "default", "any")
    with pytest.raises(NotFound):
        await cluster.get(CONFIGMAPS, "default", "missing")
    assert [c.status for c in cluster.log.calls(since=mark)] == [403, 404] and not sleeps.delays

    faults.inject_error(500, verbs=["get"], resources=["configmaps"], times=None)
    with pytest.raises(ApiError) as failed:
        await cluster.get(CONFIGMAPS, "default", "any")
    assert failed.value.status == 500 and len(sleeps.delays) == 2, "3 attempts, then the error"
    with pytest.raises(ApiError):
        await cluster.with_retry(NO_RETRY).get(CONFIGMAPS, "default", "any")
    assert len(sleeps.delays) == 2, "NO_RETRY: one attempt"
    faults.clear()


def test_a_retry_after_longer_than_the_deadline_is_not_waited_for() -> None:
    policy = RetryPolicy(deadline=10.0)
    throttled = ApiError("throttled", status=429, retry_after=30.0)
    assert policy.delay(throttled, attempt=1, elapsed=0.0) is None
    assert policy.delay(ApiError("x", status=429, retry_after=2.0), attempt=1, elapsed=0.0) == 2.0
    assert policy.delay(ApiError("x", status=422), attempt=1, elapsed=0.0) is None


def _with_token(kubeconfig: Path) -> Path:
    kubeconfig.write_text(kubeconfig.read_text().replace("user: {}", "user: {token: a-token}"))
    return kubeconfig


async def test_netrc_credentials_for_the_api_server_do_not_break_requests(
    embedded_cluster: EmbeddedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp's trust_env read ~/.netrc on every request, and refused to send its credentials and the
    # kubeconfig's token together: every request failed. client-go reads no netrc; neither do we.
    kubeconfig = _with_token(embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig"))
    assert "a-token" in kubeconfig.read_text()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = await connect(str(kubeconfig))
    try:
        listed = await client.list_page(CONFIGMAPS, "default")
        assert listed["kind"] == "ConfigMapList"
    finally:
        await client.close()


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable from the machine running the tests, in either case."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.mark.parametrize(
    ("server", "env", "expected"),
    [
        ("https://api.example:6443", {"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ("http://127.0.0.1:8080", {"HTTP_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ("https://api.example:6443", {"HTTP_PROXY": "http://proxy:3128"}, None),  # by the server's scheme
        ("https://api.example:6443", {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "api.example"}, None),
        ("https://api.example:6443", {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": ".example"}, None),
        (
            "https://api.example:6443",
            {"https_proxy": "http://proxy:3128", "no_proxy": "other"},
            "http://proxy:3128",
        ),
        ("https://api.example:6443", {}, None),
    ],
)
def test_the_proxy_comes_from_the_environment_by_scheme_unless_no_proxy_exempts_the_host(
    server: str, env: dict[str, str], expected: str | None, monkeypatch: pytest.MonkeyPatch, no_proxies: None
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert environment_proxy(server) == expected


async def test_the_client_resolves_the_proxy_once_and_leaves_the_environment_alone_after(
    embedded_cluster: EmbeddedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_proxies: None
) -> None:
    # NO_PROXY exempts the embedded cluster; requests work, and the session does not consult the
    # environment per request (aiohttp's trust_env did, in a worker thread, twice per request).
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = await connect(str(embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig")))
    try:
        monkeypatch.delenv("NO_PROXY")  # read once, at connect: a later change is not seen
        assert (await client.list_page(CONFIGMAPS, "default"))["kind"] == "ConfigMapList"
    finally:
        await client.close()
