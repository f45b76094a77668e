"""The child LeaderWorkerSets of a DisaggregatedSet: names, labels, ownership, placement, grouping.

As upstream (``pkg/utils/disaggregatedset`` and ``lws_manager.go``):

* one LeaderWorkerSet per slice, revision and role, named ``<ds>-<slice>-<revision>-<role>``; a pre-slices
  one named ``<ds>-<revision>-<role>`` (and without a slice label) is adopted as slice 0;
* labels ``app: <ds>-<slice>-<role>`` and ``disaggregatedset.x-k8s.io/{name,role,slice,revision}``, on the
  LeaderWorkerSet (merged over the role's own labels: ours win) and in both pod templates;
* the role's annotations are copied; ``spec`` is the role's, with ``replicas`` set explicitly;
* one controller owner reference to the DisaggregatedSet (no ``blockOwnerDeletion``, as upstream);
* the placement policy's affinity terms added to both pod specs at creation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lws.api import constants as c
from lws.api.disaggregated import constants as d

Obj = Mapping[str, Any]


# --- names and labels -----------------------------------------------------------------------------------


def child_name(ds_name: str, slice_index: int, revision: str, role: str) -> str:
    """``<ds>-<slice>-<revision>-<role>``."""
    return f"{ds_name}-{slice_index}-{revision}-{role}"


def legacy_child_name(ds_name: str, revision: str, role: str) -> str:
    """The pre-slices name ``<ds>-<revision>-<role>``, adopted as slice 0."""
    return f"{ds_name}-{revision}-{role}"


def child_labels(ds_name: str, slice_index: int, revision: str, role: str) -> dict[str, str]:
    """The labels every child LeaderWorkerSet and its pods carry."""
    return {
        d.APP_LABEL: f"{ds_name}-{slice_index}-{role}",
        d.ROLE_LABEL: role,
        d.SLICE_LABEL: str(slice_index),
        d.SET_NAME_LABEL: ds_name,
        d.REVISION_LABEL: revision,
    }


def slice_matches(labels: Mapping[str, str], slice_index: int) -> bool:
    """Whether labels place an object in ``slice_index`` (< 0: any); no slice label means slice 0."""
    if slice_index < 0:
        return True
    value = labels.get(d.SLICE_LABEL)
    if not value:
        return slice_index == 0
    return value == str(slice_index)


def has_slice_label(labels: Mapping[str, str]) -> bool:
    """Whether an object was made by a slices-aware controller (a non-empty slice label)."""
    return bool(labels.get(d.SLICE_LABEL))


def slice_of(labels: Mapping[str, str]) -> int | None:
    """The slice index a label says, ``None`` when absent or not a number."""
    try:
        return int(labels.get(d.SLICE_LABEL, ""))
    except ValueError:
        return None


def owner_reference(ds: Obj, *, block_owner_deletion: bool = False) -> dict[str, Any]:
    """A controller reference to the DisaggregatedSet (no ``uid`` while unknown, as in ``lws render``)."""
    metadata = ds.get("metadata") or {}
    ref: dict[str, Any] = {"apiVersion": d.API_VERSION, "kind": d.KIND, "name": metadata.get("name", "")}
    if metadata.get("uid"):
        ref["uid"] = metadata["uid"]
    ref["controller"] = True
    if block_owner_deletion:
        ref["blockOwnerDeletion"] = True
    return ref


def is_controlled_by(obj: Obj, ds: Obj) -> bool:
    """Whether ``obj``'s controller reference names this DisaggregatedSet (by uid when both have one)."""
    uid = (ds.get("metadata") or {}).get("uid")
    name = (ds.get("metadata") or {}).get("name")
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if not ref.get("controller"):
            continue
        if uid and ref.get("uid"):
            return bool(ref["uid"] == uid)
        return bool(ref.get("kind") == d.KIND and ref.get("name") == name)
    return False


# --- the child LeaderWorkerSet -----------------------------------------------------------------------------


def roles_of(ds: Obj) -> list[Obj]:
    """``spec.roles``, in spec order."""
    return list((ds.get("spec") or {}).get("roles") or [])


def role_names(ds: Obj) -> list[str]:
    """The role names, in spec order."""
    return [str(r.get("name")) for r in roles_of(ds)]


def slices_of(ds: Obj) -> int:
    """``spec.slices``, 1 when unset."""
    value = (ds.get("spec") or {}).get("slices")
    return 1 if value is None else int(value)


