"""RFC 6902 JSON Patch (``application/json-patch+json``), applied by the well-kept ``jsonpatch`` library.

All six operations (``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``), ``~0``/``~1`` escapes
and the ``-`` end-of-array index behave as the RFC says. This wrapper adds what the API server needs: the
input is never modified, and every failure becomes a :class:`~lws.sim.patch.PatchError` whose ``code`` is
what Kubernetes answers — 400 for a patch that is not a valid list of operations, 422 for one that does not
apply (a failed ``test``, a missing path, an index out of range). kopf's patches ``test``
``/metadata/resourceVersion``, so a stale one must fail here exactly as on a real cluster.
"""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
import jsonpointer

from lws.k8s.patch import json_clone
from lws.sim.patch import PatchError

__all__ = ["apply_json_patch"]


def _describe(op: Any) -> str:
    if isinstance(op, dict):
        return f"{op.get('op')!s} {op.get('path')!s}"
    return json.dumps(op, default=str)


def apply_json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply a JSON patch to a copy of ``doc`` and return the result.

    :param doc: the current object (any JSON value); it is left untouched.
    :param ops: the decoded patch, a list of operation objects.
    :raises PatchError: ``code`` 400 if ``ops`` is malformed (not a list, unknown ``op``, missing ``path`` or
        ``value``), 422 if an operation does not apply; the message names the failing operation.
    """
    if not isinstance(ops, list):
        raise PatchError(f"a JSON patch must be a list of operations, got {type(ops).__name__}", code=400)
    try:
        patch = jsonpatch.JsonPatch(ops)
    except (jsonpatch.InvalidJsonPatch, jsonpointer.JsonPointerException, TypeError, AttributeError) as err:
        raise PatchError(f"invalid JSON patch: {err}", code=400) from None
    del patch  # built only to validate every operation before any is applied
    current = json_clone(doc)
    # Applied one operation at a time so that the error can say which one failed.
    for index, op in enumerate(ops):
        try:
            current = jsonpatch.JsonPatch([op]).apply(current, in_place=True)
        except jsonpatch.InvalidJsonPatch as err:
            raise PatchError(
                f"invalid JSON patch operation {index} ({_describe(op)}): {err}", code=400
            ) from None
        except jsonpatch.JsonPatchTestFailed as err:
            raise PatchError(f"JSON patch operation {index} ({_describe(op)}): test failed: {err}") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError) as err:
            raise PatchError(
                f"JSON patch operation {index} ({_describe(op)}) does not apply: {err}"
            ) from None
    return current
