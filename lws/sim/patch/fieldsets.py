"""Field sets: the paths of an object, as ``metadata.managedFields`` records who owns what.

A *path* is a tuple of path elements written exactly as in ``fieldsV1``: ``f:<field>`` for an object field,
``k:{"name":"app"}`` for the item of a list-map (its key fields as compact JSON with sorted keys), ``v:"x"``
for the value of a set, ``i:<n>`` for a list index (only ever read back, never produced here). ``fieldsV1``
itself is a trie of such elements in which a node that is a member of the set while also having children
carries a ``"."`` entry.

The functions follow Kubernetes' structured-merge-diff, each with its own job: the set of paths an object
*sets* (what an applier owns), the paths added, modified and removed between two versions (what an updater
takes and what everybody loses), merging an applied configuration into a live object, and removing paths.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lws.k8s.json_types import json_equal
from lws.sim.patch import PatchError
from lws.sim.patch.fieldtypes import Rule, Shape

__all__ = [
    "Comparison",
    "Path",
    "compare",
    "describe",
    "fields_v1",
    "merge",
    "paths_of_fields_v1",
    "remove",
    "set_paths",
]

Path = tuple[str, ...]

_MEMBER = "."

TRACKED_DEPTH = 64
"""Below this many path elements a value is owned as one field, whatever it holds.

Kubernetes tracks every leaf however deep; here a path is a tuple, so tracking the leaves of an object nested
thousands of levels deep (which the API accepts, up to 10,000) would cost time quadratic in its depth. No
real object's fields come near this depth, so only such pathological objects record coarser ownership.
"""


class _Missing:
    """Marks a field that is absent (as opposed to present with a ``null`` value)."""


_MISSING = _Missing()


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def describe(path: Iterable[str]) -> str:
    """A path as Kubernetes prints it in conflicts: ``.spec.template.spec.containers[name="app"].image``."""
    parts: list[str] = []
    for element in path:
        tag, _, body = element.partition(":")
        if tag == "f":
            parts.append("." + body)
        elif tag == "k":
            try:
                key = json.loads(body)
            except ValueError:
                parts.append(f"[{body}]")
                continue
            parts.append("[" + ",".join(f"{name}={_compact(value)}" for name, value in key.items()) + "]")
        elif tag == "v":
            parts.append(f"[={body}]")
        else:
            parts.append(f"[{body}]")
    return "".join(parts)


def item_element(rule: Rule, item: Any, where: Path) -> str:
    """The path element naming ``item`` of a set (``v:``) or list-map (``k:``) at ``where``.

    :raises PatchError: a set holding an object or list, or a list-map item without one of its key fields.
    """
    if rule.kind == "set":
        if isinstance(item, dict | list):
            raise PatchError(
                f"{describe(where) or '.'}: a set (x-kubernetes-list-type: set) may only hold scalars"
            )
        return "v:" + _compact(item)
    if not isinstance(item, dict):
        raise PatchError(
            f"{describe(where) or '.'}: the items of an associative list must be objects, got {item!r}"
        )
    key: dict[str, Any] = {}
    for name in rule.keys:
        value = item.get(name)
        if value is not None:
            key[name] = value
        elif name in rule.key_defaults:
            key[name] = rule.key_defaults[name]
        else:
            raise PatchError(
                f"{describe(where) or '.'}: associative list with keys has an element that omits key field "
                f'"{name}" (and doesn\'t have default value)'
            )
    return "k:" + _compact(key)


def _keyed_items(rule: Rule, items: list[Any], where: Path) -> Iterator[tuple[str, Any]]:
    for item in items:
        yield item_element(rule, item, where), item


def set_paths(value: Any, shape: Shape, path: Path = ()) -> set[Path]:
    """The paths ``value`` sets: what a server-side applier owns after applying it.

    Leaves, atomic lists and objects, every item of a set or list-map, and empty or ``null`` fields are
    members; an object field with content is represented by its children only, except entries of free-form
    maps.
    """
    out: set[Path] = set()
    _collect(value, shape, path, out)
    return out


def _collect(value: Any, shape: Shape, path: Path, out: set[Path]) -> None:
    if len(path) >= TRACKED_DEPTH:
        out.add(path)
        return
    if isinstance(value, dict):
        if shape.atomic_map:
            out.add(path)
            return
        for key, child in value.items():
            child_path = (*path, "f:" + key)
            _collect(child, shape.child(key), child_path, out)
            if child is None or (isinstance(child, dict) and not child) or not shape.declares(key):
                out.add(child_path)
        return
    if isinstance(value, list):
        rule = shape.list_rule
        if rule.kind == "atomic":
            out.add(path)
            return
        item_shape = shape.item()
        for element, item in _keyed_items(rule, value, path):
            item_path = (*path, element)
            _collect(item, item_shape, item_path, out)
            out.add(item_path)
        return
    out.add(path)


def _subtree(value: Any, shape: Shape, path: Path) -> set[Path]:
    """``path`` and every path below it, intermediate nodes included (what appears or disappears with it)."""
    out = {path}
    if len(path) >= TRACKED_DEPTH:
        return out
    if isinstance(value, dict) and not shape.atomic_map:
        for key, child in value.items():
            out |= _subtree(child, shape.child(key), (*path, "f:" + key))
    elif isinstance(value, list) and shape.list_rule.kind != "atomic":
        item_shape = shape.item()
        for element, item in _keyed_items(shape.list_rule, value, path):
            out |= _subtree(item, item_shape, (*path, element))
    return out


@dataclass
class Comparison:
    """What changed between two versions of an object, path by path."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    @property
    def changed(self) -> set[Path]:
        """Paths whose value is new or different: what an updater takes ownership of."""
        return self.added | self.modified