def desired_child(ds: Obj, role: Obj, slice_index: int, revision: str, replicas: int) -> dict[str, Any]:
    """The LeaderWorkerSet to create for ``role`` in ``slice_index`` at ``revision`` with ``replicas``."""
    metadata = ds.get("metadata") or {}
    ds_name = str(metadata.get("name", ""))
    role_name = str(role.get("name"))
    labels = child_labels(ds_name, slice_index, revision, role_name)
    role_meta = role.get("metadata") or {}
    spec = copy.deepcopy(dict(role.get("spec") or {}))
    spec["replicas"] = replicas
    template = spec.setdefault("leaderWorkerTemplate", {})
    policy = (ds.get("spec") or {}).get("placementPolicy")
    for key in ("workerTemplate", "leaderTemplate"):
        if key == "leaderTemplate" and template.get(key) is None:
            continue
        pod = template.setdefault(key, {})
        pod_meta = pod.setdefault("metadata", {})
        pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
        if not pod_meta.get("annotations"):
            pod_meta.pop("annotations", None)  # Go copies an empty map as nil
        pod["spec"] = with_placement(pod.get("spec") or {}, ds_name, slice_index, policy)
    child_meta: dict[str, Any] = {
        "name": child_name(ds_name, slice_index, revision, role_name),
        "namespace": metadata.get("namespace") or "default",
        "labels": {**(role_meta.get("labels") or {}), **labels},
    }
    if role_meta.get("annotations"):
        child_meta["annotations"] = dict(role_meta["annotations"])
    child_meta["ownerReferences"] = [owner_reference(ds)]
    return {"apiVersion": c.API_VERSION, "kind": c.KIND, "metadata": child_meta, "spec": spec}


def replicas_of(lws: Obj) -> int:
    """A LeaderWorkerSet's ``spec.replicas``, 1 when unset (upstream's ``getLWSReplicas``)."""
    value = (lws.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def initial_replicas(lws: Obj) -> int | None:
    """The ``initial-replicas`` annotation, ``None`` when absent or not a number."""
    value = ((lws.get("metadata") or {}).get("annotations") or {}).get(d.INITIAL_REPLICAS_ANNOTATION)
    try:
        return int(value) if value else None
    except ValueError:
        return None


# --- placement ---------------------------------------------------------------------------------------------


def _requirement(key: str, operator: str, *values: str) -> dict[str, Any]:
    requirement: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        requirement["values"] = list(values)
    return requirement


def with_placement(pod_spec: Obj, ds_name: str, slice_index: int, policy: Obj | None) -> dict[str, Any]:
    """``pod_spec`` with the placement policy's affinity terms appended (a copy; existing terms kept).

    ExclusiveSlice co-locates a slice's roles (pod affinity on name and slice) and repels this set's other
    slices (anti-affinity: same name, other slice; for slice 0 the slice label must exist, so a legacy
    unlabelled slice-0 pod does not repel its own successor). ExclusiveTopology also repels every other
    DisaggregatedSet's slices. No policy, ``None`` or a missing topology adds nothing.
    """
    result = copy.deepcopy(dict(pod_spec))
    if not policy or policy.get("type") in (None, "", d.PLACEMENT_NONE) or not policy.get("topology"):
        return result
    topology = str(policy["topology"])
    slice_text = str(slice_index)
    affinity = result.setdefault("affinity", {})
    pod_affinity = affinity.setdefault("podAffinity", {})
    anti_affinity = affinity.setdefault("podAntiAffinity", {})
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    pod_affinity.setdefault(required, []).append(
        {
            "labelSelector": {
                "matchExpressions": [
                    _requirement(d.SET_NAME_LABEL, "In", ds_name),
                    _requirement(d.SLICE_LABEL, "In", slice_text),
                ]
            },
            "topologyKey": topology,
        }
    )
    spread = [_requirement(d.SET_NAME_LABEL, "In", ds_name)]
    if slice_index == 0:
        spread.append(_requirement(d.SLICE_LABEL, "Exists"))
    spread.append(_requirement(d.SLICE_LABEL, "NotIn", slice_text))
    anti = anti_affinity.setdefault(required, [])
    anti.append({"labelSelector": {"matchExpressions": spread}, "topologyKey": topology})
    if policy.get("type") == d.PLACEMENT_EXCLUSIVE_TOPOLOGY:
        anti.append(
            {
                "labelSelector": {
                    "matchExpressions": [
                        _requirement(d.SET_NAME_LABEL, "Exists"),
                        _requirement(d.SET_NAME_LABEL, "NotIn", ds_name),
                        _requirement(d.SLICE_LABEL, "Exists"),
                    ]
                },
                "topologyKey": topology,
            }
        )
    return result


# --- grouping the children by revision ---------------------------------------------------------------------


@dataclass
class RevisionRoles:
    """The child LeaderWorkerSets of one revision (in one slice), by role."""

    revision: str
    roles: dict[str, Obj] = field(default_factory=dict)


def group_by_revision(children: Sequence[Obj]) -> list[RevisionRoles]:
    """Children grouped by their revision label, in order of first appearance."""
    groups: dict[str, RevisionRoles] = {}
    for lws in children:
        labels = (lws.get("metadata") or {}).get("labels") or {}
        revision = labels.get(d.REVISION_LABEL, "")
        group = groups.setdefault(revision, RevisionRoles(revision))
        group.roles[labels.get(d.ROLE_LABEL, "")] = lws
    return list(groups.values())


def total_replicas(revisions: Sequence[RevisionRoles], role: str) -> int:
    """The role's ``spec.replicas`` summed over the revisions."""
    return sum(replicas_of(r.roles[role]) for r in revisions if role in r.roles)


def total_initial_replicas(revisions: Sequence[RevisionRoles], role: str) -> int:
    """The role's ``initial-replicas`` (else ``spec.replicas``) summed over the revisions."""
    total = 0
    for revision in revisions:
        lws = revision.roles.get(role)
        if lws is not None:
            initial = initial_replicas(lws)
            total += replicas_of(lws) if initial is None else initial
    return total
