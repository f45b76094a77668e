"""Upstream's sample manifests on the real control plane: applied unchanged with kubectl, each LeaderWorkerSet
becomes Available and its StatefulSets, Services and Pods are field for field what `lws render` prints.

The real-plane twin of ``tests/operator/test_e2e_upstream_samples.py``: one plane of the shipped ``standard``
topology (GPU, TPU and node-pool labels, a ``volcano`` scheduler profile) for every sample, the operator
running against it as ``lws run`` (webhooks called by the real API server over HTTPS), each sample in a
namespace of its own that is gone before the next one starts, so every sample finds the nodes empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lws.sim.testing import wait_until
from tests import upstream_samples
from tests.operator.e2e_kit import Kube, assert_matches_render
from tests.realcluster.operator import install_crds, start_operator
from tests.realcluster.plane import RealCluster

pytestmark = [pytest.mark.real_plane, pytest.mark.e2e, pytest.mark.xdist_group("real-plane-samples")]

SAMPLE_FILES = upstream_samples.leaderworkerset_files()
_leaderworkersets = upstream_samples.leaderworkersets_of


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    with RealCluster("standard") as plane:
        install_crds(plane.kubeconfig)
        operator = start_operator(plane.kubeconfig, plane.workdir / "logs" / "lws-operator.log")
        kube = Kube(plane.kubeconfig)
        try:
            yield kube
        finally:
            kube.close()
            operator.stop()


@pytest.fixture
def ns(kube: Kube) -> Iterator[str]:
    name = f"sample-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false")
    wait_until(
        lambda: kube.kubectl("get", "namespace", name, check=False).returncode != 0,
        timeout=120,
        what=f"namespace {name} to be gone",
    )


def test_the_samples_are_here() -> None:
    """Guards the parametrisation below (tests/upstream_samples.py errors on a missing folder already)."""
    assert len(SAMPLE_FILES) == upstream_samples.LEADERWORKERSET_FILES == 16


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_converges_to_available_and_to_render_on_the_real_plane(
    kube: Kube, ns: str, path: Path
) -> None:
    # Kubernetes admits a pod only if the ServiceAccount it names exists: create them, as a user must.
    for name in upstream_samples.service_accounts_of(path):
        kube.kubectl("create", "serviceaccount", "-n", ns, name)
    kube.kubectl("apply", "-n", ns, "-f", str(path))
    for manifest in _leaderworkersets(path):
        stored = kube.wait_available(ns, manifest["metadata"]["name"], timeout=120)
        assert_matches_render(kube, ns, manifest, stored)
