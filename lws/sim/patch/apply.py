"""Server-side apply and ``metadata.managedFields``, as the Kubernetes API server does them.

Every write records who set which fields. :func:`record_update` does it for creates, updates and patches (the
writer becomes owner of the fields it added or changed, operation ``Update``); :func:`server_side_apply`
handles ``application/apply-patch+yaml``: it merges the applied configuration into the live object, makes the
applier the owner of exactly the fields it applied, removes fields it applied before and omits now (unless
another manager owns them too), and refuses with a 409 listing every field another manager set to a different
value, unless ``force`` hands those fields over.

Entries are kept per manager, operation and (for ``Update``) apiVersion and subresource, in ``fieldsV1`` form,
sorted like Kubernetes sorts them. The structure of each kind (which lists are sets or maps, and by which
keys) comes from :mod:`lws.sim.patch.fieldtypes`.

As in Kubernetes, the manager ``kubectl`` may take over without conflicts the fields its last client-side
apply set (``kubectl.kubernetes.io/last-applied-configuration``) while they keep those values, and keeps that
annotation in step with what it applies; kubectl then hands the ``kubectl-client-side-apply`` entry over
with a patch of ``managedFields``, which :func:`record_update` honours.

Simplifications, none of which clients can observe in ordinary use: objects are never converted between
versions (a manager's fields are compared in the object's current version); ``Update`` entries are not capped
at ten; a manager that creates an object owns its ``spec`` and ``status`` through their fields only
(Kubernetes gets the same result from comparing against a Go zero value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from lws.k8s.json_types import json_equal
from lws.sim import errors
from lws.sim.causes import Cause
from lws.sim.patch import PatchError
from lws.sim.patch.fieldsets import (
    Path,
    compare,
    describe,
    fields_v1,
    merge,
    paths_of_fields_v1,
    remove,
    set_paths,
)
from lws.sim.patch.fieldtypes import Shape, shape_for

__all__ = [
    "ApplyConflict",
    "manager_from_user_agent",
    "record_update",
    "restore_unchanged_timestamps",
    "server_side_apply",
]

APPLY = "Apply"
UPDATE = "Update"
BEFORE_FIRST_APPLY = "before-first-apply"
# kubectl's server-side apply manager, which Kubernetes lets take over from client-side apply.
KUBECTL = "kubectl"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_MANAGER_LENGTH = 128

# Fields the server sets, which nobody owns (Kubernetes strips them from every entry).
_UNOWNED: frozenset[Path] = frozenset(
    {
        ("f:apiVersion",),
        ("f:kind",),
        ("f:metadata",),
        ("f:spec",),
        ("f:status",),
        *(
            ("f:metadata", "f:" + name)
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        ),
    }
)


class ApplyConflict(errors.APIError):
    """409 ``Conflict``: the apply would change fields other managers own; one cause per field.

    The message is worded as Kubernetes words it (``Apply failed with 1 conflict: conflict with
    "kubectl-client-side-apply" using apps/v1: .spec.replicas``), and kubectl adds its advice about
    ``--force-conflicts`` to it.
    """

    def __init__(self, conflicts: Iterable[tuple[str, Path]]) -> None:
        ordered = sorted(conflicts, key=lambda conflict: (conflict[0], describe(conflict[1])))
        self.conflicts = ordered
        causes = [
            Cause(describe(path), "FieldManagerConflict", f"conflict with {manager}")
            for manager, path in ordered
        ]
        if len(ordered) == 1:
            manager, path = ordered[0]
            message = f"Apply failed with 1 conflict: conflict with {manager}: {describe(path)}"
        else:
            lines: list[str] = []
            for manager in dict.fromkeys(manager for manager, _ in ordered):
                lines.append(f"conflicts with {manager}:")
                lines.extend(f"- {describe(path)}" for owner, path in ordered if owner == manager)
            message = f"Apply failed with {len(ordered)} conflicts: " + "\n".join(lines)
        super().__init__(errors.status(409, "Conflict", message, causes=causes))


@dataclass(frozen=True)
class _Entry:
    """One ``managedFields`` entry. Its fields stay in their ``fieldsV1`` form (``trie``) until someone needs
    them as a set of paths: most writes touch one or two entries, and decoding the others would be waste."""

    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    given: frozenset[Path] | None = None
    trie: Mapping[str, Any] | None = None

    @cached_property
    def fields(self) -> frozenset[Path]:
        """The paths this manager owns."""
        if self.given is not None:
            return self.given
        return frozenset(paths_of_fields_v1(self.trie or {}))

    def owns_any(self, paths: Iterable[Path]) -> bool:
        """Whether any of ``paths`` is one of this entry's, without decoding it all."""
        if self.given is not None or self.trie is None:
            return not self.fields.isdisjoint(paths)
        return any(_trie_has(self.trie, path) for path in paths)

    def with_fields(self, fields: frozenset[Path], **changes: Any) -> _Entry:
        """A copy owning ``fields`` instead (and with ``changes`` to the other attributes)."""
        return replace(self, given=fields, trie=None, **changes)

    def without(self, paths: frozenset[Path]) -> _Entry:
        """This entry minus ``paths``; itself when it owns none of them."""
        return self.with_fields(self.fields - paths) if paths and self.owns_any(paths) else self

    @property
    def identity(self) -> tuple[str, str, str, str]:
        # Appliers keep one entry whatever version they apply; updaters get one per version, as in Kubernetes.
        return (
            self.manager,
            self.operation,
            "" if self.operation == APPLY else self.api_version,
            self.subresource,
        )

    def printed(self) -> str:
        """How conflict messages name this manager."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def empty(self) -> bool:
        """Whether the entry owns nothing (and so is not recorded)."""
        if self.given is None and self.trie is not None:
            return not self.trie
        return not self.fields

    def encoded(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = (
            self.trie if self.given is None and self.trie is not None else fields_v1(self.fields)
        )
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def _trie_has(trie: Mapping[str, Any], path: Path) -> bool:
    node: Any = trie
    for element in path:
        node = node.get(element) if isinstance(node, Mapping) else None
        if node is None:
            return False
    return isinstance(node, Mapping) and (not node or "." in node)


_Managers = dict[tuple[str, str, str, str], _Entry]


def _decode(entries: Any) -> _Managers:
    if not entries:
        return {}
    if not isinstance(entries, list):
        raise PatchError("metadata.managedFields: must be a list of entries", code=400)
    managers: _Managers = {}
    for index, raw in enumerate(entries):
        where = f"metadata.managedFields[{index}]"
        if not isinstance(raw, Mapping):
            raise PatchError(f"{where}: must be an object", code=400)
        if raw.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise PatchError(f'{where}.fieldsType: only "FieldsV1" is supported', code=400)
        operation = raw.get("operation", UPDATE)
        if operation not in (APPLY, UPDATE):
            raise PatchError(f'{where}.operation: must be "Apply" or "Update", not {operation!r}', code=400)
        trie = raw.get("fieldsV1") or {}
        if not isinstance(trie, Mapping):
            raise PatchError(f"{where}.fieldsV1: must be a JSON object", code=400)
        entry = _Entry(
            manager=str(raw.get("manager", "")),
            operation=operation,
            api_version=str(raw.get("apiVersion", "")),
            subresource=str(raw.get("subresource", "")),
            time=raw.get("time"),
            trie=trie,
        )
        previous = managers.get(entry.identity)
        if previous is not None:
            entry = entry.with_fields(entry.fields | previous.fields)
        managers[entry.identity] = entry
    return managers


def _encode(managers: _Managers) -> list[dict[str, Any]]:
    live = [entry for entry in managers.values() if not entry.empty()]
    live.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [entry.encoded() for entry in live]


def _without_managed_fields(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    if obj is None:
        return {}
    copy = dict(obj)
    metadata = copy.get("metadata")
    if isinstance(metadata, Mapping) and "managedFields" in metadata:
        copy["metadata"] = {key: value for key, value in metadata.items() if key != "managedFields"}
    return copy


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def _owned_prefixes(managers: _Managers) -> set[Path]:
    """Every owned path and each of its ancestors: what may not be removed from the object."""
    prefixes: set[Path] = set()
    for entry in managers.values():
        for path in entry.fields:
            for length in range(1, len(path) + 1):
                prefixes.add(path[:length])
    return prefixes


def _kind_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rpartition("/")[0]
    return (group, str(obj.get("kind", "")))


def _only_status(obj: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {key: obj[key] for key in ("apiVersion", "kind") if key in obj}
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        kept["metadata"] = {key: metadata[key] for key in ("name", "namespace") if key in metadata}
    if "status" in obj:
        kept["status"] = obj["status"]
    return kept


def _check_applied(applied: Any, live: Mapping[str, Any] | None, kind: tuple[str, str]) -> None:
    if not isinstance(applied, Mapping):
        raise PatchError("the applied configuration must be a YAML or JSON object", code=400)
    api_version, applied_kind = applied.get("apiVersion"), applied.get("kind")
    if not api_version or not applied_kind:
        raise PatchError("the applied configuration must set both apiVersion and kind", code=400)
    group, expected_kind = kind
    applied_group = str(api_version).rpartition("/")[0]
    if applied_kind != expected_kind or applied_group != group:
        raise PatchError(
            f"the applied configuration is a {applied_kind} of {api_version}, "
            f"but this endpoint serves {expected_kind} of group {group or 'core'!r}",
            code=400,
        )
    metadata = applied.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise PatchError("metadata: must be an object", code=400)
    if metadata.get("managedFields") is not None:
        raise PatchError("metadata.managedFields must be nil", code=400)
    if live is not None:
        name, live_name = metadata.get("name"), (live.get("metadata") or {}).get("name")
        if name and name != live_name:
            raise PatchError(
                f"the name of the object ({name}) does not match the name on the URL ({live_name})", code=400
            )


def _last_applied(obj: Mapping[str, Any]) -> Any:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, Mapping) else None
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _last_applied_paths(live: Mapping[str, Any], shape: Shape) -> frozenset[Path]:
    """The fields of ``live``'s last client-side apply that still have the values it applied."""
    last = _last_applied(live)
    if not isinstance(last, dict) or last.get("apiVersion") != live.get("apiVersion"):
        return frozenset()
    try:
        paths = set_paths(last, shape)
        drift = compare(last, _without_managed_fields(live), shape)
    except PatchError:
        return frozenset()
    return frozenset(paths - drift.modified - drift.added - drift.removed)


