"""Strategic merge patch (``application/strategic-merge-patch+json``) as the API server applies it.

Like a merge patch, except that some lists merge instead of being replaced: a list with patch strategy
``merge`` and a ``patchMergeKey`` (``containers`` by ``name``) merges element by element on that key, and a
merge list of scalars (``finalizers``) is a union. Which lists do so is in the Go struct tags of the
built-in types; :data:`STRATEGIES` holds the subset this project and kubectl touch, as data. The rest follows
the algorithm of apimachinery's ``strategicpatch`` package with the server's options (``null`` removes a
key, parallel deletion lists are honoured):

* ``{"$patch": "replace"}`` in a map replaces the map; in a merge list, the list (its other elements stay);
* ``{"$patch": "delete"}`` in a map empties it; as a merge-list element, removes the element with that key;
* ``$patch: merge`` is rejected, as by Kubernetes (``merging lists cannot yet be specified in the patch``);
* ``$retainKeys: [..]`` drops the keys of the live map that are not listed (``Deployment.spec.strategy``);
* ``$deleteFromPrimitiveList/<field>: [..]`` removes scalars from a merge list of scalars;
* ``$setElementOrder/<field>: [..]`` fixes the order of a merge list (kubectl sends it with two-way patches);
  without it, patch elements keep the patch's order and are placed before live-only elements that do not
  precede them in the live list, exactly like upstream (a new finalizer lands first).

Kubernetes refuses strategic merge patches on custom resources (its ``415``);
:func:`supports_strategic` tells the server which kinds accept them, and :func:`apply_strategic_merge_patch`
raises :class:`~lws.sim.patch.PatchError` with ``code`` 415 for the others. Errors use apimachinery's
messages and status codes (400 for a malformed directive, 422 for a list of lists, 500 where upstream gives
an internal error).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from lws.sim.patch import PatchError

__all__ = [
    "STRATEGIES",
    "FieldStrategy",
    "apply_strategic_merge_patch",
    "strategic_merge",
    "supports_strategic",
]

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST: Final = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER: Final = "$setElementOrder"


@dataclass(frozen=True)
class FieldStrategy:
    """The ``patchStrategy`` of one field, and its ``patchMergeKey`` when it is a merge list of maps.

    ``strategy`` is ``"merge"`` or ``"replace"``; ``retain_keys`` records ``retainKeys`` (informational: the
    ``$retainKeys`` directive is honoured wherever it appears, as upstream does when applying).
    """

    strategy: str = "merge"
    merge_key: str = ""
    retain_keys: bool = False


_MERGE = FieldStrategy()


def _by(key: str, *, retain_keys: bool = False) -> FieldStrategy:
    return FieldStrategy("merge", key, retain_keys)


def _under(prefix: str, table: Mapping[str, FieldStrategy]) -> dict[str, FieldStrategy]:
    return {f"{prefix}.{path}": strategy for path, strategy in table.items()}


# Paths are dotted field names from the object root; list elements add no segment, so
# "spec.containers.env" is the env list of any container. Taken from the struct tags in k8s.io/api and
# k8s.io/apimachinery. Lists absent here are atomic and replaced by a patch -- notably tolerations, envFrom,
# Node taints, StatefulSet volumeClaimTemplates and containerStatuses, which carry no patch strategy upstream.
_OBJECT_META: Final = {"ownerReferences": _by("uid"), "finalizers": _MERGE}

_CONTAINER: Final = {
    "ports": _by("containerPort"),
    "env": _by("name"),
    "volumeMounts": _by("mountPath"),
    "volumeDevices": _by("devicePath"),
}

_POD_SPEC: Final = {
    "volumes": _by("name", retain_keys=True),
    "containers": _by("name"),
    "initContainers": _by("name"),
    "ephemeralContainers": _by("name"),
    **_under("containers", _CONTAINER),
    **_under("initContainers", _CONTAINER),
    **_under("ephemeralContainers", _CONTAINER),
    "imagePullSecrets": _by("name"),
    "hostAliases": _by("ip"),
    "topologySpreadConstraints": _by("topologyKey"),
    "schedulingGates": _by("name"),
    "resourceClaims": _by("name", retain_keys=True),
}

_POD_STATUS: Final = {
    "conditions": _by("type"),
    "podIPs": _by("ip"),
    "hostIPs": _by("ip"),
    "resourceClaimStatuses": _by("name", retain_keys=True),
}

_POD_TEMPLATE: Final = {**_under("metadata", _OBJECT_META), **_under("spec", _POD_SPEC)}
_CONDITIONS: Final = {"status.conditions": _by("type")}


def _workload(template_path: str, **extra: FieldStrategy) -> dict[str, FieldStrategy]:
    return {**_under(template_path, _POD_TEMPLATE), **_CONDITIONS, **extra}


_WEBHOOKS: Final = {"webhooks": _by("name"), "webhooks.matchConditions": _by("name")}

STRATEGIES: Final[dict[tuple[str, str], dict[str, FieldStrategy]]] = {
    ("", "Pod"): {**_under("spec", _POD_SPEC), **_under("status", _POD_STATUS)},
    ("", "PodTemplate"): _under("template", _POD_TEMPLATE),
    ("", "ReplicationController"): _workload("spec.template"),
    ("", "Service"): {"spec.ports": _by("port"), **_CONDITIONS},
    ("", "Node"): {
        "spec.podCIDRs": _MERGE,
        "status.conditions": _by("type"),
        "status.addresses": _by("type"),
    },
    ("", "Namespace"): dict(_CONDITIONS),
    ("", "PersistentVolumeClaim"): dict(_CONDITIONS),
    ("", "ServiceAccount"): {"secrets": _by("name")},
    ("apps", "StatefulSet"): _workload("spec.template"),
    ("apps", "Deployment"): _workload(
        "spec.template", **{"spec.strategy": FieldStrategy("", retain_keys=True)}
    ),
    ("apps", "DaemonSet"): _workload("spec.template"),
    ("apps", "ReplicaSet"): _workload("spec.template"),
    ("batch", "Job"): _workload("spec.template"),
    ("batch", "CronJob"): {
        **_under("spec.jobTemplate.metadata", _OBJECT_META),
        **_under("spec.jobTemplate.spec.template", _POD_TEMPLATE),
    },
    ("policy", "PodDisruptionBudget"): {"spec.selector": FieldStrategy("replace"), **_CONDITIONS},
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _WEBHOOKS,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _WEBHOOKS,
}
"""Per built-in kind, the list and map fields whose patch strategy is not the default.

