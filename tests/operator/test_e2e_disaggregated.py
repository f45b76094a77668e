"""DisaggregatedSets live: upstream's end-to-end cases (``test/e2e/disaggregatedset``, 060ab4da), run against
the cluster under test with the operator reconciling them.

Upstream's two samples apply unchanged with kubectl, become Available and are exactly what ``lws render``
prints; the webhook rejects a partition and warns about an External role's replicas; scaling moves the
children in place; a rolling update follows upstream's planned steps, each state seen by a watch of the
children lying between two planned steps (so no role of a revision ever drains alone) and within the surge
bound; percentages resolve as upstream's; the ``-prv`` Services are headless, portless and select one role
of one revision; labels and annotations reach children and pods; slices get children and Services of their
own and fewer slices delete the rest; placement keeps a slice in one rack; three
roles, role changes and a change in the middle of a rollout converge; RoleScalers serve ``/scale`` and
``kubectl scale``; every role drained to zero keeps its child at zero; deleting the set removes everything
through garbage collection. With ``LWS_TEST_KUBECONFIG`` they run on that cluster against the operator
deployed there (``python -m tests.realcluster run --operator -- pytest tests/operator/test_e2e_disaggregated.py``);
the last two need an operator of their own (``sim_only``): a settled set costs no writes, and taking over
a set upstream's controller ran rolls nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from ds_kit import (
    ChildTimeline,
    State,
    available,
    between,
    children,
    disaggregated_set,
    leaders,
    prefill_decode,
    revisions,
    role,
    role_replicas,
    running_pods,
    scaler,
    services,
    single_revision,
    wait_available,
)
from e2e_kit import OTHER_IMAGE, Kube, assert_matches_render, condition, labels
from operator_harness import E2E, Private

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cluster.resources import (
    DEPLOYMENTS,
    DISAGGREGATEDSETS,
    EVENTS,
    LEADERWORKERSETS,
    MUTATING_WEBHOOK_CONFIGURATIONS,
    NODES,
    PODS,
    ROLE_SCALERS,
    SERVICES,
    STATEFULSETS,
    VALIDATING_WEBHOOK_CONFIGURATIONS,
)
from lws.core.disaggregated.admission import admit
from lws.core.disaggregated.render import render_disaggregated_set
from lws.core.disaggregated.revision import compute_revision
from lws.hooks.manager import make_hooks
from lws.sim.testing import wait_until
from tests.api.ds_api_testing import UPSTREAM_SAMPLES, UPSTREAM_STEP_CASES

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
#: Node labels a slice may be kept within: the embedded test topology's racks, the real plane's node pools.
TOPOLOGY_KEYS = ("example.com/rack", "cloud.google.com/gke-nodepool")
#: Revisions upstream's Go code computed (tests/core/data/ds_revision_vectors.json).
UPSTREAM_REVISIONS = {
    v["name"]: v["revision"]
    for v in json.loads(
        (Path(__file__).parents[1] / "core" / "data" / "ds_revision_vectors.json").read_text()
    )["vectors"]
}


def _apply(kube: Kube, ns: str, body: Obj) -> Any:
    return kube.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(body))


def _events(kube: Kube, ns: str, name: str) -> list[Obj]:
    return [
        e
        for e in kube.list(EVENTS, ns)
        if (e.get("regarding") or {}).get("kind") == d.KIND and e["regarding"].get("name") == name
    ]


# --- upstream's samples ----------------------------------------------------------------------------------


@pytest.fixture
def default_namespace_cleanup(kube: Kube) -> Iterator[None]:
    """The samples name namespace ``default``: delete what they made there afterwards."""
    yield
    for text in UPSTREAM_SAMPLES.values():
        name = yaml.safe_load(text)["metadata"]["name"]
        kube.delete(DISAGGREGATEDSETS, "default", name, propagation="Foreground")
        wait_until(lambda n=name: not children(kube, "default", n), 60, f"{name}'s children to go")


@pytest.mark.parametrize("sample", sorted(UPSTREAM_SAMPLES))
def test_upstream_sample_applies_unchanged_and_is_what_render_prints(
    kube: Kube, sample: str, default_namespace_cleanup: None
) -> None:
    text = UPSTREAM_SAMPLES[sample]
    manifest = yaml.safe_load(text)
    name, ns = manifest["metadata"]["name"], "default"
    kube.kubectl("apply", "-f", "-", stdin=text)
    stored = wait_available(kube, ns, name)

    # The controller's children are exactly what `lws render` prints for the stored set.
    hooks = make_hooks()
    defaulted, verdict = admit(manifest, hooks, namespace=ns)
    assert not verdict.errors, [str(e) for e in verdict.errors]
    assert stored["spec"] == defaulted["spec"], "the API server stored the defaults render applies"
    revision = compute_revision(stored["spec"]["roles"])
    rendered = render_disaggregated_set({**defaulted, "metadata": stored["metadata"]}, hooks)
    rendered_children = [o for o in rendered if o["kind"] == c.KIND]
    live = {o["metadata"]["name"]: o for o in children(kube, ns, name)}
    assert sorted(live) == sorted(o["metadata"]["name"] for o in rendered_children)
    for child in rendered_children:
        have = live[child["metadata"]["name"]]
        assert have["metadata"]["labels"][d.REVISION_LABEL] == revision
        for key in ("labels", "annotations", "ownerReferences"):
            assert have["metadata"].get(key) == child["metadata"].get(key), (child["metadata"]["name"], key)
        assert have["spec"] == child["spec"], child["metadata"]["name"]
        assert_matches_render(kube, ns, child, have)
    rendered_services = {o["metadata"]["name"]: o for o in rendered if o["metadata"]["name"].endswith("-prv")}
    live_services = {o["metadata"]["name"]: o for o in services(kube, ns, name)}
    assert sorted(live_services) == sorted(rendered_services)
    for service_name, service in rendered_services.items():
        have = live_services[service_name]
        assert have["metadata"]["labels"] == service["metadata"]["labels"]
        assert have["metadata"]["ownerReferences"] == service["metadata"]["ownerReferences"]
        assert have["spec"]["selector"] == service["spec"]["selector"]
    roles = [r["name"] for r in manifest["spec"]["roles"]]
    slices = manifest["spec"].get("slices", 1)
    statuses = {s["name"]: s for s in stored["status"]["roleStatuses"]}
    for r in manifest["spec"]["roles"]:
        want = r["spec"]["replicas"] * slices
        assert statuses[r["name"]] == {
            "name": r["name"],
            "replicas": want,
            "readyReplicas": want,
            "updatedReplicas": want,
        }
    assert [s["name"] for s in stored["status"]["roleStatuses"]] == roles
    progressing = condition(stored, d.CONDITION_PROGRESSING)
    assert progressing is not None and progressing["status"] == "False"
    assert progressing["reason"] == d.REASON_ALL_ROLES_READY


# --- the webhook -----------------------------------------------------------------------------------------


def test_the_webhook_rejects_a_partition_and_warns_about_external_replicas(kube: Kube, ns: str) -> None:
    body = prefill_decode("reject", 1, 1)
    body["spec"]["roles"][0]["spec"]["rolloutStrategy"] = {
        "rollingUpdateConfiguration": {"partition": 1, "maxSurge": 1}
    }
    result = kube.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(body), check=False)
    assert result.returncode != 0
    assert "partition" in result.stderr and d.WEBHOOK_NAME_VALIDATE in result.stderr, result.stderr

    warned = disaggregated_set("warn", role("prefill", 1), role("decode", 3, external=True))
    applied = _apply(kube, ns, warned)
    assert 'role "decode" sets scaling.mode: External and spec.replicas: 3' in applied.stderr, applied.stderr


@pytest.mark.sim_only
def test_without_its_webhook_sets_are_stored_unchecked_and_still_reconciled(private: Private) -> None:
    """Upstream's Helm chart with ``enableDisaggregatedSet: false`` (its default; this chart's too), which
    runs ``lws run --no-disaggregatedset-webhook``: the operator registers every webhook but
    ``vdisaggregatedset.kb.io``, so a set that webhook refuses is stored, and sets are reconciled as ever."""
    kube, ns = private.kube, "default"
    private.start_operator(disaggregatedset_webhook=False)
    registered = {
        hook["name"]
        for resource, name in (
            (MUTATING_WEBHOOK_CONFIGURATIONS, c.MUTATING_WEBHOOK_CONFIGURATION),
            (VALIDATING_WEBHOOK_CONFIGURATIONS, c.VALIDATING_WEBHOOK_CONFIGURATION),
        )
        for hook in (kube.get(resource, None, name) or {}).get("webhooks") or []
    }
    assert registered == {"mleaderworkerset.kb.io", "mpod.kb.io", "vleaderworkerset.kb.io"}

    unchecked = prefill_decode("unchecked", 1, 1)
    unchecked["spec"]["roles"][0]["spec"]["rolloutStrategy"] = {
        "rollingUpdateConfiguration": {"partition": 1, "maxSurge": 1}
    }
    applied = _apply(kube, ns, unchecked)
    assert applied.returncode == 0 and not applied.stderr, applied.stderr
    stored = kube.get(DISAGGREGATEDSETS, ns, "unchecked")
    assert stored is not None
    assert (
        stored["spec"]["roles"][0]["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["partition"] == 1
    )

    _apply(kube, ns, prefill_decode("served", 1, 2))
    served = wait_available(kube, ns, "served")
    assert (role_replicas(kube, ns, "served", "prefill"), role_replicas(kube, ns, "served", "decode")) == (
        1,
        2,
    )
    assert served["metadata"]["generation"] == 1


# --- create, scale, delete -------------------------------------------------------------------------------


def test_create_scale_up_and_down_in_place(kube: Kube, ns: str) -> None:
    _apply(kube, ns, prefill_decode("scale", 1, 1))
    wait_available(kube, ns, "scale")
    names = sorted(o["metadata"]["name"] for o in children(kube, ns, "scale"))
    assert len(names) == 2 and len(running_pods(kube, ns, "scale")) == 2

    for replicas in (3, 1):
        _apply(kube, ns, prefill_decode("scale", replicas, replicas))
        obj = wait_available(kube, ns, "scale")
        assert sorted(o["metadata"]["name"] for o in children(kube, ns, "scale")) == names, "no new revision"
        assert (
            role_replicas(kube, ns, "scale", "prefill")
            == role_replicas(kube, ns, "scale", "decode")
            == replicas
        )
        wait_until(
            lambda r=replicas: len(running_pods(kube, ns, "scale")) == 2 * r, 30, f"{2 * replicas} pods"
        )
        assert {s["name"]: s.get("readyReplicas") for s in obj["status"]["roleStatuses"]} == {
            "prefill": replicas,
            "decode": replicas,
        }


def test_deleting_the_set_removes_children_services_scalers_and_pods(kube: Kube, ns: str) -> None:
    _apply(kube, ns, disaggregated_set("gone", role("prefill", 1, size=2), role("decode", 1, external=True)))
    wait_available(kube, ns, "gone")
    assert children(kube, ns, "gone") and services(kube, ns, "gone") and scaler(kube, ns, "gone-decode")

    kube.delete(DISAGGREGATEDSETS, ns, "gone")

    def all_gone() -> bool:
        return not (
            children(kube, ns, "gone")
            or services(kube, ns, "gone")
            or scaler(kube, ns, "gone-decode")
            or running_pods(kube, ns, "gone")
        )

    wait_until(all_gone, 60, "garbage collection of everything the set owned")


def test_drain_to_zero_keeps_the_children_and_a_change_at_zero_rolls_nothing(kube: Kube, ns: str) -> None:
    """Upstream's all-zero replicas: every role drained to 0 keeps its child at 0 (Available: nothing is
    wanted); a template change while at 0 replaces the children at once (upstream deletes a revision whose
    roles are all at 0, so there is nothing to roll), and scaling up again starts on that revision."""
    _apply(kube, ns, prefill_decode("drain", 2, 2))
    wait_available(kube, ns, "drain")
    (first,) = revisions(kube, ns, "drain")
    names = sorted(o["metadata"]["name"] for o in children(kube, ns, "drain"))

    _apply(kube, ns, prefill_decode("drain", 0, 0))
    obj = wait_available(kube, ns, "drain")
    assert sorted(o["metadata"]["name"] for o in children(kube, ns, "drain")) == names, "kept, at 0"
    assert all(o["spec"]["replicas"] == 0 for o in children(kube, ns, "drain"))
    wait_until(lambda: not running_pods(kube, ns, "drain"), 30, "every pod of the set to go")
    assert {
        s["name"]: (s.get("replicas", 0), s.get("readyReplicas", 0)) for s in obj["status"]["roleStatuses"]
    } == {
        "prefill": (0, 0),
        "decode": (0, 0),
    }

    with ChildTimeline(kube, ns, "drain") as timeline:
        _apply(kube, ns, prefill_decode("drain", 0, 0, image=OTHER_IMAGE))
        second = single_revision(kube, ns, "drain")
    assert second != first
    states = timeline.states(first, ["prefill", "decode"])
    assert all(state == (0, 0, 0, 0) for state in states), f"nothing scaled while at zero: {states}"

    _apply(kube, ns, prefill_decode("drain", 1, 1, image=OTHER_IMAGE))
    wait_available(kube, ns, "drain")
    assert revisions(kube, ns, "drain") == {second}
    wait_until(lambda: len(running_pods(kube, ns, "drain")) == 2, 30, "a pod per role again")


# --- rolling updates -------------------------------------------------------------------------------------


def _assert_follows_plan(states: Sequence[State], plan: Sequence[State]) -> None:
    """Upstream's step-tracking invariant, from every state a watch saw: the first and last states are the
    plan's; every planned step is passed through, in order; every state in between lies between two
    successive planned steps (so each role moves only as one step says, and none drains alone)."""
    assert states[0] == plan[0] and states[-1] == plan[-1], states
    step = 0
    for state in states:
        if step + 1 < len(plan) and state == plan[step + 1]:
            step += 1
            continue
        assert state == plan[step] or (step + 1 < len(plan) and between(state, plan[step], plan[step + 1])), (
            f"state {state} is not on the way from step {step} {plan[step]}: {states}"
        )
    assert step == len(plan) - 1, f"the planned steps were not all passed through: {states}"


@pytest.mark.parametrize(("source", "target", "surge", "unavailable", "plan"), UPSTREAM_STEP_CASES)
def test_rolling_update_moves_in_upstreams_steps(
    kube: Kube,
    ns: str,
    source: tuple[int, int],
    target: tuple[int, int],
    surge: int,
    unavailable: int,
    plan: list[State],
) -> None:
    options = {"surge": surge, "unavailable": unavailable}
    _apply(kube, ns, prefill_decode("steps", *source, **options))
    wait_available(kube, ns, "steps")
    (old,) = revisions(kube, ns, "steps")
    with ChildTimeline(kube, ns, "steps") as timeline:
        _apply(kube, ns, prefill_decode("steps", *target, image=OTHER_IMAGE, **options))
        new = single_revision(kube, ns, "steps", timeout=120)
    assert new != old
    states = timeline.states(old, ["prefill", "decode"])
    _assert_follows_plan(states, plan)
    for state in states:
        assert state[0] + state[2] <= max(source[0], target[0]) + surge, (
            f"prefill over the surge bound: {state}"
        )
        assert state[1] + state[3] <= max(source[1], target[1]) + surge, (
            f"decode over the surge bound: {state}"
        )
    # Upstream's RollingUpdateCompleted comes only from a planner that finds nothing left while old groups
    # remain; the last drain usually ends the rollout first (the drained revision is deleted), as here.
    reasons = {e["reason"] for e in _events(kube, ns, "steps")}
    assert {
        d.EVENT_ROLLING_UPDATE_STARTED,
        d.EVENT_SCALING_UP,
        d.EVENT_SCALING_DOWN,
        d.EVENT_LWS_DELETED,
    } <= reasons, reasons
    assert {e["reportingController"] for e in _events(kube, ns, "steps")} == {d.REPORTING_CONTROLLER}


def test_percentage_surge_and_unavailable_resolve_against_the_target(kube: Kube, ns: str) -> None:
    options = {"surge": "50%", "unavailable": "25%"}
    _apply(kube, ns, prefill_decode("pct", 4, 4, **options))
    wait_available(kube, ns, "pct")
    (old,) = revisions(kube, ns, "pct")
    with ChildTimeline(kube, ns, "pct") as timeline:
        _apply(kube, ns, prefill_decode("pct", 4, 4, image=OTHER_IMAGE, **options))
        single_revision(kube, ns, "pct", timeout=120)
    states = timeline.states(old, ["prefill", "decode"])
    assert states[-1] == (0, 0, 4, 4)
    # 50% of 4 rounds up to 2 surge; 25% of 4 down to 1 unavailable.
    assert all(s[0] + s[2] <= 6 and s[1] + s[3] <= 6 for s in states), states
    assert role_replicas(kube, ns, "pct", "prefill") == role_replicas(kube, ns, "pct", "decode") == 4
    assert len(running_pods(kube, ns, "pct")) == 8


def test_three_roles_roll_together(kube: Kube, ns: str) -> None:
    def three(image: str | None = None) -> Obj:
        extra = {"image": image} if image else {}
        return disaggregated_set(
            "tri", *(role(n, 2, surge=1, **extra) for n in ("prefill", "decode", "encode"))
        )

    _apply(kube, ns, three())
    wait_available(kube, ns, "tri")
    (old,) = revisions(kube, ns, "tri")
    assert len(children(kube, ns, "tri")) == 3
    with ChildTimeline(kube, ns, "tri") as timeline:
        _apply(kube, ns, three(OTHER_IMAGE))
        new = single_revision(kube, ns, "tri")
    assert new != old and len(children(kube, ns, "tri")) == 3
    wait_until(lambda: len(running_pods(kube, ns, "tri")) == 6, 30, "six running pods")
    for state in timeline.states(old, ["prefill", "decode", "encode"]):
        olds, news = state[:3], state[3:]
        assert all(o + n <= 3 for o, n in zip(olds, news, strict=True)), state


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["prefill", "decode"], ["prefill", "decode", "gamma"]),
        (["prefill", "decode", "encode"], ["prefill", "decode"]),
        (["prefill", "zeta"], ["prefill", "gamma"]),
        (["prefill", "decode", "encode"], ["prefill", "decode", "decode-long-context"]),
    ],
    ids=["add-role", "remove-role", "rename-role", "rename-encode"],
)
def test_role_changes_roll_out_progressively(
    kube: Kube, ns: str, before: list[str], after: list[str]
) -> None:
    _apply(kube, ns, disaggregated_set("roles", *(role(n, 2, surge=1) for n in before)))
    wait_available(kube, ns, "roles")
    (old,) = revisions(kube, ns, "roles")
    every = sorted(set(before) | set(after))
    with ChildTimeline(kube, ns, "roles") as timeline:
        _apply(kube, ns, disaggregated_set("roles", *(role(n, 2, surge=1) for n in after)))
        single_revision(kube, ns, "roles")
    assert sorted(o["metadata"]["labels"][d.ROLE_LABEL] for o in children(kube, ns, "roles")) == sorted(after)
    wait_until(lambda: len(running_pods(kube, ns, "roles")) == 2 * len(after), 30, "the new roles' pods")
    states = timeline.states(old, every)
    olds = [dict(zip(every, s[: len(every)], strict=True)) for s in states]
    # Not a "brutal drain": the old revision is emptied over several steps, never all at once while the
    # new revision has nothing.
    for role_name in before:
        seen = sorted({o[role_name] for o in olds}, reverse=True)
        assert seen[0] == 2 and seen[-1] == 0 and len(seen) == 3, f"{role_name} drained {seen}"


def test_a_change_during_a_rollout_drains_the_intermediate_revision_first(kube: Kube, ns: str) -> None:
    def revision_set(version: str) -> Obj:
        return prefill_decode("abc", 4, 4, version=version, surge=1)

    def total(snapshot: dict[str, Obj], revision: str) -> int:
        return sum(
            int(o["spec"].get("replicas", 1))
            for o in snapshot.values()
            if o["metadata"]["labels"][d.REVISION_LABEL] == revision
        )

    _apply(kube, ns, revision_set("a"))
    wait_available(kube, ns, "abc")
    (a,) = revisions(kube, ns, "abc")
    # Old revisions drain newest first by creation time, which has one-second resolution: B must be made
    # in a later second than A for "newer" to mean anything (a tie drains in name order, as upstream's
    # order is then left to chance). A set that is Available fast can be within A's second still.
    a_made = max(
        datetime.fromisoformat(o["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        for o in children(kube, ns, "abc")
    )
    wait_until(lambda: datetime.now(UTC) >= a_made + timedelta(seconds=1), 5, "the second after A's")
    with ChildTimeline(kube, ns, "abc") as timeline:
        _apply(kube, ns, revision_set("b"))

        def b_started(snapshot: dict[str, Obj]) -> bool:
            revs = {o["metadata"]["labels"][d.REVISION_LABEL] for o in snapshot.values()}
            return len(revs) == 2 and all(total(snapshot, r) > 0 for r in revs)

        timeline.wait_for(b_started, 30, "the rollout to B to be under way")
        (b,) = revisions(kube, ns, "abc") - {a}
        _apply(kube, ns, revision_set("c"))
        final = single_revision(kube, ns, "abc", timeout=120)
    assert final not in (a, b)
    snapshots = timeline.snapshots
    b_seen = next(i for i, s in enumerate(snapshots) if total(s, b) > 0)
    b_empty = next(i for i, s in enumerate(snapshots) if i > b_seen and total(s, b) == 0)
    a_empty = next(i for i, s in enumerate(snapshots) if total(s, a) == 0)
    assert b_empty <= a_empty, "B, the partly rolled intermediate, drains before A"
    assert role_replicas(kube, ns, "abc", "prefill") == role_replicas(kube, ns, "abc", "decode") == 4


# --- Services, labels, placement -------------------------------------------------------------------------


def test_prv_services_are_headless_portless_and_select_one_role_of_one_revision(kube: Kube, ns: str) -> None:
    _apply(kube, ns, prefill_decode("svc", 2, 1))
    wait_available(kube, ns, "svc")
    (revision,) = revisions(kube, ns, "svc")
    found = {o["metadata"]["name"]: o for o in services(kube, ns, "svc")}
    assert sorted(found) == [f"svc-0-{revision}-decode-prv", f"svc-0-{revision}-prefill-prv"]
    for service in found.values():
        role_name = service["metadata"]["labels"][d.ROLE_LABEL]
        want = {
            d.SET_NAME_LABEL: "svc",
            d.ROLE_LABEL: role_name,
            d.REVISION_LABEL: revision,
            d.SLICE_LABEL: "0",
        }
        assert service["metadata"]["labels"] == want
        assert service["spec"]["selector"] == want
        assert service["spec"]["clusterIP"] == "None" and not service["spec"].get("ports")
        owner = service["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == (d.KIND, "svc", True)
        selected = kube.list(PODS, ns, ",".join(f"{k}={v}" for k, v in want.items()))
        assert len(selected) == (2 if role_name == "prefill" else 1)

    # A new revision gets its Services once every role has a ready group; the old ones go.
    _apply(kube, ns, prefill_decode("svc", 2, 1, image=OTHER_IMAGE))
    new = single_revision(kube, ns, "svc")
    wait_until(
        lambda: {o["metadata"]["labels"][d.REVISION_LABEL] for o in services(kube, ns, "svc")} == {new},
        30,
        "only the new revision's Services",
    )


def test_a_hash_role_rolls_out_with_deployment_leaders_role_labels_and_host_names(
    kube: Kube, ns: str
) -> None:
    # groupIdentity passes through to the role's children (upstream #987): decode's leaders come from a
    # Deployment named after its child, with the role label on the Deployment and worker StatefulSets'
    # own metadata only (upstream #1016); prefill stays Ordinal. A rollout replaces both in lockstep.
    def body(version: str) -> Obj:
        return disaggregated_set(
            "hashed",
            role("prefill", 1, size=2, version=version),
            role("decode", 2, size=2, version=version, identity="Hash", surge=1, unavailable=0),
        )

    _apply(kube, ns, body("1"))
    wait_available(kube, ns, "hashed")
    (old,) = revisions(kube, ns, "hashed")
    by_role = {o["metadata"]["labels"][d.ROLE_LABEL]: o for o in children(kube, ns, "hashed")}
    decode, prefill = by_role["decode"], by_role["prefill"]
    assert decode["metadata"]["name"] == f"hashed-0-{old}-decode"
    assert decode["spec"]["groupIdentity"] == "Hash" and prefill["spec"].get("groupIdentity") != "Hash"

    child = decode["metadata"]["name"]
    deployment = kube.get(DEPLOYMENTS, ns, child)
    assert deployment is not None and deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_LEADER
    assert c.ROLE_LABEL not in deployment["spec"]["template"]["metadata"]["labels"]
    assert kube.get(STATEFULSETS, ns, child) is None, "no leader StatefulSet for a Hash role"
    prefill_leaders = kube.get(STATEFULSETS, ns, prefill["metadata"]["name"])
    assert (
        prefill_leaders is not None and prefill_leaders["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_LEADER
    )

    decode_leaders = leaders(kube, ns, "hashed", "decode")
    assert len(decode_leaders) == 2
    for leader in decode_leaders:
        key = labels(leader)[c.GROUP_INDEX_LABEL]
        assert len(key) == 40 and labels(leader)[d.ROLE_LABEL] == "decode"
        assert labels(leader)[d.SET_NAME_LABEL] == "hashed" and labels(leader)[d.REVISION_LABEL] == old
        assert leader["spec"]["hostname"] == f"{child}-{key[:8]}"
        assert leader["spec"]["subdomain"] == child
        workers = kube.get(STATEFULSETS, ns, leader["metadata"]["name"])
        assert workers is not None and workers["metadata"]["labels"][c.ROLE_LABEL] == c.ROLE_WORKER
        assert c.ROLE_LABEL not in workers["spec"]["template"]["metadata"]["labels"]
        worker = kube.get(PODS, ns, f"{leader['metadata']['name']}-1")
        assert worker is not None and labels(worker)[d.ROLE_LABEL] == "decode"
        assert labels(worker)[c.GROUP_INDEX_LABEL] == key
    prv = {s["metadata"]["labels"][d.ROLE_LABEL]: s for s in services(kube, ns, "hashed")}
    selected = kube.list(PODS, ns, ",".join(f"{k}={v}" for k, v in prv["decode"]["spec"]["selector"].items()))
    assert len(selected) == 4, "the decode -prv Service selects both Hash groups' pods"

    with ChildTimeline(kube, ns, "hashed") as timeline:
        _apply(kube, ns, body("2"))
        new = single_revision(kube, ns, "hashed", timeout=120)
    assert new != old
    for state in timeline.states(old, ["prefill", "decode"]):
        assert state[1] + state[3] <= 2 + 1, f"decode over the surge bound: {state}"
    decode_leaders = leaders(kube, ns, "hashed", "decode")
    assert len(decode_leaders) == 2 and all(labels(p)[d.REVISION_LABEL] == new for p in decode_leaders)
    assert kube.get(DEPLOYMENTS, ns, child) is None or kube.get(DEPLOYMENTS, ns, child)["metadata"].get(
        "deletionTimestamp"
    ), "the old revision's Deployment goes with its child"
    assert kube.get(DEPLOYMENTS, ns, f"hashed-0-{new}-decode") is not None


def test_labels_and_annotations_reach_children_and_pods(kube: Kube, ns: str) -> None:
    meta = {"labels": {"team": "serving", "kueue.x-k8s.io/queue-name": "q"}, "annotations": {"note": "kept"}}
    body = disaggregated_set(
        "meta",
        role("prefill", 1, metadata=meta, template_labels={"tier": "prefill"}),
        role("decode", 1, metadata=meta, template_labels={"tier": "decode"}),
    )
    body["spec"]["roles"][0]["spec"]["leaderWorkerTemplate"]["workerTemplate"]["metadata"]["annotations"] = {
        "pod-note": "p"
    }
    _apply(kube, ns, body)
    wait_available(kube, ns, "meta")
    for child in children(kube, ns, "meta"):
        role_name = child["metadata"]["labels"][d.ROLE_LABEL]
        assert child["metadata"]["labels"]["team"] == "serving"
        assert child["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "q"
        assert child["metadata"]["annotations"]["note"] == "kept"
        template = child["spec"]["leaderWorkerTemplate"]["workerTemplate"]["metadata"]
        assert template["labels"]["tier"] == role_name
        assert (
            template["labels"][d.SET_NAME_LABEL] == "meta" and template["labels"][d.ROLE_LABEL] == role_name
        )
    pods = running_pods(kube, ns, "meta")
    assert len(pods) == 2
    for pod in pods:
        role_name = labels(pod)[d.ROLE_LABEL]
        assert labels(pod)["tier"] == role_name and labels(pod)[d.SET_NAME_LABEL] == "meta"
        assert labels(pod)[d.APP_LABEL] == f"meta-0-{role_name}"
        if role_name == "prefill":
            assert pod["metadata"]["annotations"]["pod-note"] == "p"
    for service in services(kube, ns, "meta"):
        assert set(service["metadata"]["labels"]) == {
            d.SET_NAME_LABEL,
            d.ROLE_LABEL,
            d.REVISION_LABEL,
            d.SLICE_LABEL,
        }


def test_slices_each_get_their_children_and_services_and_fewer_slices_delete_the_rest(
    kube: Kube, ns: str
) -> None:
    """Upstream's slices: a child per role per slice (``<set>-<slice>-<revision>-<role>``), labelled with its
    slice, with its own ``-prv`` Services; status counts every slice. The slice count is not part of the
    revision: more slices add children at the same revision, fewer delete the extra slices' children and
    Services and leave slice 0 untouched."""

    def sliced(slices: int) -> Obj:
        body = prefill_decode("sl", 1, 2)
        body["spec"]["slices"] = slices
        return body

    _apply(kube, ns, sliced(3))
    obj = wait_available(kube, ns, "sl")
    (revision,) = revisions(kube, ns, "sl")
    found = {o["metadata"]["name"]: o for o in children(kube, ns, "sl")}
    assert sorted(found) == sorted(f"sl-{i}-{revision}-{r}" for i in range(3) for r in ("prefill", "decode"))
    for name, child in found.items():
        assert child["metadata"]["labels"][d.SLICE_LABEL] == name.split("-")[1]
    assert {s["name"]: s["readyReplicas"] for s in obj["status"]["roleStatuses"]} == {
        "prefill": 3,
        "decode": 6,
    }
    wait_until(lambda: len(services(kube, ns, "sl")) == 6, 30, "a -prv Service per role and slice")
    slice_zero = {n: o["metadata"]["uid"] for n, o in found.items() if n.startswith("sl-0-")}

    _apply(kube, ns, sliced(1))
    wait_until(
        lambda: sorted(o["metadata"]["name"] for o in children(kube, ns, "sl")) == sorted(slice_zero),
        30,
        "only slice 0's children",
    )
    wait_until(
        lambda: {o["metadata"]["labels"][d.SLICE_LABEL] for o in services(kube, ns, "sl")} == {"0"},
        30,
        "only slice 0's Services",
    )
    obj = wait_available(kube, ns, "sl")
    assert {o["metadata"]["name"]: o["metadata"]["uid"] for o in children(kube, ns, "sl")} == slice_zero
    assert revisions(kube, ns, "sl") == {revision}
    assert {s["name"]: s["readyReplicas"] for s in obj["status"]["roleStatuses"]} == {
        "prefill": 1,
        "decode": 2,
    }
    wait_until(lambda: len(running_pods(kube, ns, "sl")) == 3, 30, "slice 0's three pods only")


def _topology_key(kube: Kube) -> tuple[str, dict[str, str]]:
    """A node label with at least two values on every node (the embedded cluster's racks, the real plane's
    node pools), and each node's value of it."""
    nodes = kube.list(NODES, None)
    for key in TOPOLOGY_KEYS:
        values = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(key) for n in nodes}
        if all(values.values()) and len(set(values.values())) >= 2:
            return key, {node: str(value) for node, value in values.items()}
    raise AssertionError(f"no node label of {TOPOLOGY_KEYS} with two values or more on every node")


