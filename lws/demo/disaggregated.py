"""The second demo's story: a prefill/decode DisaggregatedSet rolled out in lockstep, keeping its ratio.

``lws demo --scenario disaggregated`` creates a DisaggregatedSet of 2 prefill groups and 4 decode groups
(the 1:2 capacity ratio a prefill/decode deployment is sized for), then:

1. waits until it is Available (one child LeaderWorkerSet per role);
2. changes the image of both roles: the controller creates a child per role at the new revision and moves
   both revisions a step at a time, as upstream's planner says (:func:`lws.core.disaggregated.planner.
   all_steps`), so that no revision ever runs one role without the other and, with ``maxSurge: 1`` and
   ``maxUnavailable: 0``, capacity never drops below 2 prefill + 4 decode;
3. scales both roles to 3 and 6 in place (no new revision).

Every state of the children is printed as it is seen (old and new revision, groups per role), against the
planned steps. Nothing waits on a timer (:mod:`lws.demo.feed`); a step that does not converge in time, or
a state that breaks the lockstep, raises :class:`lws.demo.scenario.DemoError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lws.api.disaggregated import constants as d
from lws.core.disaggregated.planner import RollingUpdateConfig, all_steps
from lws.demo.feed import ChangeFeed, NotConverged, wait_for
from lws.demo.scenario import FIELD_MANAGER, JSON_PATCH, NEW_IMAGE_TAG, DemoError, with_tag
from lws.demo.stage import DISAGGREGATEDSETS, LEADERWORKERSETS, Stage
from lws.sim.errors import APIError

PODS = ("", "v1", "pods")
NAME = "pd"
ROLES = ("prefill", "decode")
#: Groups per role before and after the scale-up: the 1:2 ratio both keep.
REPLICAS = (2, 4)
SCALED = (3, 6)
IMAGE = "vllm/vllm-openai:v0.10.1"
#: GPUs per pod: a prefill group is 2 pods of 4 GPUs (tensor-parallel 4 x 2 nodes), a decode group 1 pod of 2.
SHAPES = {"prefill": (2, 4), "decode": (1, 2)}

#: (old prefill, old decode, new prefill, new decode): groups asked of each revision's children.
State = tuple[int, ...]


def disaggregated_set(name: str = NAME, image: str = IMAGE) -> dict[str, Any]:
    """The demo's DisaggregatedSet: prefill and decode, each rolled one group at a time (maxSurge 1)."""

    def role(role_name: str, replicas: int) -> dict[str, Any]:
        size, gpus = SHAPES[role_name]
        container = {
            "name": "vllm",
            "image": image,
            "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
        }
        return {
            "name": role_name,
            "spec": {
                "replicas": replicas,
                "leaderWorkerTemplate": {
                    "size": size,
                    "workerTemplate": {"spec": {"containers": [container]}},
                },
                "rolloutStrategy": {"rollingUpdateConfiguration": {"maxSurge": 1, "maxUnavailable": 0}},
            },
        }

    return {
        "apiVersion": d.API_VERSION,
        "kind": d.KIND,
        "metadata": {"name": name},
        "spec": {"roles": [role(r, n) for r, n in zip(ROLES, REPLICAS, strict=True)]},
    }


@dataclass(frozen=True)
class SetState:
    """The set and its children as read at one moment."""

    available: bool
    generation: int
    revisions: dict[str, dict[str, int]]
    """Per revision, the groups its child of each role asks for (``spec.replicas``)."""
    ready: dict[str, int]
    """Per role, ready groups over every revision."""
    pods: int

    def state(self, old: str) -> State:
        """Old-revision groups per role (summed over every revision but the newest), then the newest's."""
        new = {r: 0 for r in ROLES}
        before = {r: 0 for r in ROLES}
        for revision, roles in self.revisions.items():
            side = before if revision == old else new
            for role_name, replicas in roles.items():
                side[role_name] = side.get(role_name, 0) + replicas
        return (*(before[r] for r in ROLES), *(new[r] for r in ROLES))


def describe(state: State) -> str:
    """``old 2 prefill + 4 decode | new 1 prefill + 1 decode`` (pure)."""
    half = len(state) // 2
    old = " + ".join(f"{n} {r}" for n, r in zip(state[:half], ROLES, strict=True))
    new = " + ".join(f"{n} {r}" for n, r in zip(state[half:], ROLES, strict=True))
    return f"old {old} | new {new}"


def between(state: State, low: State, high: State) -> bool:
    """Whether every count of ``state`` lies between ``low``'s and ``high``'s (pure): a state seen while the
    controller writes one planned step's children one at a time."""
    return all(min(a, b) <= x <= max(a, b) for x, a, b in zip(state, low, high, strict=True))