Every kind also gets ``metadata.ownerReferences`` (by ``uid``) and ``metadata.finalizers`` (scalar union).
"""

# Groups served by Kubernetes itself: strategic merge patch works on their kinds, never on custom resources.
_BUILTIN_GROUPS: Final = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)

_UNSUPPORTED_MESSAGE: Final = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)

Lookup = Callable[[str], FieldStrategy | None]


def supports_strategic(kind: tuple[str, str]) -> bool:
    """Whether Kubernetes accepts a strategic merge patch for ``(group, Kind)``: built-in kinds only."""
    return kind[0] in _BUILTIN_GROUPS


def _table_lookup(kind: tuple[str, str]) -> Lookup:
    table = {**_under("metadata", _OBJECT_META), **STRATEGIES.get(kind, {})}
    return table.get


def apply_strategic_merge_patch(
    doc: dict[str, Any], patch: dict[str, Any], kind: tuple[str, str]
) -> dict[str, Any]:
    """Apply a strategic merge patch to a copy of ``doc`` for a built-in ``(group, Kind)``.

    :raises PatchError: ``code`` 415 for a kind that is not built in (custom resources), 400 for a patch that
        is not an object or has a malformed directive, 422/500 as Kubernetes for patches that cannot apply.
    """
    if not supports_strategic(kind):
        raise PatchError(_UNSUPPORTED_MESSAGE, code=415)
    if not isinstance(patch, dict):
        raise PatchError("invalid JSON document", code=400)
    return strategic_merge(doc, patch, _table_lookup(kind))


def strategic_merge(
    doc: Mapping[str, Any] | None, patch: Mapping[str, Any], lookup: Lookup
) -> dict[str, Any]:
    """Apply ``patch`` to a copy of ``doc`` with field strategies from ``lookup(dotted_path)``.

    The building block of :func:`apply_strategic_merge_patch`, exposed for server-side apply and for tests
    that need a schema of their own. Neither argument is modified.
    """
    merged = _Merger(lookup).merge_map(copy.deepcopy(dict(doc or {})), copy.deepcopy(dict(patch)), "")
    return merged


# ---------------------------------------------------------------------------------------------------------


def _render(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _kind_of(value: Any) -> str:
    # JSON types as Go's decoder sees them; bool is not a number.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return "null"


def _same(a: Any, b: Any) -> bool:
    return _kind_of(a) == _kind_of(b) and a == b


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _extract_key(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        if prefix == _DELETE_FROM_PRIMITIVE_LIST:
            raise PatchError("invalid patch format of primitive list", code=400)
        raise PatchError("invalid patch format of setElementOrder list", code=400)
    return rest


def _remove_directives(value: Any) -> tuple[Any, bool]:
    """Strip directive maps from a value being added wholesale; ``False`` means drop the value itself."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        out: dict[str, Any] = {}
        for k, v in value.items():
            cleaned, keep = _remove_directives(v)
            if keep:
                out[k] = cleaned
        return out, True
    if isinstance(value, list):
        kept = [_remove_directives(v) for v in value]
        return [v for v, keep in kept if keep], True
    return value, True