def test_exclusive_topology_keeps_each_slice_in_its_own_rack(kube: Kube, ns: str) -> None:
    key, racks = _topology_key(kube)
    body = prefill_decode("place", 2, 1, size=2)
    body["spec"].update(slices=2, placementPolicy={"type": d.PLACEMENT_EXCLUSIVE_TOPOLOGY, "topology": key})
    _apply(kube, ns, body)
    wait_available(kube, ns, "place")
    for child in children(kube, ns, "place"):
        affinity = child["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["affinity"]
        assert (
            affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == key
        )
        anti = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert len(anti) == 2, "repels this set's other slices, and every other set's"
    by_slice: dict[str, set[str]] = {}
    for pod in running_pods(kube, ns, "place"):
        by_slice.setdefault(labels(pod)[d.SLICE_LABEL], set()).add(racks[pod["spec"]["nodeName"]])
    assert len(by_slice) == 2 and all(len(r) == 1 for r in by_slice.values()), by_slice
    assert len(set.union(*by_slice.values())) == 2, f"the slices in different racks: {by_slice}"


# --- RoleScalers (upstream's hpa_test.go) ----------------------------------------------------------------


def test_a_role_scaler_serves_scale_and_kubectl_scale_drives_the_role(kube: Kube, ns: str) -> None:
    _apply(kube, ns, disaggregated_set("hpa", role("prefill", 1), role("decode", None, external=True)))
    ds = wait_available(kube, ns, "hpa")
    found = wait_until(lambda: scaler(kube, ns, "hpa-decode"), 30, "the scaler")
    owner = found["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (d.KIND, "hpa", ds["metadata"]["uid"])
    assert owner["controller"] is True and owner["blockOwnerDeletion"] is True
    assert found["metadata"]["labels"] == {d.SET_NAME_LABEL: "hpa", d.ROLE_LABEL: "decode"}
    assert found["spec"]["replicas"] == 1, "a fresh role's scaler starts at 1"

    scale = kube.request("GET", ROLE_SCALERS.path(ns, "hpa-decode", "scale"))
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1

    kube.kubectl("scale", "-n", ns, "dsrs/hpa-decode", "--replicas=3")
    wait_until(lambda: role_replicas(kube, ns, "hpa", "decode") >= 3, 30, "the decode role to have 3 groups")
    wait_available(kube, ns, "hpa")

    def bound() -> Obj | None:
        now = scaler(kube, ns, "hpa-decode")
        status = (now or {}).get("status") or {}
        return (
            now
            if status.get("replicas") == 3
            and status.get("observedGeneration") == now["metadata"]["generation"]
            else None
        )

    now = wait_until(bound, 30, "the scaler's status to count 3 groups")
    selector = now["status"]["selector"]
    assert selector == f"{d.SET_NAME_LABEL}=hpa,{d.ROLE_LABEL}=decode,{c.WORKER_INDEX_LABEL}=0"
    assert len(kube.list(PODS, ns, selector)) == 3, "the selector picks the role's leaders"
    ready = condition(now, d.SCALER_CONDITION_READY)
    assert ready is not None and ready["status"] == "True" and ready["reason"] == d.SCALER_REASON_BOUND
    scale = kube.request("GET", ROLE_SCALERS.path(ns, "hpa-decode", "scale"))
    assert scale["status"]["replicas"] == 3 and scale["status"]["selector"] == selector
    assert len(leaders(kube, ns, "hpa", "decode")) == 3

    # External -> Static: the scaler goes.
    _apply(kube, ns, disaggregated_set("hpa", role("prefill", 1), role("decode", 3)))
    wait_until(lambda: scaler(kube, ns, "hpa-decode") is None, 30, "the scaler to be deleted")
    wait_until(
        lambda: (
            {e["reason"] for e in _events(kube, ns, "hpa")}
            >= {d.EVENT_SCALER_CREATED, d.EVENT_SCALER_DELETED}
        ),
        30,
        "the ScalerCreated and ScalerDeleted events",
    )


def test_a_scaler_of_another_owner_is_left_alone(kube: Kube, ns: str) -> None:
    foreign = {
        "apiVersion": d.API_VERSION,
        "kind": d.SCALER_KIND,
        "metadata": {"name": "own-decode"},
        "spec": {"replicas": 5},
    }
    kube.create(ROLE_SCALERS, ns, foreign)
    _apply(kube, ns, disaggregated_set("own", role("prefill", 1), role("decode", None, external=True)))
    wait_until(
        lambda: any(e["reason"] == d.EVENT_SCALER_CONFLICT for e in _events(kube, ns, "own")),
        30,
        "a ScalerConflict warning",
    )
    left = scaler(kube, ns, "own-decode")
    assert left is not None and not left["metadata"].get("ownerReferences") and left["spec"]["replicas"] == 5
    obj = kube.get(DISAGGREGATEDSETS, ns, "own")
    assert obj is not None and not available(obj), "an External role without its scaler is not available"


def test_a_child_of_another_owner_is_never_scaled_or_adopted(kube: Kube, ns: str) -> None:
    """Upstream #983: a LeaderWorkerSet with a child's name that the set does not control stays as it is."""
    body = prefill_decode("foreign", 1, 1)
    revision = compute_revision(admit(body, make_hooks(), namespace=ns)[0]["spec"]["roles"])
    squatter = {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {"name": f"foreign-0-{revision}-prefill"},
        "spec": {
            "replicas": 2,
            "leaderWorkerTemplate": {
                "workerTemplate": {"spec": {"containers": [{"name": "main", "image": OTHER_IMAGE}]}}
            },
        },
    }
    kube.create(LEADERWORKERSETS, ns, squatter)
    _apply(kube, ns, body)

    def reconciled() -> Obj | None:
        obj = kube.get(DISAGGREGATEDSETS, ns, "foreign")
        progressing = condition(obj, d.CONDITION_PROGRESSING) if obj is not None else None
        return obj if progressing is not None and progressing["status"] == "True" else None

    obj = wait_until(reconciled, 30, "the set to be reconciled (and to report Progressing)")
    assert not available(obj)
    squat = kube.get(LEADERWORKERSETS, ns, squatter["metadata"]["name"])
    assert squat is not None and squat["spec"]["replicas"] == 2
    assert not squat["metadata"].get("ownerReferences") and squat["metadata"]["generation"] == 1, "untouched"


# --- API cost (in-process operator only) -------------------------------------------------------------------


@pytest.mark.sim_only
def test_a_settled_set_costs_no_writes_and_its_revision_is_computed_once(
    e2e: E2E, kube: Kube, ns: str
) -> None:
    operator = e2e.require_operator()
    _apply(kube, ns, disaggregated_set("quiet", role("prefill", 2), role("decode", 1, external=True)))
    wait_available(kube, ns, "quiet")
    touched = kube.patch(DISAGGREGATEDSETS, ns, "quiet", {"metadata": {"labels": {"touched": "yes"}}})
    operator.settle(touched["metadata"]["resourceVersion"])
    mark = operator.request_log.mark()
    deps = operator.running_operator.deps
    assert deps is not None
    computed = deps.ds_revisions.computed
    for n in range(3):
        touched = kube.patch(DISAGGREGATEDSETS, ns, "quiet", {"metadata": {"labels": {"touched": str(n)}}})
        operator.settle(touched["metadata"]["resourceVersion"])
    writes = [w for w in operator.request_log.writes(since=mark) if w.namespace == ns]
    assert not writes, [f"{w.verb} {w.target} {w.name}" for w in writes]
    assert deps.ds_revisions.computed == computed, "a metadata change does not recompute the revision"


# --- taking over from upstream's controller (a cluster and operator of the test's own) -------------------


@pytest.mark.sim_only
def test_taking_over_a_set_upstreams_controller_ran_rolls_nothing(private: Private) -> None:
    """A cluster upgraded from upstream's operator: the set and the children and ``-prv`` Services its
    controller made (named and labelled with the revision upstream's Go code computes for the stored set)
    are already there. This operator adopts them as they are: no new revision, no child or Service
    replaced, no child spec written; it only builds the groups and reports the set Available."""
    kube, ns = private.kube, "default"
    text = UPSTREAM_SAMPLES["disaggregatedset_v1_disaggregatedset"]
    name = yaml.safe_load(text)["metadata"]["name"]
    kube.kubectl("apply", "-f", "-", stdin=text)  # no operator yet: stored with the CRD's defaults only
    stored = kube.get(DISAGGREGATEDSETS, ns, name)
    assert stored is not None
    upstream_revision = UPSTREAM_REVISIONS["upstream-sample-two-roles"]
    left = [
        o
        for o in render_disaggregated_set(stored, make_hooks())
        if o["kind"] == c.KIND or o["metadata"]["name"].endswith("-prv")
    ]
    assert {o["metadata"]["labels"][d.REVISION_LABEL] for o in left} == {upstream_revision}
    made = {}
    for obj in left:
        resource = LEADERWORKERSETS if obj["kind"] == c.KIND else SERVICES
        made[obj["metadata"]["name"]] = kube.create(resource, ns, obj)["metadata"]["uid"]

    operator = private.start_operator()
    wait_available(kube, ns, name)
    assert revisions(kube, ns, name) == {upstream_revision}
    live = {o["metadata"]["name"]: o for o in children(kube, ns, name) + services(kube, ns, name)}
    assert {n: o["metadata"]["uid"] for n, o in live.items()} == made, "the same objects, none replaced"
    for child in children(kube, ns, name):
        assert child["metadata"]["generation"] == 1, f"{child['metadata']['name']}'s spec was written"
    replaced = [
        f"{w.verb} {w.target} {w.name}"
        for w in operator.request_log.writes()
        if w.name in made
        and w.subresource is None
        and (w.resource == "leaderworkersets" or (w.resource == "services" and w.name.endswith("-prv")))
    ]
    assert not replaced, f"written: {replaced}"
