"""pytest fixtures for tests that need a Kubernetes API: load with ``pytest_plugins = ["lws.sim.testing"]``.

* ``kube_api``: an official ``kubernetes`` client ``ApiClient`` for the cluster under test;
  ``kubeconfig_path`` its kubeconfig; ``test_namespace`` a fresh namespace, deleted afterwards.
  By default the cluster is an embedded one shared by the session; with ``LWS_TEST_KUBECONFIG`` set they
  point at that (real) cluster instead, so API-semantics tests run unchanged against Kubernetes.
* ``embedded_cluster``: a fresh :class:`~lws.sim.runner.EmbeddedCluster` for one test (faults, direct
  store access...). Tests using it are simulator-only: in real-cluster mode they are skipped, and tests
  marked ``sim_only`` deselected.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from lws.sim.apiserver import APIServer
from lws.sim.resources import GroupResource
from lws.sim.runner import EmbeddedCluster
from lws.sim.store import StoredEvent

REAL_CLUSTER_ENV = "LWS_TEST_KUBECONFIG"


def real_kubeconfig() -> Path | None:
    """The kubeconfig of the real cluster tests must use, if ``LWS_TEST_KUBECONFIG`` names one."""
    value = os.environ.get(REAL_CLUSTER_ENV)
    return Path(value) if value else None


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition") -> Any:
    """Poll ``predicate`` (from a thread other than the cluster's) until it returns something truthy."""
    pause = threading.Event()
    deadline = threading.Timer(timeout, pause.set)
    deadline.start()
    try:
        while True:
            result = predicate()
            if result:
                return result
            if pause.wait(0.02):
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    finally:
        deadline.cancel()


async def until(api: APIServer, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "it") -> Any:
    """Re-check ``predicate`` after every change committed to ``api``'s store, until it holds (or time out).

    For tests that run an :class:`APIServer` and its controllers on their own loop: no polling, no sleeps.
    """
    changed = asyncio.Event()

    def listener(gr: GroupResource, event: StoredEvent) -> None:
        changed.set()

    api.store.add_listener(listener)
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = predicate()
                if result:
                    return result
                changed.clear()
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None
    finally:
        api.store.remove_listener(listener)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``sim_only`` marker."""
    config.addinivalue_line(
        "markers",
        "sim_only: needs the embedded cluster's own features; deselected when LWS_TEST_KUBECONFIG is set",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In real-cluster mode, deselect the tests marked ``sim_only`` (pytest's summary counts them)."""
    if real_kubeconfig() is None:
        return
    drop = [item for item in items if item.get_closest_marker("sim_only") is not None]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if item.get_closest_marker("sim_only") is None]


def skip_if_real_cluster(what: str) -> None:
    """Skip the calling test or fixture when ``LWS_TEST_KUBECONFIG`` points at a real cluster.

    The one place that rule lives: by default every test runs (on the embedded cluster); only a test that
    needs the embedded cluster's own features (faults, its in-process operator, its topology) steps aside
    when the suite is pointed at a real cluster.
    """
    if real_kubeconfig() is not None:
        pytest.skip(f"{what} needs the embedded cluster; {REAL_CLUSTER_ENV} points at a real cluster")


@pytest.fixture
def embedded_cluster() -> Iterator[EmbeddedCluster]:
    """A fresh embedded cluster for this test only (skipped in real-cluster mode)."""
    skip_if_real_cluster("this test")
    with EmbeddedCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def shared_embedded_cluster() -> Iterator[EmbeddedCluster]:
    """One embedded cluster for the whole session (per xdist worker); isolate tests by namespace."""
    skip_if_real_cluster("this test")
    with EmbeddedCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kubeconfig_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kubeconfig of the cluster under test: ``LWS_TEST_KUBECONFIG`` or the shared embedded one."""
    real = real_kubeconfig()
    if real is not None:
        return real
    cluster: EmbeddedCluster = request.getfixturevalue("shared_embedded_cluster")
    return cluster.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


@pytest.fixture
def kube_api(kubeconfig_path: Path) -> Iterator[client.ApiClient]:
    """An official client ``ApiClient`` for the cluster under test."""
    api_client = config.new_client_from_config(str(kubeconfig_path))  # type: ignore[no-untyped-call]
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
async def kube_aio_api(kubeconfig_path: Path) -> AsyncIterator[Any]:
    """An asyncio official client (``kubernetes.aio``) ``ApiClient`` for the cluster under test."""
    from kubernetes.aio import config as aio_config

    api_client = await aio_config.new_client_from_config(str(kubeconfig_path))  # type: ignore[no-untyped-call]
    try:
        yield api_client
    finally:
        await api_client.close()


@pytest.fixture
def embedded_api(embedded_cluster: EmbeddedCluster, tmp_path: Path) -> Iterator[client.ApiClient]:
    """An official client ``ApiClient`` for this test's own :func:`embedded_cluster`."""
    path = embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = config.new_client_from_config(str(path))  # type: ignore[no-untyped-call]
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def test_namespace(kube_api: client.ApiClient) -> Iterator[str]:
    """A namespace of its own for this test, deleted (with its contents) afterwards.

    It is handed over once kube-controller-manager's defaults are in it (the ``default`` ServiceAccount
    and the ``kube-root-ca.crt`` ConfigMap, both created a moment after the namespace), as the Kubernetes
    e2e framework waits for them: otherwise their creation races the test's first list or watch, and
    which one wins depends on the target and the machine's load.
    """
    name = f"test-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def defaults_present() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
            core.read_namespaced_config_map("kube-root-ca.crt", name)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    wait_until(
        defaults_present, timeout=30, what=f"namespace {name}'s default ServiceAccount and kube-root-ca.crt"
    )
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
