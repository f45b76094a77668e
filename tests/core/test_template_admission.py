"""Admission written into a worker template makes the very pods the webhook would have made.

For every upstream sample, resized to groups of two (one worker per group, whose template is admitted) and
as it is, and for the plugin settings that change pods: the pods of the operator's worker StatefulSet,
taken as the StatefulSet controller makes them *without* an admission call when their template says it
was admitted, equal the pods of upstream's worker template (what upstream's controller, or an earlier
version of this one, builds: the StatefulSets a takeover finds) after the pod webhook, label for label,
env for env; and the webhook, if a pod reaches it anyway (an older configuration during an upgrade), leaves
it as it is.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core import admission, desired
from lws.core.pod_mutation import mutate_pod
from lws.core.statefulset_pods import statefulset_pod
from lws.core.statefulsets import worker_statefulset
from lws.core.template_admission import admit_in_template
from lws.hooks.manager import Hooks
from lws.hooks.types import GroupContext
from lws.plugin import hookimpl
from lws.plugin_testing import make_test_hooks
from tests import upstream_samples
from tests.core.conftest import manifest

# Every upstream sample LeaderWorkerSet, as ``file:name``; a missing or short folder fails collection.
SAMPLE_SETS = upstream_samples.leaderworkersets()


def _resized(obj: dict[str, Any], size: int) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    lwt = out["spec"]["leaderWorkerTemplate"]
    lwt["size"] = size
    sub = lwt.get("subGroupPolicy")
    if (
        sub is not None
        and size % int(sub.get("subGroupSize", 1))
        and (size - 1) % int(sub.get("subGroupSize", 1))
    ):
        sub["subGroupSize"] = 1
    return out


def _without_stand_ins(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod without the marker and the StatefulSet controller's hash of the template (which differ by
    construction: the templates differ)."""
    meta = dict(pod["metadata"])
    meta["labels"] = {
        k: v for k, v in meta["labels"].items() if k not in (c.TEMPLATE_ADMITTED_LABEL, c.STS_REVISION_LABEL)
    }
    meta["ownerReferences"] = None
    return {**pod, "metadata": meta}


def _compare_workers(obj: dict[str, Any], hooks: Hooks) -> list[bool]:
    """Check every worker pod of the first two groups; return, per group, whether its template was admitted."""
    lws = LeaderWorkerSet(admission.default(obj, hooks, namespace="ns"))
    revision = desired.current_revision(lws, hooks)
    leader_sts = desired.desired_leader_statefulset(lws, revision, replicas=lws.replicas, partition=0)
    admitted: list[bool] = []
    for index in range(min(lws.replicas, 2)):
        leader = mutate_pod(statefulset_pod(leader_sts, index), namespace=lws.namespace, hooks=hooks)
        group_key = leader["metadata"]["labels"][c.GROUP_UNIQUE_HASH_LABEL]
        ctx = GroupContext(lws=lws, group_index=index, revision=revision.key)
        ours = desired.desired_worker_statefulset(
            ctx, hooks, group_key=group_key, pod_annotations=revision.pod_annotations, live=lws
        )
        upstreams = worker_statefulset(
            lws,
            group_index=index,
            revision=revision.key,
            group_key=group_key,
            leader_uid=None,
            pod_annotations=revision.pod_annotations,
        )
        hooks.worker_template(upstreams["spec"]["template"], ctx)
        marked = c.TEMPLATE_ADMITTED_LABEL in ours["spec"]["template"]["metadata"]["labels"]
        admitted.append(marked)
        assert {k: v for k, v in ours.items() if k != "spec"} == {
            k: v for k, v in upstreams.items() if k != "spec"
        }
        for ordinal in range(1, lws.size):
            made = statefulset_pod(ours, ordinal)
            pod = made if marked else mutate_pod(made, namespace=lws.namespace, hooks=hooks)
            expected = mutate_pod(statefulset_pod(upstreams, ordinal), namespace=lws.namespace, hooks=hooks)
            assert _without_stand_ins(pod) == _without_stand_ins(expected), made["metadata"]["name"]
            assert mutate_pod(pod, namespace=lws.namespace, hooks=hooks) == pod, (
                "admitting it again changes nothing"
            )
    return admitted


