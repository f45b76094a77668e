"""RFC 7386 JSON Merge Patch (``application/merge-patch+json``).

Written here rather than taken from ``json-merge-patch`` on PyPI: that package merges into its input in place
and shares list objects between patch and result, and the whole algorithm is the dozen lines below.
"""

from __future__ import annotations

from typing import Any

from lws.k8s.patch import json_clone
from lws.sim.patch import PatchError

__all__ = ["apply_merge_patch"]


def apply_merge_patch(doc: Any, patch: Any) -> Any:
    """Return ``doc`` merged with ``patch`` per RFC 7386; neither argument is modified.

    An object patch merges key by key, ``null`` removes a key, anything else (lists included) replaces the
    target wholesale; a non-object patch replaces the whole document.

    :raises PatchError: (400) if the patch contains a key or value that is not JSON (e.g. a set or bytes).
    """
    _check_json(patch, "")
    return _merge(json_clone(doc), patch)


def _merge(target: Any, patch: Any) -> Any:
    # ``target`` is already a private copy and may be changed in place; ``patch`` is only read.
    if not isinstance(patch, dict):
        return json_clone(patch)
    result: dict[str, Any] = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _check_json(value: Any, where: str) -> None:
    if value is None or isinstance(value, str | int | float | bool):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PatchError(f"merge patch key {key!r} at {where or '.'} is not a string", code=400)
            _check_json(item, f"{where}.{key}")
        return
    raise PatchError(f"merge patch value at {where or '.'} is not JSON: {type(value).__name__}", code=400)
