"""Which reconciles a change calls for, and how groups are read from pods and StatefulSets."""

from __future__ import annotations

from typing import Any

import pytest

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core.groups import group_states, status_observations
from lws.core.observe import statefulset_ready
from lws.core.rollout import GroupState
from lws.core.routing import Key, owned_keys, pod_keys, service_keys, statefulset_keys


def _obj(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "labels": labels}}


@pytest.mark.parametrize(
    ("route", "obj", "keys"),
    [
        (
            pod_keys,
            _obj("a-1", **{c.SET_NAME_LABEL: "a", c.WORKER_INDEX_LABEL: "0"}),
            ["set/ns/a", "group/ns/a-1"],
        ),
        (pod_keys, _obj("a-1-3", **{c.SET_NAME_LABEL: "a", c.WORKER_INDEX_LABEL: "3"}), ["group/ns/a-1"]),
        (pod_keys, _obj("unrelated"), []),
        (statefulset_keys, _obj("a", **{c.SET_NAME_LABEL: "a"}), ["set/ns/a"]),
        (statefulset_keys, _obj("a-2", **{c.SET_NAME_LABEL: "a"}), ["set/ns/a", "group/ns/a-2"]),
        (service_keys, _obj("a", **{c.SET_NAME_LABEL: "a"}), ["set/ns/a"]),
        (service_keys, _obj("a-0", **{c.SET_NAME_LABEL: "a"}), ["set/ns/a", "group/ns/a-0"]),
        (owned_keys, _obj("a-abc-1", **{c.SET_NAME_LABEL: "a"}), ["set/ns/a"]),
    ],
)
def test_changes_map_to_the_design_tables_keys(route: Any, obj: dict, keys: list[str]) -> None:
    assert [str(k) for k in route(obj)] == keys
    assert all(isinstance(k, Key) for k in route(obj))


def _sts(
    replicas: int,
    available: int,
    current: str = "x",
    update: str = "x",
    revision: str = "r1",
    leader: int | None = None,
) -> dict:
    """A worker StatefulSet; ``leader`` is the group whose leader pod (``_leader``) controls it."""
    owners = [{"kind": "Pod", "name": f"s-{leader}", "uid": f"uid-{leader}", "controller": True}]
    return {
        "metadata": {
            "labels": {c.REVISION_KEY: revision},
            "ownerReferences": owners if leader is not None else [],
        },
        "spec": {"replicas": replicas},
        "status": {"availableReplicas": available, "currentRevision": current, "updateRevision": update},
    }


def _leader(index: int, *, ready: bool, revision: str = "r1", uid: str = "") -> dict:
    return {
        "metadata": {
            "name": f"s-{index}",
            "uid": uid or f"uid-{index}",
            "labels": {c.REVISION_KEY: revision, c.GROUP_INDEX_LABEL: str(index), c.WORKER_INDEX_LABEL: "0"},
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_statefulset_ready_is_upstreams() -> None:
    assert statefulset_ready(_sts(3, 3))
    assert not statefulset_ready(_sts(3, 2))
    assert not statefulset_ready(_sts(3, 3, current="a", update="b")), (
        "a StatefulSet mid-rollout is not ready"
    )
    assert not statefulset_ready(None)


def test_a_group_counts_both_halves_and_missing_halves_are_neither_ready_nor_updated() -> None:
    lws = LeaderWorkerSet({"metadata": {"name": "s"}, "spec": {"leaderWorkerTemplate": {"size": 3}}})
    pods = {
        "s-0": _leader(0, ready=True),
        "s-1": _leader(1, ready=True),
        "s-2": _leader(2, ready=True, revision="r0"),
    }
    workers = {
        "s-0": _sts(2, 2, leader=0),
        "s-1": _sts(2, 1, leader=1),
        "s-2": _sts(2, 2, revision="r0", leader=2),
    }
    states = group_states(lws, sts_replicas=4, revision="r1", pod=pods.get, workers=workers.get)
    assert states == [
        GroupState(ready=True, updated=True),
        GroupState(ready=False, updated=True),
        GroupState(ready=True, updated=False),
        GroupState(ready=False, updated=False),
    ]
    seen = status_observations(lws, list(pods.values()), revision="r1", workers=workers.get)
    assert [(g.index, g.ready, g.updated) for g in seen] == [
        (0, True, True),
        (1, False, True),
        (2, True, False),
    ]


def test_a_worker_statefulset_left_by_a_replaced_leader_is_not_the_groups() -> None:
    """The old leader's worker StatefulSet lingers (ready, old revision) until the garbage collector removes
    it; counting it let a real control plane's rollout exceed maxUnavailable."""
    lws = LeaderWorkerSet({"metadata": {"name": "s"}, "spec": {"leaderWorkerTemplate": {"size": 2}}})
    pods = {"s-0": _leader(0, ready=True, uid="uid-new")}
    workers = {"s-0": _sts(1, 1, revision="r0", leader=0)}  # controlled by uid-0, the replaced leader
    assert group_states(lws, sts_replicas=1, revision="r1", pod=pods.get, workers=workers.get) == [
        GroupState(ready=False, updated=False)
    ]
    assert status_observations(lws, list(pods.values()), revision="r1", workers=workers.get) == []


def test_size_one_groups_are_their_leader() -> None:
    lws = LeaderWorkerSet({"metadata": {"name": "s"}, "spec": {"leaderWorkerTemplate": {"size": 1}}})
    states = group_states(
        lws, sts_replicas=1, revision="r1", pod={"s-0": _leader(0, ready=True)}.get, workers=lambda _: None
    )
    assert states == [GroupState(ready=True, updated=True)]


def test_what_a_disaggregatedset_controls_reconciles_that_set() -> None:
    """controller-runtime's ``Owns``: the controller reference decides, not a label."""
    from lws.api.disaggregated import constants as d
    from lws.core.routing import disaggregated_keys

    def owned(kind: str, api_version: str, controller: bool) -> dict[str, Any]:
        obj = _obj("ds-0-abcd1234-prefill", **{d.SET_NAME_LABEL: "ds"})
        ref = {"apiVersion": api_version, "kind": kind, "name": "ds", "uid": "u", "controller": controller}
        obj["metadata"]["ownerReferences"] = [ref]
        return obj

    assert [str(k) for k in disaggregated_keys(owned(d.KIND, d.API_VERSION, True))] == [
        "disaggregatedset/ns/ds"
    ]
    assert disaggregated_keys(owned(d.KIND, d.API_VERSION, False)) == []
    assert disaggregated_keys(owned(c.KIND, c.API_VERSION, True)) == []
    assert disaggregated_keys(_obj("ds-0-abcd1234-prefill", **{d.SET_NAME_LABEL: "ds"})) == []