@pytest.mark.parametrize(("stem", "sample"), SAMPLE_SETS, ids=[s for s, _ in SAMPLE_SETS])
@pytest.mark.parametrize("size", [None, 2])
def test_worker_pods_of_every_sample_are_those_the_webhook_makes(
    stem: str, sample: dict[str, Any], size: int | None
) -> None:
    enable = ("volcano",) if "volcano" in stem else ()
    hooks = make_test_hooks(enable=enable)
    obj = sample if size is None else _resized(sample, size)
    admitted = _compare_workers(obj, hooks)
    group_size = obj["spec"]["leaderWorkerTemplate"].get("size", 1)
    if group_size == 2:
        assert all(admitted), "a group of two has its one worker admitted in the template"
    else:
        assert not any(admitted), "workers told apart only by their index go through the webhook"


@pytest.mark.parametrize(
    ("annotations", "template", "enable"),
    [
        ({"leaderworkerset.sigs.k8s.io/exclusive-topology": "topology.kubernetes.io/zone"}, {}, ()),
        (
            {"leaderworkerset.sigs.k8s.io/subgroup-exclusive-topology": "example.com/rack"},
            {"subGroupPolicy": {"subGroupSize": 1}},
            (),
        ),
        ({}, {"subGroupPolicy": {"subGroupPolicyType": "LeaderExcluded", "subGroupSize": 1}}, ()),
        (
            {
                "placement.lws.x-k8s.io/mode": "exclusive-in-set",
                "placement.lws.x-k8s.io/topology": "example.com/rack",
            },
            {},
            (),
        ),
        ({}, {}, ("volcano",)),
        ({}, {}, ("coscheduling",)),
    ],
    ids=[
        "exclusive-topology",
        "subgroup-exclusive",
        "leader-excluded",
        "placement",
        "volcano",
        "coscheduling",
    ],
)
def test_plugin_settings_are_admitted_in_the_template_exactly(
    annotations: dict[str, str], template: dict[str, Any], enable: tuple[str, ...]
) -> None:
    hooks = make_test_hooks(enable=enable)
    assert _compare_workers(manifest(replicas=2, size=2, annotations=annotations, **template), hooks) == [
        True,
        True,
    ]


def test_tpu_workers_of_a_group_of_two_get_their_tpu_env_in_the_template() -> None:
    hooks = make_test_hooks()
    tpu = {"resources": {"limits": {"google.com/tpu": "4"}}}
    obj = manifest(replicas=2, size=2)
    obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0].update(tpu)
    assert _compare_workers(obj, hooks) == [True, True]
    lws = LeaderWorkerSet(admission.default(obj, hooks, namespace="ns"))
    sts = desired.desired_worker_statefulset(
        GroupContext(lws=lws, group_index=1, revision="r"), hooks, group_key="k", pod_annotations={}, live=lws
    )
    env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LWS_WORKER_INDEX"] == "1" and env["TPU_WORKER_ID"] == "1" and env["TPU_NAME"] == "demo-1"


class _NotIdempotent:
    """A plugin whose mutation adds an env var every time it runs (a third-party plugin could)."""

    @staticmethod
    @hookimpl
    def lws_mutate_pod(pod: dict[str, Any], ctx: Any) -> None:
        for container in pod["spec"]["containers"]:
            container.setdefault("env", []).append({"name": "SEEN", "value": "again"})


def test_a_mutation_that_would_change_an_admitted_pod_again_keeps_the_webhook() -> None:
    hooks = make_test_hooks(("not-idempotent", _NotIdempotent))
    lws = LeaderWorkerSet(admission.default(manifest(replicas=1, size=2), hooks, namespace="ns"))
    sts = worker_statefulset(
        lws, group_index=0, revision="r", group_key="k", leader_uid=None, pod_annotations={}
    )
    before = copy.deepcopy(sts)
    assert admit_in_template(sts, hooks) is False
    assert sts == before, "left as it was: its pods go through the webhook"
