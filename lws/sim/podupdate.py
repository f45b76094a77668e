"""What an update may change in a Pod's spec, as ``ValidatePodUpdate`` in Kubernetes' core validation decides.

A pod's spec is immutable once created except for container and init-container images,
``activeDeadlineSeconds`` (set, or lowered), additions to ``tolerations`` (existing ones may change only their
``tolerationSeconds``), removals from ``schedulingGates``, ``terminationGracePeriodSeconds`` from a negative
value to 1, and, while the pod is still gated, additions to ``nodeSelector`` and to the required node
affinity. Anything else answers 422 with the real server's message (``spec: Forbidden: pod updates may not
change fields other than ...`` followed by what differs). This holds for update, every patch type and
server-side apply alike, since they all end in the same update; subresources (``status``, ``binding``) have
rules of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lws.sim import causes
from lws.sim.causes import Cause
from lws.sim.objects import clone

__all__ = ["UPDATABLE_POD_SPEC_FIELDS", "validate_pod_update"]

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)
_MAX_INT32 = 2**31 - 1


def validate_pod_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    """Why ``new`` may not replace ``old`` (both defaulted pods); empty when the update is allowed."""
    new_spec: dict[str, Any] = dict(new.get("spec") or {})
    old_spec: dict[str, Any] = dict(old.get("spec") or {})
    found: list[Cause] = []
    for key in ("containers", "initContainers"):
        container_causes, stop = _container_updates(new_spec.get(key) or [], old_spec.get(key) or [], key)
        found.extend(container_causes)
        if stop:
            return found
    deadline_causes = list(_active_deadline(new_spec, old_spec))
    found.extend(deadline_causes)
    found.extend(
        _only_added_tolerations(new_spec.get("tolerations") or [], old_spec.get("tolerations") or [])
    )
    found.extend(
        _only_deleted_gates(new_spec.get("schedulingGates") or [], old_spec.get("schedulingGates") or [])
    )
    if deadline_causes or new_spec == old_spec:
        return found
    munged = _munged(new_spec, old_spec)
    if old_spec.get("schedulingGates"):
        found.extend(_gated_mutations(munged, old_spec))
    if munged != old_spec:
        detail = "pod updates may not change fields other than " + ",".join(UPDATABLE_POD_SPEC_FIELDS)
        found.append(causes.forbidden("spec", f"{detail}\n{_diff(old_spec, munged)}"))
    return found


def _container_updates(new: list[Any], old: list[Any], key: str) -> tuple[list[Cause], bool]:
    if len(new) != len(old):
        return [causes.forbidden(f"spec.{key}", "pod updates may not add or remove containers")], True
    found: list[Cause] = []
    for i, container in enumerate(new):
        image = (container or {}).get("image") or ""
        if not image:
            found.append(causes.required(f"spec.{key}[{i}].image"))
        elif image.strip() != image:
            found.append(
                causes.invalid(
                    f"spec.{key}[{i}].image", image, "must not have leading or trailing whitespace"
                )
            )
    return found, False


def _active_deadline(new: Mapping[str, Any], old: Mapping[str, Any]) -> Iterator[Cause]:
    new_value, old_value = new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds")
    path = "spec.activeDeadlineSeconds"
    if new_value is not None:
        if not isinstance(new_value, int) or not 0 <= new_value <= _MAX_INT32:
            yield causes.invalid(path, new_value, f"must be between 0 and {_MAX_INT32}, inclusive")
        elif old_value is not None and old_value < new_value:
            yield causes.invalid(path, new_value, "must be less than or equal to previous value")
    elif old_value is not None:
        yield Cause(
            path,
            "FieldValueInvalid",
            "Invalid value: null: must not update from a positive integer to nil value",
        )


def _only_added_tolerations(new: list[Any], old: list[Any]) -> Iterator[Cause]:
    for existing in old:
        if not any(
            isinstance(candidate, dict)
            and {**existing, "tolerationSeconds": candidate.get("tolerationSeconds")}
            == {**candidate, "tolerationSeconds": candidate.get("tolerationSeconds")}
            for candidate in new
        ):
            yield causes.forbidden(
                "spec.tolerations", "existing toleration can not be modified except its tolerationSeconds"
            )
            return


def _only_deleted_gates(new: list[Any], old: list[Any]) -> Iterator[Cause]:
    old_names = {(gate or {}).get("name") for gate in old}
    for i, gate in enumerate(new):
        name = (gate or {}).get("name")
        if name not in old_names:
            yield causes.forbidden(
                f"spec.schedulingGates[{i}].name",
                f"only deletion is allowed, but found new scheduling gate '{name}'",
            )


def _munged(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` with every field an update may change set back to its old value."""
    munged: dict[str, Any] = clone(dict(new))
    for key in ("containers", "initContainers"):
        if key in munged:
            for container, before in zip(munged[key], old.get(key) or [], strict=False):
                _restore(container, before, "image")
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        _restore(munged, old, key)
    old_grace = old.get("terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _gated_mutations(munged: dict[str, Any], old: Mapping[str, Any]) -> Iterator[Cause]:
    """While scheduling gates remain, node selector and required node affinity may grow (then munged back)."""
    new_selector, old_selector = munged.get("nodeSelector") or {}, old.get("nodeSelector") or {}
    if new_selector != old_selector:
        if any(new_selector.get(key) != value for key, value in old_selector.items()):
            yield causes.invalid(
                "spec.nodeSelector",
                new_selector,
                "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
            )
        _restore(munged, old, "nodeSelector")
    old_affinity = (old.get("affinity") or {}).get("nodeAffinity")
    new_affinity = (munged.get("affinity") or {}).get("nodeAffinity")
    if old_affinity == new_affinity:
        return
    yield from _node_affinity_additions(new_affinity, old_affinity)
    affinity = munged.get("affinity")
    if affinity is None:
        munged["affinity"] = {"nodeAffinity": old_affinity}
    elif old.get("affinity") is None and set(affinity) <= {"nodeAffinity"}:
        del munged["affinity"]
    else:
        _restore(affinity, old.get("affinity") or {}, "nodeAffinity")


def _node_affinity_additions(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Iterator[Cause]:
    path = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
    required_old = (old or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required_old is None:
        return
    old_terms = required_old.get("nodeSelectorTerms") or []
    new_terms = ((new or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    if old_terms and len(old_terms) != len(new_terms):
        yield causes.invalid(
            path, new_terms, "no additions/deletions to non-empty NodeSelectorTerms list are allowed"
        )
        return
    for i, (new_term, old_term) in enumerate(zip(new_terms, old_terms, strict=False)):
        if not _only_additions(new_term or {}, old_term or {}):
            yield causes.invalid(
                f"{path}[{i}]", new_term, "only additions are allowed (no mutations or deletions)"
            )


def _only_additions(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    if not old.get("matchExpressions") and not old.get("matchFields"):
        return not new.get("matchExpressions") and not new.get("matchFields")
    for key in ("matchExpressions", "matchFields"):
        before, after = old.get(key) or [], new.get(key) or []
        if len(after) < len(before) or after[: len(before)] != before:
            return False
    return True


def _restore(target: dict[str, Any], source: Mapping[str, Any], key: str) -> None:
    if key in source:
        target[key] = source[key]
    else:
        target.pop(key, None)


def _diff(old: Any, new: Any, path: str = "") -> str:
    """What differs, one ``-``/``+`` line pair per changed field (Kubernetes prints a go-cmp diff)."""
    lines = list(_diff_lines(old, new, path))
    return "\n".join(lines)


def _diff_lines(old: Any, new: Any, path: str) -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                yield from _diff_lines(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (before, after) in enumerate(zip(old, new, strict=True)):
            if before != after:
                yield from _diff_lines(before, after, f"{path}[{i}]")
        return
    if old is not None:
        yield f"-  {path}: {causes.format_value(old)}"
    if new is not None:
        yield f"+  {path}: {causes.format_value(new)}"
