"""Upgrading the CRD to one that embeds the pod schema (issue 10, bug 7) adds that schema's defaults to every
stored template (a container port's ``protocol: TCP``). A revision written before then still describes the
same groups: without that, the upgrade would roll every group of every set."""

from __future__ import annotations

import copy
from typing import Any

from lws.api.defaulting import default_lws
from lws.core.revision import payload, same_revision


def _lws(ports: list[dict[str, Any]], image: str = "nginx") -> dict[str, Any]:
    container = {"name": "main", "image": image, "ports": ports}
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "demo", "namespace": "default"},
        "spec": {"leaderWorkerTemplate": {"workerTemplate": {"spec": {"containers": [container]}}}},
    }


def test_a_revision_from_before_a_crd_default_still_matches_the_defaulted_template() -> None:
    now = default_lws(_lws([{"containerPort": 80}]))
    container = now["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}], "the CRD's default"
    before = copy.deepcopy(now)
    del before["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["ports"][0][
        "protocol"
    ]
    assert same_revision(payload(now, {}), payload(before, {}))


def test_a_real_change_is_still_a_new_revision() -> None:
    now = default_lws(_lws([{"containerPort": 80}]))
    other = default_lws(_lws([{"containerPort": 80}], image="nginx:2"))
    udp = default_lws(_lws([{"containerPort": 80, "protocol": "UDP"}]))
    assert not same_revision(payload(now, {}), payload(other, {}))
    assert not same_revision(payload(now, {}), payload(udp, {}))
