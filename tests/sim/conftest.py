"""Fixtures for the embedded cluster's tests: a throw-away certificate authority and an HTTPS webhook server
on the test's own loop that the API server calls over TCP (admission webhooks); a cluster whose pods run
(workload controllers, disruption budgets)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from webhook_tls import Certificates, WebhookServer, make_certificates

from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import real_kubeconfig


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def server(certificates: Certificates) -> AsyncIterator[WebhookServer]:
    webhooks = WebhookServer(certificates)
    await webhooks.start()
    yield webhooks
    await webhooks.stop()


@pytest.fixture(scope="module")
def running_kubeconfig(kubeconfig_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cluster whose pods run: the real one under test, or an embedded one with a few nodes (``tiny``)."""
    if real_kubeconfig() is not None:
        yield kubeconfig_path
        return
    with EmbeddedCluster(topology="tiny") as cluster:
        yield cluster.write_kubeconfig(tmp_path_factory.mktemp("running") / "kubeconfig")


@pytest.fixture
def running_api(running_kubeconfig: Path) -> Iterator[client.ApiClient]:
    """An official client for :func:`running_kubeconfig`'s cluster."""
    api_client = config.new_client_from_config(str(running_kubeconfig))  # type: ignore[no-untyped-call]
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def running_namespace(running_api: client.ApiClient) -> Iterator[str]:
    """A namespace of its own in :func:`running_kubeconfig`'s cluster, deleted afterwards."""
    name = f"run-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(running_api)
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        core.delete_namespace(name)