def compare(old: Any, new: Any, shape: Shape) -> Comparison:
    """The paths added, modified and removed from ``old`` to ``new`` (two whole objects)."""
    result = Comparison()
    _compare(old, new, shape, (), result)
    return result


def _compare(old: Any, new: Any, shape: Shape, path: Path, result: Comparison) -> None:
    if old is new or (type(old) is type(new) and isinstance(old, dict | list) and old == new):
        # Equal subtrees hold nothing to report; ``==`` runs at C speed where walking them would not. (It
        # takes ``true`` for ``1`` deep inside, which no typed field ever changes between.)
        return
    if old is _MISSING:
        result.added |= _subtree(new, shape, path)
        return
    if new is _MISSING:
        result.removed |= _subtree(old, shape, path)
        return
    if len(path) >= TRACKED_DEPTH:
        if not json_equal(old, new):
            result.modified.add(path)
        return
    if isinstance(old, dict) and isinstance(new, dict) and not shape.atomic_map and (old or new):
        for key in {**old, **new}:
            _compare(
                old.get(key, _MISSING), new.get(key, _MISSING), shape.child(key), (*path, "f:" + key), result
            )
        return
    rule = shape.list_rule
    if isinstance(old, list) and isinstance(new, list) and rule.kind != "atomic" and (old or new):
        old_items = dict(reversed(list(_keyed_items(rule, old, path))))
        new_items = dict(reversed(list(_keyed_items(rule, new, path))))
        item_shape = shape.item()
        for element in {**old_items, **new_items}:
            _compare(
                old_items.get(element, _MISSING),
                new_items.get(element, _MISSING),
                item_shape,
                (*path, element),
                result,
            )
        return
    if not json_equal(old, new):
        result.modified.add(path)


def merge(live: Any, config: Any, shape: Shape, path: Path = ()) -> Any:
    """``config`` merged into ``live`` as server-side apply does; ``live`` may be reused in the result.

    Granular objects merge field by field (a ``null`` in ``config`` removes the field), sets and list-maps
    merge item by item keeping ``config``'s order for the items it names, atomic values are replaced.

    :raises PatchError: ``config`` names the same list-map key or set value twice, or an item lacks a key
    field.
    """
    if isinstance(live, dict) and isinstance(config, dict) and not shape.atomic_map:
        for key, value in config.items():
            if value is None:
                live.pop(key, None)
            elif key in live:
                live[key] = merge(live[key], value, shape.child(key), (*path, "f:" + key))
            else:
                live[key] = _without_nulls(value)
        return live
    rule = shape.list_rule
    if isinstance(live, list) and isinstance(config, list) and rule.kind != "atomic":
        return _merge_list(live, config, rule, shape.item(), path)
    return _without_nulls(config)