def _discard_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _discard_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_discard_nulls(v) for v in value]
    return value


def _element_kind(*lists: list[Any]) -> str:
    kind = ""
    for items in lists:
        for item in items:
            current = _kind_of(item)
            if current == "list":
                raise PatchError("lists of lists are not supported", code=422)
            if kind and current != kind:
                raise PatchError(f"list element types are not identical: {_render(list(lists))}", code=500)
            kind = current
    if not kind:
        raise PatchError("no elements in any of the given slices", code=500)
    return kind


def _key_of(item: Any, merge_key: str) -> Any:
    if not isinstance(item, dict):
        raise PatchError(f"expected a map, but received a {_kind_of(item)}: {_render(item)}", code=500)
    if merge_key not in item:
        raise PatchError(f"map: {_render(item)} does not contain declared merge key: {merge_key}", code=500)
    return item[merge_key]


def _index(items: list[Any], value: Any, merge_key: str, is_map: bool) -> int:
    wanted = value.get(merge_key) if is_map and isinstance(value, dict) else value
    for i, item in enumerate(items):
        candidate = item.get(merge_key) if is_map and isinstance(item, dict) else item
        if _same(candidate, wanted):
            return i
    return -1


def _find_by_key(items: list[Any], merge_key: str, value: Any) -> int:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {i} is not a map", code=500)
        if merge_key in item and _same(item[merge_key], value):
            return i
    return -1


def _partition(merged: list[Any], by: list[Any], merge_key: str, is_map: bool) -> tuple[list[Any], list[Any]]:
    """Split ``merged`` into items present in ``by`` and the others, keeping order."""
    inside: list[Any] = []
    outside: list[Any] = []
    for item in merged:
        if is_map:
            present = _find_by_key(by, merge_key, _key_of(item, merge_key)) >= 0
        else:
            present = any(_same(item, other) for other in by)
        (inside if present else outside).append(item)
    return inside, outside


def _sort_by(items: list[Any], order: list[Any], merge_key: str, is_map: bool) -> list[Any]:
    # Items missing from ``order`` keep their relative position after the ordered ones.
    def position(item: Any) -> int:
        found = _index(order, item, merge_key, is_map)
        return found if found >= 0 else len(order)

    return sorted(items, key=position)


def _merge_sorted(
    server_only: list[Any], patch_items: list[Any], server_order: list[Any], merge_key: str, is_map: bool
) -> list[Any]:
    """Interleave live-only items into the patch items, as upstream's ``mergeSortedSlice`` does."""
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if j >= len(patch_items):
            result.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            result.append(patch_items[j])
            j += 1
        else:
            left = _index(server_order, server_only[i], merge_key, is_map)
            right = _index(server_order, patch_items[j], merge_key, is_map)
            if left >= 0 and right >= 0 and left < right:
                result.append(server_only[i])
                i += 1
            else:
                result.append(patch_items[j])
                j += 1
    return result


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    *,
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
    is_map: bool,
) -> list[Any]:
    if is_map:
        for item in [*patch_items, *server_only, *patch_order, *server_order]:
            _key_of(item, merge_key)
    patch_sorted = _sort_by(patch_items, patch_order, merge_key, is_map)
    server_sorted = _sort_by(server_only, server_order, merge_key, is_map)
    return _merge_sorted(server_sorted, patch_sorted, server_order, merge_key, is_map)


