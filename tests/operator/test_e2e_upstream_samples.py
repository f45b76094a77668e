"""Upstream's own sample manifests, applied with kubectl, converge to Available and to what `lws render` prints.

Each sample file of kubernetes-sigs/lws (``/work/shared/samples/upstream``, as the project's issue names
them) that holds a LeaderWorkerSet is applied unchanged, with the real kubectl, to a cluster of its own
of the shipped ``standard`` topology (the default of ``lws cluster up``: GPU, TPU and node-pool labels, a
scheduler that also answers to ``volcano``) with the operator running; every LeaderWorkerSet in it must become Available, and its StatefulSets, Services and
Pods must be exactly those `lws render` prints for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2e_kit import Kube, assert_matches_render, namespace_scope

from lws.api import constants as c
from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.hooks.manager import make_hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import skip_if_real_cluster

pytestmark = pytest.mark.e2e

SAMPLES = Path(os.environ.get("LWS_UPSTREAM_SAMPLES", "/work/shared/samples/upstream"))
TOPOLOGY = "standard"  # the shipped default of `lws cluster up`, made to run every upstream sample
CRDS = Path(__file__).resolve().parents[2] / "crds"


def _leaderworkersets(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == c.KIND]


SAMPLE_FILES = sorted(p for p in SAMPLES.glob("*.yaml") if _leaderworkersets(p))


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


def test_the_samples_are_here() -> None:
    """Guards the parametrisation below: an empty or moved sample folder must fail, not pass vacuously."""
    assert len(SAMPLE_FILES) >= 14, f"expected upstream's sample files in {SAMPLES}"


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_sample_applied_with_kubectl_converges_to_available_and_to_render(cluster: Kube, path: Path) -> None:
    for ns in namespace_scope(cluster):
        cluster.kubectl("apply", "-n", ns, "-f", str(path))
        for manifest in _leaderworkersets(path):
            stored = cluster.wait_available(ns, manifest["metadata"]["name"], timeout=60)
            assert_matches_render(cluster, ns, manifest, stored)
