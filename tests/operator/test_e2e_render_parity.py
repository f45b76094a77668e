"""LeaderWorkerSets applied with kubectl converge to Available, and to exactly the objects `lws render` prints."""

from __future__ import annotations

import pytest
import yaml
from e2e_kit import OTHER_IMAGE, Kube, assert_matches_render, labels, make_lws

from lws.api import constants as c
from lws.cluster.resources import PODS

pytestmark = pytest.mark.e2e

SAMPLES = {
    "basic": make_lws(
        "basic", replicas=3, size=4, rolloutStrategy={"rollingUpdateConfiguration": {"maxUnavailable": 1}}
    ),
    "multi-template": make_lws(
        "multi",
        replicas=2,
        size=3,
        leaderWorkerTemplate={
            "leaderTemplate": {
                "metadata": {"labels": {"role": "leader"}},
                "spec": {"containers": [{"name": "leader", "image": OTHER_IMAGE}]},
            },
            "restartPolicy": "Default",
        },
    ),
    "unique-subgroups": make_lws(
        "uniq",
        replicas=2,
        size=4,
        networkConfig={"subdomainPolicy": "UniquePerReplica"},
        leaderWorkerTemplate={"subGroupPolicy": {"subGroupSize": 2}},
    ),
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_applied_sample_converges_to_what_render_prints(kube: Kube, ns: str, sample: str) -> None:
    manifest = SAMPLES[sample]
    name = manifest["metadata"]["name"]
    kube.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(manifest))
    stored = kube.wait_available(ns, name)

    assert_matches_render(kube, ns, manifest, stored)

    leaders = kube.list(PODS, ns, f"{c.SET_NAME_LABEL}={name},{c.WORKER_INDEX_LABEL}=0")
    assert stored["status"]["hpaPodSelector"] == f"{c.SET_NAME_LABEL}={name},{c.WORKER_INDEX_LABEL}=0"
    assert sorted(labels(p)[c.GROUP_INDEX_LABEL] for p in leaders) == [
        str(i) for i in range(manifest["spec"]["replicas"])
    ]
