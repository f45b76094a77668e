"""The pod template and volume claim schemas of the CRD, generated from Kubernetes' published OpenAPI.

Upstream's CRD embeds the whole ``PodTemplateSpec`` (and ``PersistentVolumeClaim``) schema that
controller-gen renders from the Go types, so the API server rejects a malformed pod template when the
LeaderWorkerSet is written, not later when a StatefulSet made from it is refused. We do the same, from the
source Kubernetes itself publishes: ``api/openapi-spec/v3/api__v1_openapi.json`` of the release we target.

``lws/api/data/kubernetes-core-v1.json`` holds, verbatim, the definitions of that document that the pod
spec and the claim spec reach (``$ref`` closure), with the document's version and digest. Regenerate it
for another release with::

    python -m lws.api.pod_schema PATH/TO/api__v1_openapi.json v1.37.2

:func:`pod_spec_schema` and friends turn those definitions into CRD structural schemas, with the rules by
which controller-gen renders the same Go types (so the result reads like upstream's CRD):

* references are inlined (a structural schema has no ``$ref``); a field's own description wins;
* ``Quantity`` becomes integer-or-string with the quantity pattern, ``IntOrString`` integer-or-string,
  ``Time`` a ``date-time`` string, and an embedded ``ObjectMeta`` the five fields a template keeps;
* ``default`` is kept only where a Go ``+default`` marker put it: the published document also carries
  openapi-gen's zero values (``""``, ``0``, ``{}``) on required and struct fields, which controller-gen
  does not emit and which would let a missing required field pass as empty;
* strategic-merge-patch and union extensions are dropped (a CRD is never patched strategically);
  ``x-kubernetes-list-type``, ``-list-map-keys`` and ``-map-type`` stay: the API server uses them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

Schema = dict[str, Any]

DATA_FILE: Final = "kubernetes-core-v1.json"
POD_SPEC: Final = "io.k8s.api.core.v1.PodSpec"
CLAIM_SPEC: Final = "io.k8s.api.core.v1.PersistentVolumeClaimSpec"
CLAIM_STATUS: Final = "io.k8s.api.core.v1.PersistentVolumeClaimStatus"
ROOTS: Final = (POD_SPEC, CLAIM_SPEC, CLAIM_STATUS)

_REF_PREFIX: Final = "#/components/schemas/"
_QUANTITY: Final = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING: Final = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_TIME: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
_MICRO_TIME: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
_OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
#: The pattern controller-gen puts on every ``resource.Quantity`` (apimachinery's quantity grammar).
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)"
    r"|(\.[0-9]+))))?$"
)
_DROPPED: Final = frozenset(
    {"x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy", "x-kubernetes-unions"}
)


def embedded_metadata(description: str, what: str = "objects") -> Schema:
    """The metadata of an embedded template: only the fields that make sense there, as upstream."""

    def strings(text: str) -> Schema:
        return {"type": "object", "description": text, "additionalProperties": {"type": "string"}}

    return {
        "type": "object",
        "description": description,
        "properties": {
            "annotations": strings(f"Annotations copied to the {what} created from this template."),
            "finalizers": {
                "type": "array",
                "description": f"Finalizers of the {what} created from this template.",
                "items": {"type": "string"},
            },
            "labels": strings(f"Labels copied to the {what} created from this template."),
            "name": {"type": "string", "description": "Ignored: names are derived from the owner's."},
            "namespace": {"type": "string", "description": "Ignored: objects live in the owner's namespace."},
        },
    }


@cache
def _source() -> dict[str, Any]:
    text = resources.files("lws.api").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def source_info() -> dict[str, str]:
    """Which Kubernetes release and document the definitions come from (version, path, sha256)."""
    return dict(_source()["source"])


def definitions() -> Mapping[str, Schema]:
    """The published definitions, verbatim, by name."""
    schemas: Mapping[str, Schema] = _source()["schemas"]
    return schemas


@cache
def _converted(name: str) -> Schema:
    return _convert(definitions()[name], definitions())


def pod_spec_schema() -> Schema:
    """``core/v1 PodSpec`` as a structural schema (a fresh copy: callers may embed it where they like)."""
    return copy.deepcopy(_converted(POD_SPEC))


def claim_spec_schema() -> Schema:
    """``core/v1 PersistentVolumeClaimSpec`` as a structural schema (a fresh copy)."""
    return copy.deepcopy(_converted(CLAIM_SPEC))


def claim_status_schema() -> Schema:
    """``core/v1 PersistentVolumeClaimStatus`` as a structural schema (a fresh copy)."""
    return copy.deepcopy(_converted(CLAIM_STATUS))


# --- conversion --------------------------------------------------------------------------------------------


def _ref_name(schema: Mapping[str, Any]) -> str | None:
    ref = schema.get("$ref")
    if ref is None:
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
            ref = all_of[0].get("$ref")
    return str(ref).removeprefix(_REF_PREFIX) if ref is not None else None


def _special(name: str, description: str | None) -> Schema | None:
    """Types controller-gen renders by a rule of its own rather than from their published shape."""
    schema: Schema | None = None
    if name == _QUANTITY:
        schema = {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    elif name == _INT_OR_STRING:
        schema = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    elif name in (_TIME, _MICRO_TIME):
        schema = {"type": "string", "format": "date-time"}
    elif name == _OBJECT_META:
        schema = embedded_metadata(description or "Standard object's metadata.")
    if schema is not None and description and "description" not in schema:
        schema["description"] = description
    return schema


def _convert(schema: Mapping[str, Any], defs: Mapping[str, Schema], required: bool = False) -> Schema:
    """One schema, references inlined; ``required``: the field is in its parent's ``required`` list."""
    ref = _ref_name(schema)
    if ref is not None:
        description = schema.get("description") or defs[ref].get("description")
        out = _special(ref, description)
        if out is None:
            out = _convert(defs[ref], defs)
            if description:
                out["description"] = description
        _keep_default(out, schema, required)
        return out
    out = {}
    needed = set(schema.get("required") or ())
    for key, value in schema.items():
        if key in _DROPPED or key in ("default", "oneOf") or (key == "format" and value == "int-or-string"):
            continue
        if key == "properties":
            out[key] = {name: _convert(prop, defs, name in needed) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = _convert(value, defs)
        elif key == "required":
            out[key] = sorted(value)
        else:
            out[key] = copy.deepcopy(value)
    if schema.get("format") == "int-or-string":
        return _special(_INT_OR_STRING, schema.get("description")) or out
    _keep_default(out, schema, required)
    return out


def _keep_default(out: Schema, schema: Mapping[str, Any], required: bool) -> None:
    """Keep a published default only where a Go ``+default`` marker could have put it."""
    if "default" not in schema:
        return
    value = schema["default"]
    if required or value == {}:
        return  # openapi-gen's zero value of a required field or a struct: not a marker default
    out["default"] = copy.deepcopy(value)


# --- extraction (regenerating the data file) ---------------------------------------------------------------


def closure(schemas: Mapping[str, Any], roots: Iterable[str]) -> dict[str, Any]:
    """The definitions ``roots`` reach through ``$ref``, verbatim, by name (sorted)."""
    found: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        if name not in schemas:
            raise KeyError(f"{name} is referenced but not defined in the document")
        found[name] = schemas[name]
        todo.extend(_refs(schemas[name]))
    return dict(sorted(found.items()))


def _refs(value: Any) -> Iterable[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for key, sub in item.items():
                if key == "$ref" and isinstance(sub, str):
                    yield sub.removeprefix(_REF_PREFIX)
                else:
                    stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)


def extract(document: bytes, version: str, path: str) -> dict[str, Any]:
    """The data file's content for one published ``api__v1_openapi.json``."""
    parsed = json.loads(document)
    return {
        "source": {
            "kubernetes": version,
            "document": path,
            "sha256": hashlib.sha256(document).hexdigest(),
        },
        "schemas": closure(parsed["components"]["schemas"], ROOTS),
    }


def render(data: Mapping[str, Any]) -> str:
    """The data file's text: one key per line, sorted, so that a new release's diff reads well."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """``python -m lws.api.pod_schema DOCUMENT VERSION``: rewrite the data file from a published document."""
    if len(argv) != 2:
        print("usage: python -m lws.api.pod_schema PATH/TO/api__v1_openapi.json VERSION", file=sys.stderr)
        return 2
    document = Path(argv[0]).read_bytes()
    target = Path(__file__).with_name("data") / DATA_FILE
    target.write_text(
        render(extract(document, argv[1], "api/openapi-spec/v3/api__v1_openapi.json")), encoding="utf-8"
    )
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
