"""What the DisaggregatedSet end-to-end tests share: manifests shaped like upstream's e2e fixtures, waits on
the set's status, and a watch-fed timeline of its child LeaderWorkerSets.

Like :mod:`e2e_kit`, everything here talks to the cluster under test over HTTP only, so the same tests run
on the embedded cluster and, with ``LWS_TEST_KUBECONFIG``, on a real one with the operator deployed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from e2e_kit import IMAGE, Follower, Kube, condition

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cluster.resources import DISAGGREGATEDSETS, LEADERWORKERSETS, PODS, ROLE_SCALERS, SERVICES
from lws.sim.testing import wait_until

Obj = dict[str, Any]


def role(
    name: str,
    replicas: int | None = 1,
    *,
    image: str = IMAGE,
    size: int = 1,
    surge: int | str | None = None,
    unavailable: int | str | None = None,
    external: bool = False,
    metadata: Mapping[str, Any] | None = None,
    template_labels: Mapping[str, str] | None = None,
    version: str | None = None,
    identity: str | None = None,
) -> Obj:
    """One role as upstream's e2e fixtures write it: one small container, the given replicas and size.

    :param version: an environment variable of the container: a template change (a new revision) that
        needs no other image.
    :param identity: the child LeaderWorkerSets' ``spec.groupIdentity`` (``Hash``: leaders from a Deployment).
    """
    container: Obj = {
        "name": "main",
        "image": image,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    if version is not None:
        container["env"] = [{"name": "VERSION", "value": version}]
    template: Obj = {"spec": {"containers": [container]}}
    if template_labels:
        template["metadata"] = {"labels": dict(template_labels)}
    spec: Obj = {"leaderWorkerTemplate": {"size": size, "workerTemplate": template}}
    if replicas is not None:
        spec["replicas"] = replicas
    if identity is not None:
        spec["groupIdentity"] = identity
    if surge is not None or unavailable is not None:
        rolling: Obj = {}
        if surge is not None:
            rolling["maxSurge"] = surge
        if unavailable is not None:
            rolling["maxUnavailable"] = unavailable
        spec["rolloutStrategy"] = {"rollingUpdateConfiguration": rolling}
    body: Obj = {"name": name, "spec": spec}
    if metadata:
        body["metadata"] = copy.deepcopy(dict(metadata))
    if external:
        body["scaling"] = {"mode": d.SCALING_EXTERNAL}
    return body


def disaggregated_set(name: str, *roles: Obj, **spec: Any) -> Obj:
    """A DisaggregatedSet with ``roles`` (prefill and decode at 1 when none are given)."""
    return {
        "apiVersion": d.API_VERSION,
        "kind": d.KIND,
        "metadata": {"name": name},
        "spec": {"roles": list(roles) or [role("prefill"), role("decode")], **copy.deepcopy(spec)},
    }


def prefill_decode(name: str, prefill: int, decode: int, **options: Any) -> Obj:
    """Upstream's ``fixtures.PrefillDecode``: two roles with the same options."""
    return disaggregated_set(name, role("prefill", prefill, **options), role("decode", decode, **options))


# --- reading the set -----------------------------------------------------------------------------------------


def ds(kube: Kube, ns: str, name: str) -> Obj | None:
    return kube.get(DISAGGREGATEDSETS, ns, name)


def available(obj: Mapping[str, Any]) -> bool:
    """``Available`` True for the current generation (upstream: every role at target, ready and updated)."""
    cond = condition(obj, d.CONDITION_AVAILABLE)
    status = obj.get("status") or {}
    return bool(
        cond
        and cond.get("status") == "True"
        and cond.get("observedGeneration") == obj["metadata"].get("generation")
        and status.get("observedGeneration") == obj["metadata"].get("generation")
    )


def wait_available(kube: Kube, ns: str, name: str, *, timeout: float = 60.0) -> Obj:
    """The set once it is Available for its current generation."""

    def check() -> Obj | None:
        obj = ds(kube, ns, name)
        return obj if obj is not None and available(obj) else None

    found: Obj = wait_until(check, timeout, f"DisaggregatedSet {ns}/{name} to be Available")
    return found


def children(kube: Kube, ns: str, name: str) -> list[Obj]:
    """The set's child LeaderWorkerSets that are not being deleted."""
    found = kube.list(LEADERWORKERSETS, ns, f"{d.SET_NAME_LABEL}={name}")
    return [o for o in found if not o["metadata"].get("deletionTimestamp")]


def revisions(kube: Kube, ns: str, name: str) -> set[str]:
    return {o["metadata"]["labels"][d.REVISION_LABEL] for o in children(kube, ns, name)}


