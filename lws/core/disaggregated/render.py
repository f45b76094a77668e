"""``lws render`` for a DisaggregatedSet: every object it leads to, through the controller's own builders.

In order: the defaulted DisaggregatedSet; a RoleScaler per External role (seeded with 1, as for a new
role); then per slice and per role: everything the child LeaderWorkerSet leads to (the child as admitted,
its Services, StatefulSets and pods: :func:`lws.core.render.render_set`), and its ``-prv`` Service (created
once every role of the revision has a ready group). External roles render with their scaler's replicas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.core import admission as lws_admission
from lws.core.disaggregated.children import desired_child, roles_of, slices_of
from lws.core.disaggregated.revision import compute_revision
from lws.core.disaggregated.rollout import target_replicas
from lws.core.disaggregated.scalers import desired_scaler, external_roles
from lws.core.disaggregated.services import prv_service
from lws.core.render import render_set
from lws.hooks.manager import Hooks


class ChildRejected(ValueError):
    """A child LeaderWorkerSet would be rejected: the set did not come through ``admission.admit``."""


def render_disaggregated_set(ds: Mapping[str, Any], hooks: Hooks) -> list[dict[str, Any]]:
    """Objects for one defaulted, admitted DisaggregatedSet."""
    revision = compute_revision(roles_of(ds))
    scalers = {role: desired_scaler(ds, role, 1) for role in external_roles(ds)}
    items: list[dict[str, Any]] = [dict(ds), *scalers.values()]
    for slice_index in range(slices_of(ds)):
        for role in roles_of(ds):
            replicas = target_replicas(ds, str(role["name"]), scalers, 0)
            child, errors = lws_admission.admit(
                desired_child(ds, role, slice_index, revision, replicas), None, hooks
            )
            if errors:
                raise ChildRejected("; ".join(str(e) for e in errors))
            items += render_set(child, hooks)
            items.append(prv_service(ds, child))
    return items
