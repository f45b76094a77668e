"""Placement modes: keep each group together, and decide how groups of one set share topology domains.

Upstream offers one placement, ``leaderworkerset.sigs.k8s.io/exclusive-topology``, whose anti-affinity
keeps out the groups of *every* LeaderWorkerSet in the namespace (upstream issue #539), on one level of
the topology. This plugin adds modes that only look at the groups of the same set, and multi-level
topologies.

Settings (annotations on the LeaderWorkerSet; they are copied onto the pod templates, so changing them rolls
the groups):

``placement.lws.x-k8s.io/mode``
    ``colocate``: all pods of a group in one domain; groups may share domains.
    ``exclusive-in-set``: as ``colocate``, and no two groups *of this LeaderWorkerSet* in one domain;
    groups of other sets are not kept out (unlike upstream's exclusive-topology).
    ``spread``: as ``colocate``, and groups of this set prefer different domains (for availability).
``placement.lws.x-k8s.io/topology``
    Node label keys, outermost level first, separated by commas, e.g.
    ``topology.kubernetes.io/zone,example.com/block,example.com/rack``. The group is *required* to stay
    in one domain of the first (outermost) key; exclusivity and spreading apply at that level too. Each
    further key adds a *preferred* affinity toward the group, weighted more the tighter the level (for
    three keys: block 50, rack 100), so the scheduler packs a group as tightly as capacity allows without
    ever refusing to place it. One key gives a plain one-level placement. The preferences are weighed pod
    by pod, as the default scheduler places pods one at a time: groups created at the same moment in the
    same outer domain can interleave and split each other's racks although each would fit in one. A group
    alone in its outer domain while it is placed (created on its own, or kept apart by ``exclusive-in-set``)
    packs as described.

Every pod of the group, leader and workers alike, gets its terms when it is admitted: the terms select the
group by its ``group-key`` label, which worker pods carry from their template, so workers need not wait for
the leader to be scheduled (unlike upstream's exclusive placement, which pins workers with a nodeSelector
once the leader has a node), and gang schedulers can place the whole group at once. The first pod of a
group satisfies its own required affinity (Kubernetes' rule for a term that matches no pod yet). The price
is the scheduler's inter-pod affinity cost, proportional to the number of pods in the namespace.

Example::

    metadata:
      annotations:
        placement.lws.x-k8s.io/mode: exclusive-in-set
        placement.lws.x-k8s.io/topology: topology.kubernetes.io/zone,example.com/rack

Rejected at admission: an unknown mode (the message lists the modes), a mode without a topology (or the
reverse), a malformed or repeated label key, and a mode together with upstream's ``exclusive-topology``
annotation (both would place the groups; keep one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lws.plugin import FieldError, LeaderWorkerSet, PodContext, Settings, annotation_path, hookimpl
from lws.plugin import constants as c

COLOCATE = "colocate"
EXCLUSIVE_IN_SET = "exclusive-in-set"
SPREAD = "spread"
MODES = (EXCLUSIVE_IN_SET, COLOCATE, SPREAD)

SETTINGS = Settings("placement")
MODE = SETTINGS.choice("mode", MODES, help="how groups of this set share topology domains")
TOPOLOGY = SETTINGS.label_keys("topology", help="node label keys, outermost level first")

#: Weight of the preferred anti-affinity that spreads groups, and of the tightest preferred level.
MAX_WEIGHT = 100


def level_weights(levels: int) -> list[int]:
    """Weights of the preferred terms for the inner levels, outermost first: tighter, heavier; 1..100."""
    return [max(1, round(MAX_WEIGHT * (i + 1) / levels)) for i in range(levels)]


def placement_terms(mode: str, keys: Sequence[str], set_name: str, group_key: str) -> dict[str, Any]:
    """The affinity of one group pod, as a ``spec.affinity`` fragment (pure; see the module doc)."""
    own_group = {
        "matchExpressions": [{"key": c.GROUP_UNIQUE_HASH_LABEL, "operator": "In", "values": [group_key]}]
    }
    other_groups = {
        "matchExpressions": [
            {"key": c.SET_NAME_LABEL, "operator": "In", "values": [set_name]},
            {"key": c.GROUP_UNIQUE_HASH_LABEL, "operator": "Exists"},
            {"key": c.GROUP_UNIQUE_HASH_LABEL, "operator": "NotIn", "values": [group_key]},
        ]
    }
    outer, inner = keys[0], keys[1:]
    affinity: dict[str, Any] = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": own_group, "topologyKey": outer}
            ]
        }
    }
    if inner:
        affinity["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": weight, "podAffinityTerm": {"labelSelector": own_group, "topologyKey": key}}
            for key, weight in zip(inner, level_weights(len(inner)), strict=True)
        ]
    if mode == EXCLUSIVE_IN_SET:
        affinity["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": other_groups, "topologyKey": outer}
            ]
        }
    elif mode == SPREAD:
        affinity["podAntiAffinity"] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": MAX_WEIGHT,
                    "podAffinityTerm": {"labelSelector": other_groups, "topologyKey": outer},
                }
            ]
        }
    return affinity


def merge_affinity(pod: dict[str, Any], terms: dict[str, Any]) -> None:
    """Append each term to the pod's affinity unless an equal one is there (user terms are kept)."""
    affinity = pod.setdefault("spec", {}).setdefault("affinity", {})
    for kind, lists in terms.items():
        section = affinity.setdefault(kind, {})
        for list_name, new_terms in lists.items():
            existing = section.setdefault(list_name, [])
            existing.extend(t for t in new_terms if t not in existing)


