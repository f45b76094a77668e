"""Spread the groups of a LeaderWorkerSet over racks, by group index: group ``i`` runs on rack ``i mod n``.

An example of a third-party lws placement plugin. It is enabled when installed, and does nothing for a
LeaderWorkerSet that does not ask for it.

Settings (annotations on the LeaderWorkerSet; they are copied onto the pod templates, so changing them
rolls the groups):

``rack-spread.lws.x-k8s.io/racks``
    The racks to use, as node label values separated by commas: ``rack-a,rack-b,rack-c``. Group 0 goes to
    ``rack-a``, group 1 to ``rack-b``, group 3 to ``rack-a`` again. Every pod of the group, leader and
    workers, is required to run on a node of its rack.
``rack-spread.lws.x-k8s.io/label-key`` (default ``example.com/rack``)
    The node label that names a node's rack.

Example::

    metadata:
      annotations:
        rack-spread.lws.x-k8s.io/racks: zone-a-block-0-rack-0,zone-b-block-0-rack-0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.plugin import FieldError, LeaderWorkerSet, PodContext, hookimpl
from lws.plugin.names import is_label_value, is_qualified_name

PREFIX = "rack-spread.lws.x-k8s.io/"
RACKS = PREFIX + "racks"
LABEL_KEY = PREFIX + "label-key"
SETTINGS = (RACKS, LABEL_KEY)
DEFAULT_LABEL_KEY = "example.com/rack"


def rack_for(group_index: int, racks: list[str]) -> str:
    """The rack of a group: round robin over the racks by group index."""
    return racks[group_index % len(racks)]


def racks_of(annotations: Mapping[str, str]) -> list[str]:
    """The rack names of the racks setting, in order."""
    return [r.strip() for r in annotations[RACKS].split(",")]


def require_rack(pod: dict[str, Any], label_key: str, rack: str) -> None:
    """AND ``label_key In [rack]`` into every required node-affinity term (terms are ORed, so a term of its
    own would let the pod escape the rack through the user's terms)."""
    affinity = pod.setdefault("spec", {}).setdefault("affinity", {})
    required = affinity.setdefault("nodeAffinity", {}).setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", {}
    )
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({})
    expression = {"key": label_key, "operator": "In", "values": [rack]}
    for term in terms:
        expressions = term.setdefault("matchExpressions", [])
        if expression not in expressions:
            expressions.append(expression)


@hookimpl
def lws_pod_annotations(lws: LeaderWorkerSet) -> dict[str, str]:
    """Copy the settings to the pod templates: the pod webhook sees only the pod."""
    return {k: v for k, v in lws.annotations.items() if k.startswith(PREFIX)}


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    """Pin every pod of group ``i`` to rack ``i mod n``."""
    if RACKS not in ctx.annotations:
        return
    rack = rack_for(ctx.group_index, racks_of(ctx.annotations))
    require_rack(pod, ctx.annotations.get(LABEL_KEY, DEFAULT_LABEL_KEY), rack)


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    """Known settings only, rack names that are label values, a label key that is a label key."""
    errors: list[FieldError] = []
    annotations = lws.annotations
    for key in sorted(k for k in annotations if k.startswith(PREFIX) and k not in SETTINGS):
        errors.append(
            FieldError(
                f"metadata.annotations.{key}", f"unknown setting; the settings are: {', '.join(SETTINGS)}"
            )
        )
    if RACKS in annotations:
        for rack in racks_of(annotations):
            problems = is_label_value(rack) if rack else ["must not be empty"]
            errors.extend(
                FieldError(
                    f"metadata.annotations.{RACKS}",
                    f"must list node label values separated by commas, e.g. rack-a,rack-b; "
                    f"{rack!r}: {problem}",
                    value=annotations[RACKS],
                )
                for problem in problems
            )
    elif LABEL_KEY in annotations:
        errors.append(
            FieldError(f"metadata.annotations.{RACKS}", f"must be set with {LABEL_KEY}", "Required")
        )
    if LABEL_KEY in annotations:
        errors.extend(
            FieldError(
                f"metadata.annotations.{LABEL_KEY}",
                f"must be a node label key: {problem}",
                value=annotations[LABEL_KEY],
            )
            for problem in is_qualified_name(annotations[LABEL_KEY])
        )
    return errors