def _sync_last_applied(merged: dict[str, Any], live: Mapping[str, Any], applied: Mapping[str, Any]) -> None:
    """Keep kubectl's client-side apply annotation, where there is one, equal to what kubectl now applies."""
    if _last_applied(live) is None:
        return
    config = _clone(_without_managed_fields(applied))
    config_annotations = (config.get("metadata") or {}).get("annotations")
    if isinstance(config_annotations, dict):
        config_annotations.pop(LAST_APPLIED, None)
    # Go's JSON encoder, as Kubernetes uses it: sorted keys, no spaces, a final newline.
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    merged.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = text


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    kind: tuple[str, str],
    now: str,
    schema: Mapping[str, Any] | None = None,
    subresource: str | None = None,
    status_subresource: bool = False,
) -> dict[str, Any]:
    """Apply ``applied`` (an ``application/apply-patch+yaml`` body) to ``live`` on behalf of ``manager``.

    :param live: the stored object, or ``None`` to create it from the configuration (the caller adds name,
        namespace, uid and the rest as for any create).
    :param kind: ``(group, Kind)`` of the endpoint; the configuration must have the same.
    :param schema: the CRD's ``openAPIV3Schema`` for a custom resource (list types and map types come from its
        ``x-kubernetes-*`` extensions); ``None`` for built-in kinds.
    :param subresource: ``"status"`` when applying to the status subresource (only ``status`` is applied).
    :param status_subresource: the kind has a status subresource, so an apply to the main resource leaves
        ``status`` alone (Kubernetes resets it) and nobody comes to own it that way.
    :returns: the new object with ``metadata.managedFields`` updated. When the apply changes nothing the
    result
        equals ``live`` (compare with ``==``), so the server can skip the write and keep the resourceVersion.
    :raises ApplyConflict: other managers own fields this apply changes and ``force`` is false.
    :raises PatchError: the configuration is malformed (wrong kind, ``managedFields`` set, duplicate list
    keys).
    """
    _check_applied(applied, live, kind)
    shape = shape_for(kind, schema)
    config = _without_managed_fields(applied)
    if subresource == "status":
        config = _only_status(config)
    elif status_subresource:
        config.pop("status", None)
    applied_fields = frozenset(set_paths(config, shape) - _UNOWNED)
    api_version = str(applied["apiVersion"])

    managers = _decode((live or {}).get("metadata", {}).get("managedFields"))
    if live is not None and not managers:
        # An object nobody has recorded fields for (created before tracking): its current fields belong to
        # this placeholder, so the first apply cannot silently take them over.
        placeholder = _Entry(
            BEFORE_FIRST_APPLY,
            UPDATE,
            api_version,
            "",
            None,
            given=frozenset(set_paths(_without_managed_fields(live), shape) - _UNOWNED),
        )
        managers[placeholder.identity] = placeholder

    me = _Entry(manager, APPLY, api_version, subresource or "", now, given=applied_fields)
    previous = managers.get(me.identity)
    managers[me.identity] = me

    before = _without_managed_fields(live)
    merged: dict[str, Any] = merge(_clone(before), config, shape)
    if previous is not None:
        still_owned = _owned_prefixes(managers)
        merge_dropped = [path for path in previous.fields - applied_fields if path not in still_owned]
        remove(merged, merge_dropped, shape, keep=applied_fields)

    changes = compare(before, merged, shape)
    conflicts: list[tuple[str, Path]] = []
    for identity, entry in list(managers.items()):
        if identity == me.identity:
            continue
        if not entry.owns_any(changes.changed | changes.removed):
            continue
        taken = entry.fields & changes.changed
        conflicts.extend((entry.printed(), path) for path in taken)
        managers[identity] = entry.with_fields(entry.fields - taken - changes.removed)
    if conflicts and not force and manager == KUBECTL and live is not None:
        # kubectl switching an object from client-side to server-side apply takes over, without conflicts,
        # the fields its last client-side apply set and that still hold those values.
        handed_over = _last_applied_paths(live, shape)
        conflicts = [(owner, path) for owner, path in conflicts if path not in handed_over]
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    if manager == KUBECTL and live is not None:
        _sync_last_applied(merged, live, applied)

    if (
        previous is not None
        and not (changes.changed or changes.removed)
        and (previous.fields, previous.api_version) == (me.fields, me.api_version)
    ):
        # Nothing moved: keep the entry as it was, time included, so the object compares equal to ``live``.
        managers[me.identity] = previous
    encoded = _encode(managers)
    metadata = merged.setdefault("metadata", {})
    if encoded:
        metadata["managedFields"] = encoded
    return merged


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    operation: str,
    now: str,
    kind: tuple[str, str] | None = None,
    schema: Mapping[str, Any] | None = None,
    subresource: str | None = None,
) -> dict[str, Any]:
    """``new`` with ``metadata.managedFields`` updated for a create, update or patch by ``manager``.

    The writer becomes owner of every field it added or changed (one ``Update`` entry per manager, apiVersion
    and subresource, its time moved only when it took something); fields the write removed leave every entry.
    A write that sets ``managedFields`` itself replaces the recorded ownership first (``[{}]`` clears it),
    which is how kubectl hands client-side-apply fields over to server-side apply.

    :param old: the stored object, ``None`` for a create.
    :param operation: ``Create``, ``Update`` or ``Patch`` (all recorded as ``Update``, as Kubernetes does).
    :param kind: ``(group, Kind)``; read from ``new`` when not given.
    :param schema: the CRD's ``openAPIV3Schema`` for a custom resource, ``None`` for built-in kinds.
    :param subresource: ``"status"`` (or another subresource) for writes through it; those cannot set
        ``managedFields`` themselves.
    :returns: a new dict; ``new`` is not modified. A write that changes nothing returns an object equal to
        ``new`` with ``old``'s ``managedFields``.
    :raises PatchError: ``operation`` is ``Apply`` (use :func:`server_side_apply`) or the ``managedFields``
        the write sets are malformed.
    """
    if operation not in ("Create", "Update", "Patch", UPDATE):
        raise PatchError(f"record_update records Create, Update and Patch, not {operation!r}", code=500)
    shape = shape_for(kind or _kind_of(new), schema)
    old_metadata = (old or {}).get("metadata") or {}
    new_metadata = new.get("metadata") or {}
    requested = new_metadata.get("managedFields")
    if subresource:
        managers = _decode(old_metadata.get("managedFields"))
    elif requested == [{}]:
        managers = {}
    elif requested:
        managers = _decode(requested)
    else:
        managers = _decode(old_metadata.get("managedFields"))

    # Only metadata.managedFields changes: share the rest with ``new`` rather than copy it.
    result: dict[str, Any] = {**new, "metadata": dict(new.get("metadata") or {})}
    before, after = _without_managed_fields(old), _without_managed_fields(result)
    try:
        changes = compare(before, after, shape)
    except PatchError:
        # An object whose lists cannot be keyed (a list-map item without its key) is stored as Kubernetes
        # would store it; its ownership simply is not updated by this write.
        changes = None
    if changes is not None:
        taken = frozenset(changes.changed - _UNOWNED)
        lost = taken | changes.removed
        for identity, entry in list(managers.items()):
            managers[identity] = entry.without(lost)
        api_version = str(new.get("apiVersion", ""))
        me = _Entry(manager, UPDATE, api_version, subresource or "", None, given=frozenset())
        previous = managers.get(me.identity)
        if previous is not None:
            me = previous
        if taken:
            me = me.with_fields(me.fields | taken, time=now)
        managers[me.identity] = me

    encoded = _encode(managers)
    metadata = result.setdefault("metadata", {})
    if encoded:
        metadata["managedFields"] = encoded
    else:
        metadata.pop("managedFields", None)
    return result


