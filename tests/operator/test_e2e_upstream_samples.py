"""Upstream's own sample manifests, applied with kubectl, converge to Available and to what `lws render` prints.

Each sample file of kubernetes-sigs/lws (``/work/shared/samples/upstream``, as the project's issue names
them) that holds a LeaderWorkerSet is applied unchanged, with the real kubectl, to a cluster of its own
of the shipped ``standard`` topology (the default of ``lws cluster up``: GPU, TPU and node-pool labels, a
scheduler that also answers to ``volcano``) with the operator running; every LeaderWorkerSet in it must become Available, and its StatefulSets, Services and
Pods must be exactly those `lws render` prints for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_kit import Kube, assert_matches_render, namespace_scope

from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.hooks.manager import make_hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import skip_if_real_cluster
from tests import upstream_samples

pytestmark = pytest.mark.e2e

TOPOLOGY = "standard"  # the shipped default of `lws cluster up`, made to run every upstream sample
CRDS = Path(__file__).resolve().parents[2] / "crds"


SAMPLE_FILES = upstream_samples.leaderworkerset_files()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Kube]:
    skip_if_real_cluster("a cluster sized for the sample, of the test's own")
    embedded = EmbeddedCluster(topology=TOPOLOGY, bookmark_interval=0.2).start()
    kubeconfig = embedded.write_kubeconfig(tmp_path / "kubeconfig")
    kube = Kube(kubeconfig)
    operator: InProcessOperator | None = None
    try:
        kube.kubectl("apply", "--server-side", "-f", str(CRDS))
        operator = InProcessOperator(
            settings_for_tests(kubeconfig=str(kubeconfig)), make_hooks(), connect=connect
        ).start()
        yield kube
    finally:
        if operator is not None:
            operator.stop()
        kube.close()
        embedded.stop()


def test_every_sample_with_a_leaderworkerset_is_exercised() -> None:
    """Guards the parametrisation below (tests/upstream_samples.py errors on a missing folder already)."""
    assert len(SAMPLE_FILES) == upstream_samples.LEADERWORKERSET_FILES == 16


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_applied_with_kubectl_converges_to_available_and_to_render(cluster: Kube, path: Path) -> None:
    for ns in namespace_scope(cluster):
        for account in upstream_samples.service_accounts_of(path):
            cluster.kubectl("create", "serviceaccount", "-n", ns, account)
        cluster.kubectl("apply", "-n", ns, "-f", str(path))
        for manifest in upstream_samples.leaderworkersets_of(path):
            stored = cluster.wait_available(ns, manifest["metadata"]["name"], timeout=60)
            assert_matches_render(cluster, ns, manifest, stored)
