"""``groupIdentity: Hash`` and ``groupReplacementPolicy`` as pure decisions: admission of leader and worker
pods, the replacement gate (upstream #1050: the oldest ``G - T`` gated leaders go), the ``group-ready``
condition, and what ``lws render`` prints for a Hash set."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from lws.api import constants as c
from lws.core import hash_identity as h
from lws.core.admission import default
from lws.core.render import render_set
from lws.hooks.manager import make_hooks
from tests.core.conftest import manifest

NAME, GATE = c.SET_NAME_LABEL, c.GROUP_REPLACEMENT_GATE


def test_a_group_key_is_upstreams_hash_of_namespace_and_a_random_part() -> None:
    # Upstream: genGroupUniqueKey(namespace, rand.String(16)), i.e. sha1("<namespace>/<random>").
    assert h.new_group_key("ns", "bcdfghjklmnpqrst") == hashlib.sha1(b"ns/bcdfghjklmnpqrst").hexdigest()
    assert set(h._random_part()) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert h.new_group_key("ns") != h.new_group_key("ns"), "random"
    assert len(h._random_part()) == h.RANDOM_PART_LENGTH
    assert h.host_name("demo", "0123456789abcdef") == "demo-01234567"


def _leader(**annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "generateName": "demo-5d4c3b2a1f-",
            "labels": {NAME: "demo", c.WORKER_INDEX_LABEL: "0"},
            "annotations": {c.GROUP_IDENTITY_ANNOTATION: "Hash", c.SIZE_ANNOTATION: "2", **annotations},
        },
        "spec": {"containers": [{"name": "app"}]},
    }


@pytest.mark.parametrize(
    ("policy", "subdomain"),
    [(None, "demo"), (c.SUBDOMAIN_UNIQUE_PER_REPLICA, "demo-{host}")],
)
def test_admitting_a_leader_stamps_key_host_subdomain_and_both_gates(
    policy: str | None, subdomain: str
) -> None:
    pod = _leader(**({c.SUBDOMAIN_POLICY_ANNOTATION: policy} if policy else {}))
    key = h.admit_leader(pod, "ns", random_part="p" * 16)
    assert key == h.new_group_key("ns", "p" * 16)
    labels = pod["metadata"]["labels"]
    assert labels[c.GROUP_INDEX_LABEL] == labels[c.GROUP_UNIQUE_HASH_LABEL] == key
    assert pod["spec"]["hostname"] == f"demo-{key[:8]}"
    assert pod["metadata"]["name"] == f"demo-{key[:8]}", "named after its host name, not generated"
    assert pod["spec"]["subdomain"] == subdomain.format(host=key[:8])
    assert pod["spec"]["readinessGates"] == [{"conditionType": c.GROUP_READY_CONDITION}]
    assert pod["spec"]["schedulingGates"] == [{"name": GATE}]
    # Admitted again (a retried request), it keeps its identity and does not add the gates twice.
    assert h.admit_leader(pod, "ns") == key
    assert len(pod["spec"]["readinessGates"]) == len(pod["spec"]["schedulingGates"]) == 1


def _pod(
    name: str, key: str, *, leader: bool, deleting: bool = False, gated: bool = False, at: str = ""
) -> Any:
    meta: dict[str, Any] = {
        "name": name,
        "creationTimestamp": at,
        "labels": {NAME: "demo", c.GROUP_INDEX_LABEL: key, c.WORKER_INDEX_LABEL: "0" if leader else "1"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"schedulingGates": [{"name": GATE}] if gated else []}}


def L(name: str, key: str, **kw: Any) -> Any:
    return _pod(name, key, leader=True, **kw)


def W(name: str, key: str, **kw: Any) -> Any:
    return _pod(name, key, leader=False, **kw)


TEARDOWN = [
    ([], 0),
    ([L("a", "1"), W("a-1", "1")], 0),
    # The leader is gone, a worker is left: being torn down.
    ([W("a-1", "1")], 1),
    ([L("a", "1", deleting=True), W("a-1", "1")], 1),
    ([L("a", "1", deleting=True), W("a-1", "1", deleting=True), W("b-1", "2"), L("c", "3")], 2),
]


@pytest.mark.parametrize(("pods", "count"), TEARDOWN)
def test_groups_being_torn_down(pods: list[Any], count: int) -> None:
    assert h.tearing_down_groups(pods) == count


OLD, MID, NEW = "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"
GATES = [
    # (policy, the set's pods, the leader asking, admitted?)
    ("Immediate", [W("x-1", "x"), L("n", "n", gated=True, at=NEW)], "n", True),
    ("PostTermination", [L("n", "n", gated=True, at=NEW)], "n", True),
    ("PostTermination", [W("x-1", "x"), L("n", "n", gated=True, at=NEW)], "n", False),
    # G = 2 gated, T = 1 torn down: the oldest goes, the newest waits.
    (
        "PostTermination",
        [W("x-1", "x"), L("o", "o", gated=True, at=OLD), L("n", "n", gated=True, at=NEW)],
        "o",
        True,
    ),
    (
        "PostTermination",
        [W("x-1", "x"), L("o", "o", gated=True, at=OLD), L("n", "n", gated=True, at=NEW)],
        "n",
        False,
    ),
    # Same creation time: by name.
    (
        "PostTermination",
        [W("x-1", "x"), L("b", "b", gated=True, at=MID), L("a", "a", gated=True, at=MID)],
        "a",
        True,
    ),
    # Admitted (ungated) leaders do not count as waiting.
    ("PostTermination", [W("x-1", "x"), L("u", "u", at=OLD), L("n", "n", gated=True, at=NEW)], "n", False),
    ("PostTermination", [L("u", "u", at=OLD), L("n", "n", gated=True, at=NEW)], "n", True),
]


@pytest.mark.parametrize(("policy", "pods", "asking", "admitted"), GATES)
def test_the_replacement_gate(policy: str, pods: list[Any], asking: str, admitted: bool) -> None:
    leader = next(p for p in pods if p["metadata"]["name"] == asking)
    assert h.replacement_gate(leader, pods, policy).admit is admitted


def test_lifting_the_gate_keeps_other_gates() -> None:
    pod = {"spec": {"schedulingGates": [{"name": "other"}, {"name": GATE}]}}
    assert h.gated(pod) and h.without_gate(pod) == [{"name": "other"}]


def test_the_group_ready_condition_is_written_only_when_it_changes() -> None:
    pod: dict[str, Any] = {"status": {"conditions": []}}
    written = h.group_ready_condition(pod, False, "now")
    assert written == {
        "type": c.GROUP_READY_CONDITION,
        "status": "False",
        "reason": "WorkerStatefulSetNotReady",
        "lastTransitionTime": "now",
    }
    pod["status"]["conditions"] = [written]
    assert h.group_ready_condition(pod, False, "later") is None
    assert h.group_ready_condition(pod, True, "later") is not None


def _render(**spec: Any) -> list[dict[str, Any]]:
    hooks = make_hooks()
    obj = manifest(replicas=2, size=3)
    obj["spec"].update(groupIdentity="Hash", **spec)
    return render_set(default(obj, hooks), hooks)


def test_render_shows_the_leader_deployment_and_hash_groups() -> None:
    items = _render()
    kinds = [i["kind"] for i in items]
    assert "Deployment" in kinds
    assert not any(i["kind"] == "StatefulSet" and i["metadata"]["name"] == "demo" for i in items)
    deployment = next(i for i in items if i["kind"] == "Deployment")
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    assert deployment["spec"]["template"]["metadata"]["annotations"][c.GROUP_IDENTITY_ANNOTATION] == "Hash"
    leaders = [
        i for i in items if i["kind"] == "Pod" and i["metadata"]["labels"][c.WORKER_INDEX_LABEL] == "0"
    ]
    assert len(leaders) == 2
    for leader in leaders:
        key = leader["metadata"]["labels"][c.GROUP_INDEX_LABEL]
        workers = next(
            i
            for i in items
            if i["kind"] == "StatefulSet" and i["metadata"]["name"] == leader["metadata"]["name"]
        )
        assert workers["spec"]["serviceName"] == "demo"
        template = workers["spec"]["template"]["metadata"]
        assert template["annotations"][c.LEADER_ADDRESS_ANNOTATION] == f"demo-{key[:8]}.demo.default"
        assert c.ROLE_LABEL not in template["labels"]
        pods = [
            i
            for i in items
            if i["kind"] == "Pod" and i["metadata"]["name"].startswith(leader["metadata"]["name"] + "-")
        ]
        assert len(pods) == 2
        for pod in pods:
            env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
            assert env[c.LWS_LEADER_ADDRESS] == f"demo-{key[:8]}.demo.default"
            assert pod["metadata"]["labels"][c.GROUP_INDEX_LABEL] == key


def test_render_is_stable_and_unique_per_replica_names_services_after_host_names() -> None:
    assert _render() == _render()
    items = _render(networkConfig={"subdomainPolicy": "UniquePerReplica"})
    services = {i["metadata"]["name"] for i in items if i["kind"] == "Service"}
    hosts = {
        i["spec"]["hostname"]
        for i in items
        if i["kind"] == "Pod" and i["metadata"]["labels"][c.WORKER_INDEX_LABEL] == "0"
    }
    assert services == hosts and len(hosts) == 2


def test_a_leader_that_already_has_a_name_keeps_it() -> None:
    pod = _leader()
    pod["metadata"]["name"] = "chosen"
    key = h.admit_leader(pod, "ns")
    assert pod["metadata"]["name"] == "chosen" and pod["spec"]["hostname"] == f"demo-{key[:8]}"