def single_revision(kube: Kube, ns: str, name: str, *, timeout: float = 60.0) -> str:
    """Wait until the set is Available with one revision left (a rollout done, old children deleted)."""

    def check() -> str | None:
        obj = ds(kube, ns, name)
        found = revisions(kube, ns, name)
        return next(iter(found)) if obj is not None and available(obj) and len(found) == 1 else None

    revision: str = wait_until(check, timeout, f"{ns}/{name} to finish its rollout")
    return revision


def running_pods(kube: Kube, ns: str, name: str, role_name: str | None = None) -> list[Obj]:
    selector = f"{d.SET_NAME_LABEL}={name}" + (f",{d.ROLE_LABEL}={role_name}" if role_name else "")
    return [
        p
        for p in kube.list(PODS, ns, selector)
        if not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("phase") == "Running"
    ]


def services(kube: Kube, ns: str, name: str) -> list[Obj]:
    found = kube.list(SERVICES, ns, f"{d.SET_NAME_LABEL}={name}")
    return [o for o in found if not o["metadata"].get("deletionTimestamp")]


def scaler(kube: Kube, ns: str, name: str) -> Obj | None:
    return kube.get(ROLE_SCALERS, ns, name)


def role_replicas(kube: Kube, ns: str, name: str, role_name: str) -> int:
    """A role's ``spec.replicas`` summed over its live children (every slice and revision)."""
    return sum(
        int(o["spec"].get("replicas", 1))
        for o in children(kube, ns, name)
        if o["metadata"]["labels"][d.ROLE_LABEL] == role_name
    )


def leaders(kube: Kube, ns: str, name: str, role_name: str) -> list[Obj]:
    selector = f"{d.SET_NAME_LABEL}={name},{d.ROLE_LABEL}={role_name},{c.WORKER_INDEX_LABEL}=0"
    return [p for p in kube.list(PODS, ns, selector) if not p["metadata"].get("deletionTimestamp")]


# --- the children's timeline ---------------------------------------------------------------------------------

State = tuple[int, ...]
"""Per role in the order asked for: old replicas of each role, then new replicas of each role."""


@dataclass
class ChildTimeline:
    """Every state of one set's children as a watch delivered them, one snapshot per event.

    ``state(old_revision, roles)`` reads a snapshot as upstream's step-tracking test does: per role, the
    ``spec.replicas`` of the children at ``old_revision`` and of all the others.
    """

    kube: Kube
    namespace: str
    set_name: str
    snapshots: list[dict[str, Obj]] = field(default_factory=list)
    _follower: Follower | None = None

    def __enter__(self) -> ChildTimeline:
        selector = f"{d.SET_NAME_LABEL}={self.set_name}"
        listing = _list_leaderworkersets(self.kube.api)
        self._follower = Follower(
            self.kube, LEADERWORKERSETS, listing, self.namespace, selector, self._record
        )
        self._follower.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # The test read the end state from the API (a LIST); the watch may not have delivered the last events
        # yet, and stopping now would end the timeline before the state the test saw: catch up first.
        if self._follower is not None:
            self._follower.stop(catch_up=exc_type is None)

    def _record(self, children: dict[str, Obj], delivered: Obj | None) -> None:
        self.snapshots.append(copy.deepcopy(children))

    def states(self, old_revision: str, roles: Sequence[str]) -> list[State]:
        """The distinct successive states, from the first snapshot on."""
        out: list[State] = []
        for snapshot in self.snapshots:
            state = state_of(snapshot.values(), old_revision, roles)
            if not out or out[-1] != state:
                out.append(state)
        return out

    def wait_for(self, predicate: Callable[[dict[str, Obj]], bool], timeout: float, what: str) -> None:
        wait_until(lambda: bool(self.snapshots) and predicate(self.snapshots[-1]), timeout, what)


def _list_leaderworkersets(api: Any) -> Callable[..., Any]:
    """A list function the client's watch helper can stream: LeaderWorkerSets of one namespace."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api)

    def list_namespaced(namespace: str, **kwargs: Any) -> Any:
        return custom.list_namespaced_custom_object(c.GROUP, c.VERSION, namespace, c.PLURAL, **kwargs)

    return list_namespaced


def state_of(objs: Any, old_revision: str, roles: Sequence[str]) -> State:
    old = dict.fromkeys(roles, 0)
    new = dict.fromkeys(roles, 0)
    for obj in objs:
        if obj["metadata"].get("deletionTimestamp"):
            continue
        labels = obj["metadata"]["labels"]
        role_name = labels[d.ROLE_LABEL]
        if role_name not in old:
            continue
        side = old if labels[d.REVISION_LABEL] == old_revision else new
        side[role_name] += int(obj["spec"].get("replicas", 1))
    return (*(old[r] for r in roles), *(new[r] for r in roles))


def between(state: State, low: State, high: State) -> bool:
    """Every component of ``state`` lies between the same component of two consecutive steps."""
    return all(min(a, b) <= s <= max(a, b) for s, a, b in zip(state, low, high, strict=True))