def restore_unchanged_timestamps(old: Mapping[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with ``old``'s ``managedFields`` when the two differ in nothing but entry times.

    Kubernetes does this last, after defaulting and admission, so that an apply whose effect the defaults undo
    (an atomic list the server completes, for instance) is still a no-op and keeps the resourceVersion.
    """
    if old is None:
        return new
    old_fields = (old.get("metadata") or {}).get("managedFields") or []
    new_fields = (new.get("metadata") or {}).get("managedFields") or []
    if not json_equal(_without_managed_fields(old), _without_managed_fields(new)):
        return new
    if len(old_fields) != len(new_fields):
        return new
    timeless = [
        ({k: v for k, v in a.items() if k != "time"}, {k: v for k, v in b.items() if k != "time"})
        for a, b in zip(old_fields, new_fields, strict=True)
    ]
    if not all(json_equal(a, b) for a, b in timeless):
        return new
    result = dict(new)
    result["metadata"] = {**new["metadata"], "managedFields": _clone(old_fields)}
    return result


def manager_from_user_agent(user_agent: str | None) -> str:
    """The field manager Kubernetes names a writer that gives none: its user agent up to the first ``/``.

    ``kubectl/v1.37.1 (linux/amd64) kubernetes/abc`` gives ``kubectl``; the official Python client's
    ``OpenAPI-Generator/37.0.2/python`` gives ``OpenAPI-Generator``.
    """
    return (user_agent or "").split("/", 1)[0][:MAX_MANAGER_LENGTH]