@hookimpl
def lws_pod_annotations(lws: LeaderWorkerSet) -> dict[str, str]:
    """Propagate the settings, so pods carry them to admission and changes roll the groups."""
    return SETTINGS.present(lws.annotations)


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    """Give every group pod the terms of its set's mode."""
    mode = MODE.find(ctx.annotations)
    if mode is None:
        return
    keys = TOPOLOGY.require(ctx.annotations)
    if not ctx.group_key:
        raise ValueError(
            f"pod {ctx.pod_name} has no {c.GROUP_UNIQUE_HASH_LABEL} label, so placement mode {mode} cannot "
            "select its group; group pods get it from the operator"
        )
    merge_affinity(pod, placement_terms(mode, keys, ctx.set_name, ctx.group_key))


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    """Known mode, well-formed topology, both or neither, and no clash with upstream's exclusive placement."""
    annotations = lws.annotations
    errors = SETTINGS.validate(annotations)
    has_mode, has_topology = MODE.key in annotations, TOPOLOGY.key in annotations
    if has_mode and not has_topology:
        errors.append(
            FieldError(
                annotation_path(TOPOLOGY.key),
                f"must be set with {MODE.key}: list node label keys, outermost level first, e.g. "
                "topology.kubernetes.io/zone or topology.kubernetes.io/zone,example.com/rack",
                type="Required",
            )
        )
    if has_topology and not has_mode:
        errors.append(
            FieldError(
                annotation_path(MODE.key),
                f"must be set with {TOPOLOGY.key}: one of {', '.join(MODES)}",
                type="Required",
            )
        )
    if has_mode and annotations.get(c.EXCLUSIVE_KEY_ANNOTATION):
        errors.append(
            FieldError(
                annotation_path(MODE.key),
                f"cannot be combined with {c.EXCLUSIVE_KEY_ANNOTATION}, which also places the groups "
                "(exclusive against every LeaderWorkerSet group in the namespace): keep one of them. "
                f"For one group per domain among this set's groups only, use {MODE.key}: "
                f"{EXCLUSIVE_IN_SET} with {TOPOLOGY.key}: <node label key>",
                type="Forbidden",
            )
        )
    return errors