def follow(plan: Sequence[State], step: int, state: State) -> int | None:
    """The planned step ``state`` is at, or on its way to, from ``step`` on; ``None`` if it is off the plan.

    Each planned step scales the new revision's children up, then the old one's down, a child at a time:
    what is seen in between lies between two successive planned steps, never elsewhere. States between two
    reads are not seen, so the plan may be joined further on; it is never gone back on (pure)."""
    for at in range(step, len(plan)):
        if state == plan[at]:
            return at
        if at + 1 < len(plan) and between(state, plan[at], plan[at + 1]):
            return at + 1
    return None


def orphaned(state: State) -> list[str]:
    """The revisions in ``state`` that run some roles and not others (pure)."""
    half = len(state) // 2
    out = []
    for label, side in (("old", state[:half]), ("new", state[half:])):
        if any(side) and not all(side):
            alone = ", ".join(r for r, n in zip(ROLES, side, strict=True) if n)
            out.append(f"the {label} revision runs {alone} alone")
    return out


@dataclass
class DisaggregatedDemo:
    """One run of the prefill/decode story on a running :class:`Stage`; ``say`` prints a line."""

    stage: Stage
    say: Callable[[str], None]
    namespace: str = "default"
    step_timeout: float = 60.0
    observed: list[State] = field(default_factory=list)
    """Every distinct state seen during the rollout."""
    seconds: dict[str, float] = field(default_factory=dict)

    def read(self) -> SetState:
        """The set, its children and pods, through the cluster's in-process API (not the operator's)."""
        sync = self.stage.cluster.sync
        selector = f"{d.SET_NAME_LABEL}={NAME}"
        try:
            obj = sync.get(DISAGGREGATEDSETS, self.namespace, NAME)
        except APIError as exc:
            if exc.code != 404:
                raise
            obj = {}
        revisions: dict[str, dict[str, int]] = {}
        ready = {r: 0 for r in ROLES}
        for child in sync.list(LEADERWORKERSETS, self.namespace, label_selector=selector)["items"]:
            labels = child["metadata"].get("labels") or {}
            if child["metadata"].get("deletionTimestamp"):
                continue
            role_name = labels.get(d.ROLE_LABEL, "")
            revisions.setdefault(labels.get(d.REVISION_LABEL, ""), {})[role_name] = int(
                child["spec"].get("replicas", 1)
            )
            ready[role_name] = ready.get(role_name, 0) + int(
                (child.get("status") or {}).get("readyReplicas", 0)
            )
        pods = sync.list(PODS, self.namespace, label_selector=selector)["items"]
        return SetState(
            available=_available(obj),
            generation=int((obj.get("metadata") or {}).get("generation", 0)),
            revisions=revisions,
            ready=ready,
            pods=sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")),
        )

    def _wait(
        self,
        feed: ChangeFeed,
        number: int,
        title: str,
        done: Callable[[SetState], bool],
        what: str,
        on_read: Callable[[SetState], None] | None = None,
    ) -> SetState:
        start = time.monotonic()
        try:
            view = wait_for(feed, self.read, done, timeout=self.step_timeout, what=what, on_read=on_read)
        except NotConverged as exc:
            raise DemoError(
                f"step {number} ({title}) did not converge within {exc.timeout:g}s: waiting for {exc.what}"
            ) from None
        self.seconds[title] = time.monotonic() - start
        return view

    def run(self) -> None:
        """The three steps; raises :class:`DemoError` on a step that does not converge or breaks lockstep."""
        sync = self.stage.cluster.sync
        with ChangeFeed(self.stage.cluster, (DISAGGREGATEDSETS, LEADERWORKERSETS, PODS)) as feed:
            self.say("== Step 1: create the prefill/decode DisaggregatedSet")
            self.say(
                f"  {REPLICAS[0]} prefill groups of 2 pods x 4 GPUs and {REPLICAS[1]} decode groups of 1 pod "
                "x 2 GPUs: a 1:2 ratio, each role a child LeaderWorkerSet"
            )
            sync.create(DISAGGREGATEDSETS, self.namespace, disaggregated_set(), field_manager=FIELD_MANAGER)
            view = self._wait(
                feed, 1, "create", lambda v: v.available and len(v.revisions) == 1, f"{NAME} to be Available"
            )
            (old,) = view.revisions
            self.say(
                f"  done: Available after {self.seconds['create']:.1f}s at revision {old}: "
                f"{view.ready['prefill']} prefill and {view.ready['decode']} decode groups ready, "
                f"{view.pods} pods"
            )
            self.roll_out(feed, old)
            self.scale(feed)

    def roll_out(self, feed: ChangeFeed, old: str) -> None:
        image = with_tag(IMAGE, NEW_IMAGE_TAG)
        plan = [(*s.old, *s.new) for s in all_steps(REPLICAS, REPLICAS, [RollingUpdateConfig(1, 0)] * 2)]
        self.say("== Step 2: roll out a new image to both roles, in lockstep")
        self.say(f"  image {IMAGE} -> {image}; upstream's planner gives {len(plan) - 1} steps (maxSurge 1):")
        for number, planned_state in enumerate(plan):
            self.say(f"    plan {number}: {describe(planned_state)}")
        patch = [
            {
                "op": "replace",
                "path": f"/spec/roles/{i}/spec/leaderWorkerTemplate/workerTemplate/spec/containers/0/image",
                "value": image,
            }
            for i in range(len(ROLES))
        ]
        self.stage.cluster.sync.patch(
            DISAGGREGATEDSETS, self.namespace, NAME, patch, JSON_PATCH, field_manager=FIELD_MANAGER
        )

        step = 0

        def seen(view: SetState) -> None:
            nonlocal step
            state = view.state(old)
            if self.observed and self.observed[-1] == state:
                return
            self.observed.append(state)
            at = follow(plan, step, state)
            if at is None:
                raise DemoError(
                    f"step 2 left upstream's plan: {describe(state)} is not on the way from plan {step} "
                    f"({describe(plan[step])}) to the next"
                )
            mark = f"plan {at}" if state == plan[at] else f"on the way to plan {at}"
            self.say(f"  seen: {describe(state)}  ({mark})")
            step = at if state == plan[at] else at - 1

        view = self._wait(
            feed,
            2,
            "rollout",
            lambda v: v.available and len(v.revisions) == 1 and old not in v.revisions,
            f"every role of {NAME} on the new revision, and the set Available",
            on_read=seen,
        )
        (new,) = view.revisions
        planned = [s for s in self.observed if s in plan]
        lonely = sorted({o for s in planned for o in orphaned(s)})
        if lonely:
            raise DemoError(f"step 2 broke lockstep at a planned step: {'; '.join(lonely)}")
        lowest = min(s[0] + s[2] for s in planned), min(s[1] + s[3] for s in planned)
        self.say(
            f"  done: rolled out in {self.seconds['rollout']:.1f}s to revision {new}, through "
            f"{len(set(planned))} of the {len(plan)} planned states, each revision running both roles or "
            f"neither; at every planned state at least {lowest[0]} prefill and {lowest[1]} decode groups"
        )

    def scale(self, feed: ChangeFeed) -> None:
        self.say("== Step 3: scale both roles, keeping the ratio")
        self.say(
            f"  prefill {REPLICAS[0]} -> {SCALED[0]}, decode {REPLICAS[1]} -> {SCALED[1]}: in place, "
            "no new revision"
        )
        before = set(self.read().revisions)
        patch = [
            {"op": "replace", "path": f"/spec/roles/{i}/spec/replicas", "value": n}
            for i, n in enumerate(SCALED)
        ]
        self.stage.cluster.sync.patch(
            DISAGGREGATEDSETS, self.namespace, NAME, patch, JSON_PATCH, field_manager=FIELD_MANAGER
        )
        want = dict(zip(ROLES, SCALED, strict=True))
        view = self._wait(
            feed,
            3,
            "scale",
            lambda v: v.available and v.ready == want,
            f"{SCALED[0]} prefill and {SCALED[1]} decode groups ready",
        )
        if set(view.revisions) != before:
            raise DemoError(f"step 3 made a new revision: {sorted(view.revisions)} (was {sorted(before)})")
        self.say(
            f"  done: {view.ready['prefill']} prefill and {view.ready['decode']} decode groups ready "
            f"{self.seconds['scale']:.1f}s after scaling, {view.pods} pods, same revision"
        )

    def summary(self, requests: int, writes: int) -> Sequence[str]:
        """The closing lines: how long each step took and what it cost the operator."""
        lines = ["Summary"]
        lines += [f"  {title:<10}{seconds:6.1f}s" for title, seconds in self.seconds.items()]
        lines.append(f"  operator API requests: {requests} ({writes} writes)")
        return lines


def _available(obj: Mapping[str, Any]) -> bool:
    """Available True for the set's current generation."""
    generation = (obj.get("metadata") or {}).get("generation")
    status = obj.get("status") or {}
    if status.get("observedGeneration") != generation:
        return False
    return any(
        c.get("type") == d.CONDITION_AVAILABLE and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
