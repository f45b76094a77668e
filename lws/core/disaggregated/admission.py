"""Admission of a DisaggregatedSet: the CRD defaults, upstream's rules, then its children's own admission.

Upstream admits a DisaggregatedSet whose child LeaderWorkerSets the LWS webhook would then reject (a role
with a bad subgroup size, names beyond the LWS name budget...): the controller fails to create them and the
set never becomes Available. Here each role's child is also built, as the controller would build it (for
the last slice, whose name is the longest), and run through LeaderWorkerSet admission with the enabled
plugins, so that such a set is rejected at once with the child's error, named under ``spec.roles[i]``. The
webhooks, ``lws validate`` and ``lws render`` all come through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.api.disaggregated import constants as d
from lws.api.disaggregated.defaulting import default_disaggregatedset
from lws.api.disaggregated.validation import Verdict, validate_disaggregatedset
from lws.api.errors import FieldError
from lws.api.validation import nesting_error
from lws.core import admission as lws_admission
from lws.core.disaggregated.children import desired_child, roles_of, slices_of
from lws.core.disaggregated.revision import GoJSONError, compute_revision
from lws.core.disaggregated.rollout import target_replicas
from lws.core.disaggregated.scalers import desired_scaler, external_roles
from lws.hooks.manager import Hooks


def admit(
    obj: Mapping[str, Any], hooks: Hooks, *, namespace: str | None = None
) -> tuple[dict[str, Any], Verdict]:
    """Default, validate, then admit each role's child LeaderWorkerSet; the defaulted object and verdict.

    An object nested deeper than any DisaggregatedSet is refused first, naming where (as LeaderWorkerSet
    admission does, :func:`lws.api.validation.nesting_error`): defaulting and the rules recurse into it.
    """
    too_deep = nesting_error(obj, kind=d.KIND)
    if too_deep is not None:
        return dict(obj), Verdict(errors=[too_deep])
    defaulted = default_disaggregatedset(obj, namespace=namespace)
    verdict = validate_disaggregatedset(
        defaulted, startup_policies=hooks.startup_values, restart_policies=hooks.restart_values
    )
    if verdict.errors:
        return defaulted, verdict
    try:
        revision = compute_revision(roles_of(defaulted))
    except GoJSONError as exc:
        verdict.errors.append(FieldError(exc.path, f"{exc.detail} (as a Kubernetes pod template)"))
        return defaulted, verdict
    last_slice = slices_of(defaulted) - 1
    scalers = {role: desired_scaler(defaulted, role, 1) for role in external_roles(defaulted)}
    for i, role in enumerate(roles_of(defaulted)):
        replicas = target_replicas(defaulted, str(role["name"]), scalers, 0)
        child = desired_child(defaulted, role, last_slice, revision, replicas)
        _, errors = lws_admission.admit(child, None, hooks)
        name = child["metadata"]["name"]
        verdict.errors.extend(_under_role(error, i, name) for error in errors)
    return defaulted, verdict


def _under_role(error: FieldError, index: int, child: str) -> FieldError:
    role = f"spec.roles[{index}]"
    if error.path.startswith("spec."):
        path = f"{role}.{error.path}"
    elif error.path in ("metadata.name", "metadata.generateName"):
        path = f"{role}.name"
    elif error.path.startswith("metadata."):
        path = f"{role}.{error.path}"
    else:
        path = role
    detail = f"{error.detail} (in the child LeaderWorkerSet {child})"
    if error.has_value:
        return FieldError(path, detail, type=error.type, value=error.value, origin=error.origin)
    return FieldError(path, detail, type=error.type, origin=error.origin)