class _Merger:
    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup

    def strategy(self, path: str) -> FieldStrategy:
        return self.lookup(path) or FieldStrategy("")

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any], path: str) -> dict[str, Any]:
        # ``original`` and ``patch`` are private copies: both may be changed in place.
        if _DIRECTIVE in patch:
            directive = patch.pop(_DIRECTIVE)
            if directive == "replace":
                cleaned, _ = _remove_directives(_discard_nulls(patch))
                return dict(cleaned)
            if directive == "delete":
                return {}
            raise PatchError(f"unknown patch type: {directive} in map: {_render(patch)}", code=500)
        self.retain_keys(original, patch)
        self.set_element_orders(original, patch, path)
        for raw_key, patch_value in patch.items():
            key, is_delete_list = raw_key, False
            if raw_key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
                key, is_delete_list = _extract_key(raw_key, _DELETE_FROM_PRIMITIVE_LIST), True
            if patch_value is None:
                original.pop(key, None)
                continue
            if key not in original or _kind_of(original[key]) != _kind_of(patch_value):
                if not is_delete_list:
                    cleaned, keep = _remove_directives(_discard_nulls(patch_value))
                    if keep:
                        original[key] = cleaned
                    else:
                        original.pop(key, None)
                continue
            field_path = _join(path, key)
            current = original[key]
            if isinstance(current, dict):
                if self.strategy(field_path).strategy == "replace":
                    original[key] = _remove_directives(patch_value)[0]
                else:
                    original[key] = self.merge_map(current, patch_value, field_path)
            elif isinstance(current, list):
                original[key] = self.merge_list_field(current, patch_value, field_path, is_delete_list)[0]
            else:
                cleaned, keep = _remove_directives(patch_value)
                if keep:
                    original[key] = cleaned
                else:
                    original.pop(key, None)
        return original

    def retain_keys(self, original: dict[str, Any], patch: dict[str, Any]) -> None:
        if _RETAIN_KEYS not in patch:
            return
        retained = patch.pop(_RETAIN_KEYS)
        if not isinstance(retained, list):
            raise PatchError("invalid patch format of retainKeys", code=400)
        for key, value in patch.items():
            if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
                continue
            if key not in retained:
                raise PatchError("invalid patch format of retainKeys", code=400)
        for key in [k for k in original if k not in retained]:
            del original[key]

    def merge_list_field(
        self, original: list[Any], patch: list[Any], path: str, is_delete_list: bool
    ) -> tuple[list[Any], list[Any]]:
        """Merge or replace a list field; also returns the live list as upstream sees it afterwards.

        Upstream deletes and appends merge-list elements in place, so the live list that a later
        ``$setElementOrder`` compares against is the post-delete list with new elements appended, cut to the
        original length. Reproducing that keeps element order identical to a real API server.
        """
        strategy = self.strategy(path)
        if strategy.strategy == "merge" or is_delete_list:
            return self.merge_list(original, patch, path, strategy.merge_key, is_delete_list)
        return list(_remove_directives(patch)[0]), original

    def merge_list(
        self, original: list[Any], patch: list[Any], path: str, merge_key: str, is_delete_list: bool
    ) -> tuple[list[Any], list[Any]]:
        if not original and not patch:
            return original, original
        is_map = _element_kind(original, patch) == "map"
        if not is_map:
            if is_delete_list:
                kept = [item for item in original if not any(_same(item, gone) for gone in patch)]
                return kept, original
            merged: list[Any] = []
            for item in [*original, *patch]:
                if not any(_same(item, seen) for seen in merged):
                    merged.append(item)
            server_order, view = original, original
        else:
            if not merge_key:
                raise PatchError(f"cannot merge lists without merge key for {path}", code=500)
            length = len(original)
            original, patch, replaced = self.apply_list_directives(original, patch, merge_key)
            server_order = list(original)
            merged = self.merge_maps_by_key(original, patch, merge_key, path)
            view = server_order if replaced else merged[:length]
        patch_items, server_only = _partition(merged, patch, merge_key, is_map)
        result = _normalize_order(
            patch_items,
            server_only,
            patch_order=patch,
            server_order=server_order,
            merge_key=merge_key,
            is_map=is_map,
        )
        return result, view

    def apply_list_directives(
        self, original: list[Any], patch: list[Any], merge_key: str
    ) -> tuple[list[Any], list[Any], bool]:
        """Handle ``$patch`` elements of a merge list: the live list, the plain patch, whether replaced."""
        plain: list[Any] = []
        replace = False
        for item in patch:
            if not isinstance(item, dict):
                raise PatchError(f"expected a map, but received a {_kind_of(item)}", code=500)
            if _DIRECTIVE not in item:
                plain.append(item)
                continue
            directive = item[_DIRECTIVE]
            if directive == "delete":
                doomed = _key_of(item, merge_key)
                original = [
                    o for o in original if not (isinstance(o, dict) and _same(o.get(merge_key), doomed))
                ]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise PatchError("merging lists cannot yet be specified in the patch", code=500)
            else:
                raise PatchError(f"unknown patch type: {directive} in map: {_render(item)}", code=500)
        if replace:
            return [_remove_directives(_discard_nulls(i))[0] for i in plain], [], True
        return original, plain, False

    def merge_maps_by_key(
        self, original: list[Any], patch: list[Any], merge_key: str, path: str
    ) -> list[Any]:
        merged = list(original)
        for item in patch:
            found = _find_by_key(merged, merge_key, _key_of(item, merge_key))
            if found >= 0:
                merged[found] = self.merge_map(merged[found], item, path)
            else:
                merged.append(_remove_directives(_discard_nulls(item))[0])
        return merged

    def set_element_orders(self, original: dict[str, Any], patch: dict[str, Any], path: str) -> None:
        """Apply every ``$setElementOrder/<field>`` of ``patch`` together with ``<field>`` itself."""
        for raw_key in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
            order = patch.pop(raw_key)
            if not isinstance(order, list):
                raise PatchError(f"expected a list, but received a {_kind_of(order)}", code=500)
            key = _extract_key(raw_key, _SET_ELEMENT_ORDER)
            field_path = _join(path, key)
            strategy = self.strategy(field_path)
            live, patched = original.get(key), patch.get(key)
            if key in original and not isinstance(live, list):
                raise PatchError(f"expected a list, but received a {_kind_of(live)}", code=500)
            if key in patch and not isinstance(patched, list):
                raise PatchError(f"expected a list, but received a {_kind_of(patched)}", code=500)
            live_list: list[Any] = live if isinstance(live, list) else []
            patch_list: list[Any] = patched if isinstance(patched, list) else []
            self.check_order(patch_list, order, strategy.merge_key)
            server_view = live_list
            if key in original and key in patch:
                merged, server_view = self.merge_list_field(live_list, patch_list, field_path, False)
            elif key in original:
                merged = live_list
            elif key in patch:
                merged = list(_remove_directives(patch_list)[0])
            else:
                continue
            is_map = _element_kind(live_list, patch_list) == "map"
            inside, outside = _partition(merged, order, strategy.merge_key, is_map)
            original[key] = _normalize_order(
                inside,
                outside,
                patch_order=order,
                server_order=server_view,
                merge_key=strategy.merge_key,
                is_map=is_map,
            )
            patch.pop(key, None)

    @staticmethod
    def check_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
        """Upstream's check that the patch list is a subsequence of the ``$setElementOrder`` list."""
        if not patch_list or not order:
            return
        items = [
            i for i in patch_list if not (merge_key and isinstance(i, dict) and i.get(_DIRECTIVE) == "delete")
        ]
        p = s = 0
        while p < len(items) and s < len(order):
            if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
                p += 1
                continue
            if merge_key:
                equal = _same(_key_of(items[p], merge_key), _key_of(order[s], merge_key))
            else:
                equal = _same(items[p], order[s])
            if equal:
                p += 1
            s += 1
        if p < len(items):
            raise PatchError(
                f"The order in patch list: {_render(patch_list)} doesn't match "
                f"{_SET_ELEMENT_ORDER} list: {_render(order)}",
                code=500,
            )
