"""The ``-prv`` headless Services of a DisaggregatedSet: one per child LeaderWorkerSet of a ready revision.

As upstream (``service_manager.go``): once the target revision has at least one ready group on *every*
role, each of its LeaderWorkerSets gets a headless Service ``<lws>-prv`` without ports, selecting that
LeaderWorkerSet's pods by the set's ``name``, ``role`` and ``revision`` labels (plus ``slice`` for a
slices-aware child), and the Services of revisions that are not ready on every role are deleted. Until the
target revision is ready, existing Services are left alone, so clients keep a revision that serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lws.api.disaggregated import constants as d
from lws.core.disaggregated.children import (
    Obj,
    RevisionRoles,
    group_by_revision,
    has_slice_label,
    owner_reference,
    role_names,
    slice_matches,
)


def prv_service(ds: Obj, lws: Obj) -> dict[str, Any]:
    """The headless Service ``<lws>-prv`` for one child LeaderWorkerSet."""
    metadata = ds.get("metadata") or {}
    labels = (lws.get("metadata") or {}).get("labels") or {}
    selector = {
        d.SET_NAME_LABEL: str(metadata.get("name", "")),
        d.ROLE_LABEL: labels.get(d.ROLE_LABEL, ""),
        d.REVISION_LABEL: labels.get(d.REVISION_LABEL, ""),
    }
    if has_slice_label(labels):
        selector[d.SLICE_LABEL] = labels[d.SLICE_LABEL]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{lws['metadata']['name']}{d.SERVICE_SUFFIX}",
            "namespace": metadata.get("namespace") or "default",
            "labels": dict(selector),
            "ownerReferences": [owner_reference(ds)],
        },
        "spec": {"clusterIP": "None", "selector": selector},
    }


def ready_on_all_roles(revision: RevisionRoles, roles: Sequence[str]) -> bool:
    """Every role has a LeaderWorkerSet in the revision with at least one ready group."""
    return all(
        role in revision.roles
        and int((revision.roles[role].get("status") or {}).get("readyReplicas") or 0) >= 1
        for role in roles
    )


@dataclass
class ServicePlan:
    """Services to create (an existing one of the same name is left as it is) and names to delete."""

    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def plan_services(
    ds: Obj, slice_index: int, children: Sequence[Obj], services: Sequence[Obj], revision: str
) -> ServicePlan:
    """The Service changes for one slice.

    :param children: the slice's LeaderWorkerSets (listed after this reconcile's rollout actions).
    :param services: every Service labelled with this set's name (any slice; filtered here).
    """
    plan = ServicePlan()
    groups = group_by_revision(children)
    roles = role_names(ds)
    target = next((g for g in groups if g.revision == revision), None)
    if target is None or not ready_on_all_roles(target, roles):
        return plan
    plan.create = [prv_service(ds, target.roles[role]) for role in roles if role in target.roles]
    ready = {g.revision for g in groups if ready_on_all_roles(g, roles)} | {revision}
    for service in services:
        labels = (service.get("metadata") or {}).get("labels") or {}
        if slice_matches(labels, slice_index) and labels.get(d.REVISION_LABEL, "") not in ready:
            plan.delete.append(str(service["metadata"]["name"]))
    return plan


def removed_slice_services(services: Sequence[Obj], slices: int) -> list[str]:
    """Services of slices at or above ``slices``."""
    doomed = []
    for service in services:
        labels = (service.get("metadata") or {}).get("labels") or {}
        try:
            index = int(labels.get(d.SLICE_LABEL, ""))
        except ValueError:
            continue
        if index >= slices:
            doomed.append(str(service["metadata"]["name"]))
    return doomed
