"""``fieldValidation``: what the server does with fields a kind's schema does not know.

kubectl sends ``fieldValidation=Strict`` with every write (its default ``--validate=strict``), because the
OpenAPI documents (:mod:`lws.sim.openapi`) say the server supports it; without a parameter Kubernetes behaves
as ``Warn``. For custom resources:

* ``Strict``: the request fails with 400 ``BadRequest``, worded as Kubernetes words it: ``Widget in version
  "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.colour"``;
* ``Warn``: the fields are dropped (pruned, as always) and each becomes a ``Warning`` header,
  ``unknown field "spec.colour"``, which kubectl prints;
* ``Ignore``: the fields are dropped silently.

The same holds for built-in kinds, whose fields come from k8s.io/api (:mod:`lws.sim.builtin_fields`): their
unknown fields are reported the same way and always dropped, as a typed decoder drops them.

The fields checked are those of the request body: the object for a create or an update, the patch for a merge,
strategic merge or apply patch (partial objects). JSON patches are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.sim import builtin_fields, errors
from lws.sim.resources import ResourceType
from lws.sim.schema import StructuralSchema

__all__ = ["DIRECTIVES", "check_fields", "decode_fields"]

DIRECTIVES = ("Ignore", "Warn", "Strict")
_CHECKED_PATCHES = ("application/merge-patch+json", "application/apply-patch+yaml")
_CHECKED_BUILTIN_PATCHES = (*_CHECKED_PATCHES, "application/strategic-merge-patch+json")


def check_fields(
    directive: str | None, resource: ResourceType, body: Any, *, patch_type: str | None = None
) -> list[str]:
    """Apply ``fieldValidation=directive`` to a write of ``body``; returns the warnings to send.

    :param patch_type: the patch's media type for a PATCH, ``None`` for a create or an update.
    :raises APIError: 400 for an unknown directive, or for unknown fields under ``Strict``.
    """
    return decode_fields(directive, resource, body, patch_type=patch_type)[1]


def decode_fields(
    directive: str | None, resource: ResourceType, body: Any, *, patch_type: str | None = None
) -> tuple[Any, list[str]]:
    """Like :func:`check_fields`, and also the body a typed decoder would keep: for a built-in kind, without
    its unknown fields (custom resources are pruned by their schema later on; JSON patches pass unchanged).

    Returns ``(body, warnings)``.
    """
    chosen = directive or "Warn"
    if chosen not in DIRECTIVES:
        raise errors.bad_request(
            f'fieldValidation: Unsupported value: "{chosen}": supported values: "Ignore", "Strict", "Warn"'
        )
    if not isinstance(body, Mapping):
        return body, []
    checked = _CHECKED_PATCHES if resource.custom else _CHECKED_BUILTIN_PATCHES
    if patch_type is not None and patch_type.split(";", 1)[0].strip() not in checked:
        return body, []
    if not resource.custom:
        type_name = builtin_fields.known(resource.api_version, resource.kind)
        if type_name is None:
            return body, []
        body, unknown = builtin_fields.check(type_name, body)
    elif chosen != "Ignore" and resource.schema is not None:
        unknown = StructuralSchema(resource.schema).unknown_fields(body)
    else:
        unknown = []
    if not unknown or chosen == "Ignore":
        return body, []
    problems = [f'unknown field "{path}"' for path in unknown]
    if chosen == "Warn":
        return body, problems
    kind, version = resource.kind, resource.version
    reason = "strict decoding error: " + ", ".join(problems)
    raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {reason}')
