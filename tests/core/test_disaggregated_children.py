"""The DisaggregatedSet's children and per-slice decisions: names, labels, ownership and placement as
upstream's; the slice plan replayed against a small in-memory world reproduces upstream's e2e rollouts
(step tracking, 3 roles, add/remove/rename a role, A->B->C mid-rollout, drain to zero, scaling, slices,
legacy slice-0 adoption); the -prv Services, RoleScalers and status with upstream's rules."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.api.disaggregated.defaulting import default_disaggregatedset
from lws.core.disaggregated.children import (
    RevisionRoles,
    child_labels,
    child_name,
    desired_child,
    is_controlled_by,
    legacy_child_name,
    slice_matches,
    with_placement,
)
from lws.core.disaggregated.revision import compute_revision
from lws.core.disaggregated.rollout import (
    AnnotateInitialReplicas,
    CreateChild,
    DeleteChild,
    ScaleChild,
    SyncReplacementPolicy,
    legacy_slice_zero_to_recreate,
    plan_slice,
    rolling_update_configs,
    scale_down_old,
)
from lws.core.disaggregated.scalers import plan_scalers, scaler_seed, scaler_status
from lws.core.disaggregated.services import plan_services, prv_service
from lws.core.disaggregated.status import desired_status, set_conditions
from tests.api.ds_api_testing import UPSTREAM_STEP_CASES, make_ds, role, sample_three_roles

NOW = "2026-12-05T00:00:00Z"
LATER = "2026-12-05T01:00:00Z"


def stored(ds: dict[str, Any], uid: str = "uid-1", generation: int = 1) -> dict[str, Any]:
    out = default_disaggregatedset(ds)
    out["metadata"].update(uid=uid, generation=generation)
    return out


def revision_of(ds: dict[str, Any]) -> str:
    return compute_revision(ds["spec"]["roles"])


# --- names, labels, ownership --------------------------------------------------------------------------


def test_names_and_labels_are_upstreams() -> None:
    assert child_name("ds", 1, "abcd1234", "prefill") == "ds-1-abcd1234-prefill"
    assert legacy_child_name("ds", "abcd1234", "prefill") == "ds-abcd1234-prefill"
    assert child_labels("ds", 1, "abcd1234", "prefill") == {
        "app": "ds-1-prefill",
        "disaggregatedset.x-k8s.io/role": "prefill",
        "disaggregatedset.x-k8s.io/slice": "1",
        "disaggregatedset.x-k8s.io/name": "ds",
        "disaggregatedset.x-k8s.io/revision": "abcd1234",
    }


def test_a_child_without_slice_label_is_slice_zero() -> None:
    assert slice_matches({}, 0) and not slice_matches({}, 1)
    assert slice_matches({d.SLICE_LABEL: "2"}, 2) and not slice_matches({d.SLICE_LABEL: "2"}, 0)
    assert slice_matches({d.SLICE_LABEL: "2"}, -1)


def test_the_child_lws_is_built_as_upstream_builds_it() -> None:
    ds = stored(sample_three_roles())
    prefill = ds["spec"]["roles"][0]
    prefill["metadata"]["annotations"] = {"kueue.x-k8s.io/queue-name": "q"}
    child = desired_child(ds, prefill, 0, "abcd1234", 3)
    ours = child_labels("disaggregatedset-3role-sample", 0, "abcd1234", "prefill")
    assert child["apiVersion"] == c.API_VERSION and child["kind"] == c.KIND
    assert child["metadata"] == {
        "name": "disaggregatedset-3role-sample-0-abcd1234-prefill",
        "namespace": "default",
        # The role's own labels are kept, ours win: app is ours, not the role's "prefill".
        "labels": {"component": "disaggregation", **ours},
        "annotations": {"kueue.x-k8s.io/queue-name": "q"},
        "ownerReferences": [
            {
                "apiVersion": "disaggregatedset.x-k8s.io/v1",
                "kind": "DisaggregatedSet",
                "name": "disaggregatedset-3role-sample",
                "uid": "uid-1",
                "controller": True,
            }
        ],
    }
    assert child["metadata"]["labels"]["app"] == "disaggregatedset-3role-sample-0-prefill"
    assert child["spec"]["replicas"] == 3
    worker = child["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    assert worker["metadata"]["labels"] == {"component": "disaggregation", **ours}
    assert "leaderTemplate" not in child["spec"]["leaderWorkerTemplate"]
    # The rest of the role's spec is passed through as stored.
    assert child["spec"]["rolloutStrategy"] == prefill["spec"]["rolloutStrategy"]
    assert "affinity" not in worker["spec"]
    # The role itself is untouched.
    assert prefill["spec"]["replicas"] == 4


def test_both_pod_templates_get_labels_and_placement() -> None:
    body = role("prefill")
    template = body["spec"]["leaderWorkerTemplate"]
    template["leaderTemplate"] = {"metadata": {"annotations": {}}, "spec": {"containers": [{"name": "l"}]}}
    ds = stored(make_ds(body, role("decode"), placementPolicy={"type": "ExclusiveSlice", "topology": "rack"}))
    child = desired_child(ds, ds["spec"]["roles"][0], 0, "r", 1)
    for key in ("leaderTemplate", "workerTemplate"):
        pod = child["spec"]["leaderWorkerTemplate"][key]
        assert pod["metadata"]["labels"][d.ROLE_LABEL] == "prefill"
        assert "annotations" not in pod["metadata"]  # an empty map is copied as nil
        assert pod["spec"]["affinity"]["podAffinity"]


def test_placement_terms_are_upstreams() -> None:
    existing = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "zone", "labelSelector": {}}
                ]
            }
        }
    }
    spec = with_placement(existing, "ds", 0, {"type": "ExclusiveTopology", "topology": "rack"})
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    assert spec["affinity"]["podAffinity"][required] == [
        {
            "labelSelector": {
                "matchExpressions": [
                    {"key": d.SET_NAME_LABEL, "operator": "In", "values": ["ds"]},
                    {"key": d.SLICE_LABEL, "operator": "In", "values": ["0"]},
                ]
            },
            "topologyKey": "rack",
        }
    ]
    anti = spec["affinity"]["podAntiAffinity"][required]
    assert anti[0] == {"topologyKey": "zone", "labelSelector": {}}  # kept
    assert anti[1]["labelSelector"]["matchExpressions"] == [
        {"key": d.SET_NAME_LABEL, "operator": "In", "values": ["ds"]},
        {"key": d.SLICE_LABEL, "operator": "Exists"},
        {"key": d.SLICE_LABEL, "operator": "NotIn", "values": ["0"]},
    ]
    assert anti[2]["labelSelector"]["matchExpressions"] == [
        {"key": d.SET_NAME_LABEL, "operator": "Exists"},
        {"key": d.SET_NAME_LABEL, "operator": "NotIn", "values": ["ds"]},
        {"key": d.SLICE_LABEL, "operator": "Exists"},
    ]
    assert existing["affinity"]["podAntiAffinity"][required] == [{"topologyKey": "zone", "labelSelector": {}}]
    # Slice 1: no Exists term; ExclusiveSlice: no third term.
    slice_one = with_placement({}, "ds", 1, {"type": "ExclusiveSlice", "topology": "rack"})
    [spread] = slice_one["affinity"]["podAntiAffinity"][required]
    assert [e["operator"] for e in spread["labelSelector"]["matchExpressions"]] == ["In", "NotIn"]


@pytest.mark.parametrize("policy", [None, {"type": "None", "topology": "rack"}, {"type": "ExclusiveSlice"}])
def test_no_placement_adds_nothing(policy: dict[str, str] | None) -> None:
    assert with_placement({"containers": []}, "ds", 0, policy) == {"containers": []}


def test_control_is_by_uid() -> None:
    ds = stored(make_ds())
    child = desired_child(ds, ds["spec"]["roles"][0], 0, "r", 1)
    assert is_controlled_by(child, ds)
    assert not is_controlled_by(child, stored(make_ds(), uid="uid-2"))
    child["metadata"]["ownerReferences"][0]["controller"] = False
    assert not is_controlled_by(child, ds)


# --- an in-memory world the slice plan acts on ------------------------------------------------------------


@dataclass
class World:
    """Child LeaderWorkerSets of one set; every group becomes ready as soon as it is asked for."""

    ds: dict[str, Any]
    children: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: int = 0
    scalers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, DeleteChild):
                del self.children[action.name]
            elif isinstance(action, AnnotateInitialReplicas):
                meta = self.children[action.name]["metadata"]
                meta.setdefault("annotations", {})[d.INITIAL_REPLICAS_ANNOTATION] = str(action.replicas)
            elif isinstance(action, CreateChild):
                manifest = copy.deepcopy(action.manifest)
                self.clock += 1
                manifest["metadata"]["creationTimestamp"] = (
                    f"2026-01-01T00:{self.clock // 60:02d}:{self.clock % 60:02d}Z"
                )
                self.children.setdefault(action.name, manifest)
            elif isinstance(action, ScaleChild):
                self.children[action.name]["spec"]["replicas"] = action.replicas

    def settle(self) -> None:
        for lws in self.children.values():
            n = lws["spec"]["replicas"]
            lws["status"] = {"replicas": n, "readyReplicas": n, "updatedReplicas": n}

    def in_slice(self, slice_index: int) -> list[dict[str, Any]]:
        return [x for x in self.children.values() if slice_matches(x["metadata"]["labels"], slice_index)]

    def reconcile(self) -> bool:
        """One reconcile of every slice; whether anything was done or asked to look again."""
        revision = revision_of(self.ds)
        busy = False
        for slice_index in range(self.ds["spec"].get("slices", 1)):
            plan = plan_slice(self.ds, slice_index, revision, self.in_slice(slice_index), self.scalers)
            self.apply(plan.actions)
            busy = busy or bool(plan.actions) or plan.requeue_after is not None
        self.settle()
        return busy

    def run(self, observe: Callable[[], Any] | None = None, limit: int = 200) -> list[Any]:
        seen: list[Any] = [] if observe is None else [observe()]
        for _ in range(limit):
            busy = self.reconcile()
            if observe is not None and observe() != seen[-1]:
                seen.append(observe())
            if not busy:
                return seen
        raise AssertionError("the rollout did not settle")

    def replicas(self, role_name: str, *, new: bool) -> int:
        revision = revision_of(self.ds)
        return sum(
            x["spec"]["replicas"]
            for x in self.children.values()
            if x["metadata"]["labels"][d.ROLE_LABEL] == role_name
            and (x["metadata"]["labels"][d.REVISION_LABEL] == revision) == new
        )

    def revisions(self) -> set[str]:
        return {x["metadata"]["labels"][d.REVISION_LABEL] for x in self.children.values()}


def rolling(body: dict[str, Any], surge: object = 1, unavailable: object = 0) -> dict[str, Any]:
    body["spec"]["rolloutStrategy"] = {
        "rollingUpdateConfiguration": {"maxSurge": surge, "maxUnavailable": unavailable}
    }
    return body


def two_roles(
    prefill: int, decode: int, image: str, surge: object = 1, unavailable: object = 0
) -> dict[str, Any]:
    return stored(
        make_ds(
            rolling(role("prefill", prefill, image), surge, unavailable),
            rolling(role("decode", decode, image), surge, unavailable),
        )
    )


def deployed(ds: dict[str, Any]) -> World:
    world = World(ds)
    world.run()
    return world


@pytest.mark.parametrize(("source", "target", "surge", "unavailable", "expected"), UPSTREAM_STEP_CASES)
def test_upstreams_step_tracking_e2e_cases(
    source: tuple[int, int],
    target: tuple[int, int],
    surge: int,
    unavailable: int,
    expected: list[tuple[int, ...]],
) -> None:
    world = deployed(two_roles(*source, "pause:3.9", surge, unavailable))
    world.ds = two_roles(*target, "pause:3.10", surge, unavailable)

    def state() -> tuple[int, ...]:
        return (
            world.replicas("prefill", new=False),
            world.replicas("decode", new=False),
            world.replicas("prefill", new=True),
            world.replicas("decode", new=True),
        )

    assert world.run(state) == expected
    assert world.revisions() == {revision_of(world.ds)}


def test_the_first_rollout_step_annotates_old_children_and_creates_new_ones_at_zero() -> None:
    world = deployed(two_roles(2, 2, "a"))
    old_names = set(world.children)
    world.ds = two_roles(2, 2, "b")
    plan = plan_slice(world.ds, 0, revision_of(world.ds), world.in_slice(0), {})
    assert sorted(a.name for a in plan.actions if isinstance(a, AnnotateInitialReplicas)) == sorted(old_names)
    created = [a for a in plan.actions if isinstance(a, CreateChild)]
    assert [a.manifest["spec"]["replicas"] for a in created] == [0, 0]
    assert plan.requeue_after == 1.0
    assert [e.reason for e in plan.events] == ["RollingUpdateStarted"]


def test_the_rollout_waits_for_the_new_revision_to_be_ready() -> None:
    world = deployed(two_roles(2, 2, "a"))
    world.ds = two_roles(2, 2, "b")
    world.reconcile()
    revision = revision_of(world.ds)
    plan = plan_slice(world.ds, 0, revision, world.in_slice(0), {})
    [up, _] = plan.actions
    assert isinstance(up, ScaleChild) and up.replicas == 1
    world.apply(plan.actions)  # not settled: new groups are not ready
    waiting = plan_slice(world.ds, 0, revision, world.in_slice(0), {})
    assert (waiting.actions, waiting.requeue_after) == ([], 1.0)


def every_revision_serves_all_roles_or_none(world: World) -> Callable[[], Any]:
    def check() -> int:
        for revision in world.revisions():
            counts = [
                x["spec"]["replicas"]
                for x in world.children.values()
                if x["metadata"]["labels"][d.REVISION_LABEL] == revision
            ]
            assert all(n > 0 for n in counts) or all(n == 0 for n in counts), counts
        return len(world.children)

    return check


def test_coordinated_drain_leaves_no_single_role_revision() -> None:
    world = deployed(two_roles(3, 5, "a"))
    world.ds = two_roles(3, 5, "b")
    world.run(every_revision_serves_all_roles_or_none(world))
    assert len(world.revisions()) == 1


def test_a_three_role_rollout_completes() -> None:
    ds = stored(sample_three_roles())
    world = deployed(ds)
    assert len(world.children) == 3
    changed = copy.deepcopy(sample_three_roles())
    for r in changed["spec"]["roles"]:
        r["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["image"] = "pause:3.10"
    world.ds = stored(changed)
    world.run(every_revision_serves_all_roles_or_none(world))
    assert len(world.children) == 3 and world.revisions() == {revision_of(world.ds)}
    assert [world.replicas(r, new=True) for r in ("prefill", "decode", "encode")] == [4, 2, 2]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["alpha", "beta"], ["alpha", "beta", "gamma"]),
        (["alpha", "beta", "encode"], ["alpha", "beta"]),
        (["alpha", "beta", "zeta"], ["alpha", "beta", "gamma"]),
    ],
    ids=["add-role", "remove-role", "rename-role"],
)
def test_role_changes_roll_out_progressively(before: list[str], after: list[str]) -> None:
    world = deployed(stored(make_ds(*(role(r, 3) for r in before))))
    world.ds = stored(make_ds(*(role(r, 3) for r in after)))
    old_revision = next(iter(world.revisions()))
    drains: list[int] = []

    def observe() -> tuple[int, ...]:
        old = [
            x["spec"]["replicas"]
            for x in world.children.values()
            if x["metadata"]["labels"][d.REVISION_LABEL] == old_revision
        ]
        drains.append(sum(old))
        return tuple(old)

    world.run(observe)
    assert world.revisions() == {revision_of(world.ds)}
    assert sorted(x["metadata"]["labels"][d.ROLE_LABEL] for x in world.children.values()) == sorted(after)
    # Progressive, not a brutal drain: the old revision shrank through intermediate sizes.
    assert len({n for n in drains if 0 < n < 3 * len(before)}) >= 2


def test_a_mid_rollout_change_drains_the_intermediate_revision_first() -> None:
    world = deployed(two_roles(4, 4, "a"))
    revision_a = revision_of(world.ds)
    world.ds = two_roles(4, 4, "b")
    revision_b = revision_of(world.ds)
    for _ in range(4):
        world.reconcile()
    assert {revision_a, revision_b} <= world.revisions()
    world.ds = two_roles(4, 4, "c")

    def totals() -> tuple[int, int]:
        def total(rev: str) -> int:
            return sum(
                x["spec"]["replicas"]
                for x in world.children.values()
                if x["metadata"]["labels"][d.REVISION_LABEL] == rev
            )

        return total(revision_a), total(revision_b)

    seen = world.run(totals)
    gone_b = next(i for i, (_, b) in enumerate(seen) if b == 0)
    gone_a = next(i for i, (a, _) in enumerate(seen) if a == 0)
    assert gone_b <= gone_a
    assert world.revisions() == {revision_of(world.ds)}
    assert world.replicas("prefill", new=True) == world.replicas("decode", new=True) == 4


def test_old_revisions_created_in_the_same_second_drain_in_one_order_whatever_the_cache_order() -> None:
    def revision(name: str, second: int) -> RevisionRoles:
        def child(role_name: str) -> dict[str, Any]:
            return {
                "metadata": {
                    "name": f"x-{name}-{role_name}",
                    "creationTimestamp": f"2026-01-01T00:00:0{second}Z",
                },
                "spec": {"replicas": 2},
            }

        return RevisionRoles(name, {"prefill": child("prefill"), "decode": child("decode")})

    roles = ["prefill", "decode"]
    tied = [revision("aaa", 5), revision("bbb", 5)]
    first = scale_down_old(tied, roles, current=[6, 6], target=[4, 4])
    assert first == scale_down_old(list(reversed(tied)), roles, current=[6, 6], target=[4, 4])
    assert {a.name for a in first} == {"x-bbb-prefill", "x-bbb-decode"}
    # A revision a second newer drains first, whatever its name.
    newer = [revision("aaa", 6), revision("bbb", 5)]
    assert {a.name for a in scale_down_old(newer, roles, current=[6, 6], target=[4, 4])} == {
        "x-aaa-prefill",
        "x-aaa-decode",
    }


def test_scaling_without_a_template_change_scales_in_place() -> None:
    world = deployed(two_roles(1, 1, "a"))
    names = set(world.children)
    world.ds = two_roles(3, 3, "a")
    world.run()
    assert set(world.children) == names
    assert [x["spec"]["replicas"] for x in world.children.values()] == [3, 3]
    world.ds = two_roles(1, 1, "a")
    world.run()
    assert [x["spec"]["replicas"] for x in world.children.values()] == [1, 1]


def test_group_replacement_policy_is_synced_in_place_without_a_rollout() -> None:
    """Upstream main (PR #1050): not part of the revision, so a role's change is pushed onto its children."""
    world = deployed(two_roles(1, 1, "a"))
    names = set(world.children)
    world.ds["spec"]["roles"][1]["spec"]["groupReplacementPolicy"] = "Immediate"
    plan = plan_slice(world.ds, 0, revision_of(world.ds), world.in_slice(0), {})
    decode = child_name("demo", 0, revision_of(world.ds), "decode")
    assert plan.actions == [SyncReplacementPolicy(decode, "Immediate")]
    world.children[decode]["spec"]["groupReplacementPolicy"] = "Immediate"
    assert plan_slice(world.ds, 0, revision_of(world.ds), world.in_slice(0), {}).actions == []
    # Unset on either side means the default, PostTermination: nothing to write.
    world.ds["spec"]["roles"][1]["spec"]["groupReplacementPolicy"] = "PostTermination"
    del world.children[decode]["spec"]["groupReplacementPolicy"]
    assert plan_slice(world.ds, 0, revision_of(world.ds), world.in_slice(0), {}).actions == []
    assert set(world.children) == names


def test_drain_to_zero_then_back() -> None:
    world = deployed(two_roles(2, 2, "a"))
    world.ds = two_roles(0, 0, "a")
    world.run()
    assert [x["spec"]["replicas"] for x in world.children.values()] == [0, 0]
    world.ds = two_roles(0, 0, "b")  # a new template while drained: the drained revision goes away
    world.run()
    assert world.revisions() == {revision_of(world.ds)}


def test_slices_are_reconciled_independently_and_removed_slices_deleted() -> None:
    ds = two_roles(1, 1, "a")
    ds["spec"]["slices"] = 3
    world = deployed(ds)
    assert sorted(x["metadata"]["labels"][d.SLICE_LABEL] for x in world.children.values()) == [
        "0",
        "0",
        "1",
        "1",
        "2",
        "2",
    ]
    from lws.core.disaggregated.rollout import removed_slices

    assert sorted(removed_slices(list(world.children.values()), 2)) == sorted(
        n for n, x in world.children.items() if x["metadata"]["labels"][d.SLICE_LABEL] == "2"
    )


def test_a_legacy_slice_zero_child_is_adopted_not_duplicated() -> None:
    ds = two_roles(2, 2, "a")
    revision = revision_of(ds)
    world = World(ds)
    for r in ds["spec"]["roles"]:
        legacy = desired_child(ds, r, 0, revision, 2)
        legacy["metadata"]["name"] = legacy_child_name("demo", revision, r["name"])
        del legacy["metadata"]["labels"][d.SLICE_LABEL]
        world.children[legacy["metadata"]["name"]] = legacy
    world.settle()
    plan = plan_slice(ds, 0, revision, world.in_slice(0), {})
    assert plan.actions == []
    world.ds = two_roles(3, 2, "a")
    plan = plan_slice(world.ds, 0, revision, world.in_slice(0), {})
    assert plan.actions == [ScaleChild(f"demo-{revision}-prefill", "prefill", 2, 3)]
    # Kept as it is with one slice; recreated slices-aware once a second slice would share its revision.
    legacy = list(world.children.values())
    assert legacy_slice_zero_to_recreate(world.ds, revision, legacy) == []
    world.ds["spec"]["slices"] = 2
    assert legacy_slice_zero_to_recreate(world.ds, revision, legacy) == [
        f"demo-{revision}-prefill",
        f"demo-{revision}-decode",
    ]
    assert legacy_slice_zero_to_recreate(world.ds, "other", legacy) == []


def test_rolling_update_configuration_resolves_percentages_against_the_target() -> None:
    ds = two_roles(4, 4, "a", surge="50%", unavailable="25%")
    assert [
        (cfg.max_surge, cfg.max_unavailable) for cfg in rolling_update_configs(ds, ["prefill", "decode"], {})
    ] == [
        (2, 1),
        (2, 1),
    ]
    ds = two_roles(4, 4, "a", surge=0, unavailable="10%")  # unavailable rounds down to 0: the default stays
    assert rolling_update_configs(ds, ["prefill", "decode"], {})[0].max_surge == 1
    plain = stored(make_ds(role("prefill", 4), role("decode", 4)))
    assert [
        (cfg.max_surge, cfg.max_unavailable)
        for cfg in rolling_update_configs(plain, ["prefill", "decode"], {})
    ] == [
        (1, 0),
        (1, 0),
    ]


def test_percentage_rollout_completes_with_final_replicas() -> None:
    world = deployed(two_roles(4, 4, "a", surge="50%", unavailable="25%"))
    world.ds = two_roles(4, 4, "b", surge="50%", unavailable="25%")
    world.run(every_revision_serves_all_roles_or_none(world))
    assert world.replicas("prefill", new=True) == world.replicas("decode", new=True) == 4


# --- External roles and scalers ------------------------------------------------------------------------


def external_ds(replicas: int = 1) -> dict[str, Any]:
    prefill = role("prefill", replicas)
    prefill["scaling"] = {"mode": "External"}
    return stored(make_ds(prefill, role("decode", 2)))


def test_scalers_are_created_seeded_and_deleted_as_upstream() -> None:
    ds = external_ds()
    plan = plan_scalers(ds, [], [])
    [scaler] = plan.create
    assert scaler == {
        "apiVersion": "disaggregatedset.x-k8s.io/v1",
        "kind": "DisaggregatedSetRoleScaler",
        "metadata": {
            "name": "demo-prefill",
            "namespace": "default",
            "labels": {d.SET_NAME_LABEL: "demo", d.ROLE_LABEL: "prefill"},
            "ownerReferences": [
                {
                    "apiVersion": "disaggregatedset.x-k8s.io/v1",
                    "kind": "DisaggregatedSet",
                    "name": "demo",
                    "uid": "uid-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": 1},
    }
    # A Static -> External flip seeds the scaler with the running groups.
    running = [
        desired_child(ds, ds["spec"]["roles"][0], 0, "r1", 3),
        desired_child(ds, ds["spec"]["roles"][0], 0, "r2", 2),
    ]
    assert scaler_seed("prefill", running) == 5
    # Back to Static: the controlled scaler is deleted; a foreign one is left alone.
    static = stored(make_ds(role("prefill", 2), role("decode", 2)))
    foreign = copy.deepcopy(scaler)
    foreign["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    assert plan_scalers(static, [scaler, foreign], []).delete == ["demo-prefill"]
    assert plan_scalers(ds, [scaler], []).create == []
    assert plan_scalers(ds, [scaler], []).by_role == {"prefill": scaler}


def test_external_roles_follow_their_scaler_and_never_shrink_mid_rollout() -> None:
    ds = external_ds()
    scaler = plan_scalers(ds, [], []).create[0]
    world = World(ds, scalers={"prefill": scaler})
    world.run()
    assert world.replicas("prefill", new=True) == 1
    scaler["spec"]["replicas"] = 3  # kubectl scale / HPA
    world.run()
    assert world.replicas("prefill", new=True) == 3


def test_scaler_status_counts_groups_and_selects_leaders() -> None:
    ds = external_ds()
    scaler = plan_scalers(ds, [], []).create[0]
    scaler["metadata"]["generation"] = 2
    children = [desired_child(ds, ds["spec"]["roles"][0], 0, "r", 2)]
    children[0]["status"] = {"replicas": 2}
    status = scaler_status(ds, scaler, children, NOW)
    assert status == {
        "replicas": 2,
        "selector": "disaggregatedset.x-k8s.io/name=demo,disaggregatedset.x-k8s.io/role=prefill,"
        "leaderworkerset.sigs.k8s.io/worker-index=0",
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "observedGeneration": 2,
                "lastTransitionTime": NOW,
                "reason": "Bound",
                "message": "Scaler bound to a live DisaggregatedSet role",
            }
        ],
    }
    scaler["status"] = status
    assert scaler_status(ds, scaler, children, LATER)["conditions"][0]["lastTransitionTime"] == NOW


# --- -prv Services -------------------------------------------------------------------------------------


def test_services_wait_for_every_role_of_the_target_revision_then_replace_old_ones() -> None:
    world = deployed(two_roles(1, 1, "a"))
    old_revision = revision_of(world.ds)
    plan = plan_services(world.ds, 0, world.in_slice(0), [], old_revision)
    assert sorted(s["metadata"]["name"] for s in plan.create) == sorted(f"{n}-prv" for n in world.children)
    service = prv_service(world.ds, world.in_slice(0)[0])
    assert service["spec"] == {"clusterIP": "None", "selector": service["metadata"]["labels"]}
    assert "ports" not in service["spec"]
    assert set(service["metadata"]["labels"]) == {
        d.SET_NAME_LABEL,
        d.ROLE_LABEL,
        d.REVISION_LABEL,
        d.SLICE_LABEL,
    }
    old_services = plan.create
    world.ds = two_roles(1, 1, "b")
    world.reconcile()  # new children at 0: not ready
    revision = revision_of(world.ds)
    waiting = plan_services(world.ds, 0, world.in_slice(0), old_services, revision)
    assert (waiting.create, waiting.delete) == ([], [])
    world.run()
    done = plan_services(world.ds, 0, world.in_slice(0), old_services, revision)
    assert sorted(done.delete) == sorted(s["metadata"]["name"] for s in old_services)
    assert len(done.create) == 2


def test_a_legacy_child_gets_a_slice_agnostic_service() -> None:
    ds = two_roles(1, 1, "a")
    child = desired_child(ds, ds["spec"]["roles"][0], 0, "r", 1)
    del child["metadata"]["labels"][d.SLICE_LABEL]
    assert d.SLICE_LABEL not in prv_service(ds, child)["spec"]["selector"]


# --- status --------------------------------------------------------------------------------------------


def test_status_is_available_only_when_every_role_is_at_target_everywhere() -> None:
    ds = two_roles(2, 1, "a")
    ds["spec"]["slices"] = 2
    world = deployed(ds)
    status, changed = desired_status(world.ds, list(world.children.values()), revision_of(ds), {}, NOW)
    assert changed
    assert status["roleStatuses"] == [
        {"name": "prefill", "replicas": 4, "readyReplicas": 4, "updatedReplicas": 4},
        {"name": "decode", "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2},
    ]
    assert [(cd["type"], cd["status"], cd["reason"]) for cd in status["conditions"]] == [
        ("Available", "True", "AllRolesReady")
    ]
    world.ds["status"] = status
    again, changed = desired_status(world.ds, list(world.children.values()), revision_of(ds), {}, LATER)
    assert not changed and again == status


def test_conditions_flip_as_a_pair_and_keep_transition_times() -> None:
    conditions, changed = set_conditions([], False, 1, NOW)
    assert changed and [(cd["type"], cd["status"]) for cd in conditions] == [("Progressing", "True")]
    conditions, changed = set_conditions(conditions, True, 1, LATER)
    assert changed
    assert [(cd["type"], cd["status"], cd["reason"], cd["lastTransitionTime"]) for cd in conditions] == [
        ("Progressing", "False", "AllRolesReady", LATER),
        ("Available", "True", "AllRolesReady", LATER),
    ]
    same, changed = set_conditions(conditions, True, 1, "2030-01-01T00:00:00Z")
    assert not changed and same == conditions
    bumped, changed = set_conditions(conditions, True, 2, "2030-01-01T00:00:00Z")
    assert changed and all(cd["observedGeneration"] == 2 for cd in bumped)
    assert [cd["lastTransitionTime"] for cd in bumped] == [LATER, LATER]


def test_an_external_role_without_its_scaler_is_never_available() -> None:
    ds = external_ds()
    world = World(ds)
    world.run()
    status, _ = desired_status(ds, list(world.children.values()), revision_of(ds), {}, NOW)
    assert [cd["type"] for cd in status["conditions"] if cd["status"] == "True"] == ["Progressing"]


def test_role_statuses_list_spec_roles_only_even_while_a_removed_role_drains() -> None:
    world = deployed(stored(make_ds(role("a", 2), role("b", 2), role("c", 2))))
    world.ds = stored(make_ds(role("a", 2), role("b", 2)))
    world.reconcile()
    status, _ = desired_status(world.ds, list(world.children.values()), revision_of(world.ds), {}, NOW)
    assert [s["name"] for s in status["roleStatuses"]] == ["a", "b"]