def _without_nulls(value: Any) -> Any:
    """A copy of ``value`` in which object fields set to ``null`` are left out, as decoding drops them."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _merge_list(live: list[Any], config: list[Any], rule: Rule, item_shape: Shape, path: Path) -> list[Any]:
    configured: dict[str, Any] = {}
    for element, item in _keyed_items(rule, config, path):
        if element in configured:
            raise PatchError(f"{describe((*path, element))}: duplicate entries in the applied configuration")
        configured[element] = item
    live_keyed = list(_keyed_items(rule, live, path))
    live_items: dict[str, Any] = {}
    for element, item in live_keyed:
        live_items.setdefault(element, item)
    applied = list(configured.items())
    # Structured-merge-diff's order: the configuration's order for the items it names, and each item only
    # the live list has is placed as early as that allows, ahead of the configured items it preceded.
    shared = [element for element in configured if element in live_items]
    next_shared = 0
    emitted: set[str] = set()
    out: list[Any] = []

    def take(element: str, item: Any) -> None:
        nonlocal next_shared
        if element in live_items:
            out.append(merge(live_items[element], item, item_shape, (*path, element)))
        else:
            out.append(_without_nulls(item))
        emitted.add(element)
        if next_shared < len(shared) and shared[next_shared] == element:
            next_shared += 1

    at_live = at_applied = 0
    while at_live < len(live_keyed) or at_applied < len(applied):
        if at_live < len(live_keyed):
            element, item = live_keyed[at_live]
            waiting_for = shared[next_shared] if next_shared < len(shared) else None
            if at_applied < len(applied) and element == applied[at_applied][0]:
                take(*applied[at_applied])
                at_live += 1
                at_applied += 1
                continue
            if element not in configured:
                out.append(item)
                at_live += 1
                continue
            if element in emitted or (element != waiting_for and at_applied < len(applied)):
                at_live += 1
                continue
        take(*applied[at_applied])
        at_applied += 1
    return out


def remove(value: Any, paths: Iterable[Path], shape: Shape, *, keep: Collection[Path] = ()) -> None:
    """Remove ``paths`` (and everything below each) from ``value`` in place.

    Objects and lists emptied by the removal are removed too, as Kubernetes drops the empty remains of fields
    an applier stopped setting, unless their own path is in ``keep`` (someone set them, empty or not).
    """
    trie: dict[str, Any] = {}
    for path in paths:
        node = trie
        for element in path:
            node = node.setdefault(element, {})
        node[_MEMBER] = {}
    _remove(value, trie, shape, (), keep)


def _remove(value: Any, trie: Mapping[str, Any], shape: Shape, path: Path, keep: Collection[Path]) -> None:
    if isinstance(value, dict) and not shape.atomic_map:
        for key in list(value):
            node = trie.get("f:" + key)
            if node is None:
                continue
            child = value[key]
            if _MEMBER in node:
                del value[key]
                continue
            child_path = (*path, "f:" + key)
            had_content = isinstance(child, dict | list) and bool(child)
            _remove(child, node, shape.child(key), child_path, keep)
            if had_content and not child and child_path not in keep:
                del value[key]
    elif isinstance(value, list) and shape.list_rule.kind != "atomic":
        item_shape = shape.item()
        kept: list[Any] = []
        for element, item in _keyed_items(shape.list_rule, value, path):
            node = trie.get(element)
            if node is None:
                kept.append(item)
            elif _MEMBER not in node:
                _remove(item, node, item_shape, (*path, element), keep)
                kept.append(item)
        value[:] = kept


def fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The ``fieldsV1`` trie of a set of paths (members with children carry ``"."``; keys sorted)."""
    trie: dict[str, Any] = {}
    for path in paths:
        if not path:
            continue
        node = trie
        for element in path:
            node = node.setdefault(element, {})
        node[_MEMBER] = {}
    return _normalise(trie)


def _normalise(node: Mapping[str, Any]) -> dict[str, Any]:
    children = sorted(key for key in node if key != _MEMBER)
    out: dict[str, Any] = {}
    if _MEMBER in node and children:
        out[_MEMBER] = {}
    for key in children:
        out[key] = _normalise(node[key])
    return out


def paths_of_fields_v1(trie: Mapping[str, Any]) -> set[Path]:
    """The set of paths a ``fieldsV1`` trie records.

    :raises PatchError: the trie is not a JSON object of JSON objects.
    """
    out: set[Path] = set()
    _walk_fields_v1(trie, (), out)
    return out


def _walk_fields_v1(node: Any, path: Path, out: set[Path]) -> None:
    if not isinstance(node, Mapping):
        raise PatchError(f"metadata.managedFields: fieldsV1 must be a JSON object at {describe(path) or '.'}")
    children = [key for key in node if key != _MEMBER]
    if path and (not children or _MEMBER in node):
        out.add(path)
    for key in children:
        _walk_fields_v1(node[key], (*path, key), out)
