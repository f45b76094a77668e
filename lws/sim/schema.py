"""Structural schemas of CustomResourceDefinitions: defaulting, pruning and validation as the API server does.

:class:`StructuralSchema` wraps one version's ``openAPIV3Schema`` and offers the three steps the server runs
on every custom-resource write, each returning a new object and leaving its input alone:

* :meth:`~StructuralSchema.default` fills ``default`` values at every level -- object properties, array items,
  ``additionalProperties`` values -- but only inside objects that are present, and then defaults inside the
  defaults; a ``null`` in a non-nullable field that has a default is replaced by it.
* :meth:`~StructuralSchema.prune` drops fields the schema does not know, except under
  ``x-kubernetes-preserve-unknown-fields``, ``apiVersion``/``kind``/``metadata`` at the root and in
  ``x-kubernetes-embedded-resource`` objects, and keys covered by ``additionalProperties``; it also drops
  ``null`` values of non-nullable fields without a default. :meth:`~StructuralSchema.unknown_fields` lists
  what pruning would drop, for ``fieldValidation=Strict``/``Warn``.
* :meth:`~StructuralSchema.validate` checks ``type`` (``integer`` vs ``number``, ``nullable``,
  ``x-kubernetes-int-or-string``), ``enum``, ``minimum``/``maximum`` (exclusive too), ``multipleOf``,
  ``minLength``/``maxLength``, ``pattern``, string ``format`` (``date-time``, ``date``, ``byte``, ``uuid``,
  ``ipv4``, ``ipv6``, ``cidr``; integer formats such as ``int32`` constrain nothing, as in Kubernetes),
  ``minItems``/``maxItems``, ``minProperties``/``maxProperties``, ``required``, ``x-kubernetes-list-type``
  ``set``/``map`` uniqueness, and ``allOf``/``anyOf``/``oneOf``/``not``.

It returns :class:`~lws.sim.causes.Cause` objects whose field paths (``spec.replicas``,
``spec.items[0].name``), reasons and messages are those of the apiextensions server, e.g.
``spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0``.

Not covered: CEL rules (``x-kubernetes-validations``) are ignored, and ``metadata`` (name, namespace,
generateName) is left to the server, as is the ratcheting of unchanged invalid values on update.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from lws.k8s.json_types import json_type
from lws.sim import causes
from lws.sim.causes import Cause

__all__ = ["StructuralSchema"]

_META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_EMBEDDED = "x-kubernetes-embedded-resource"
_INT_OR_STRING = "x-kubernetes-int-or-string"

Schema = Mapping[str, Any]


def _go_number(value: float) -> str:
    # Go's %v: whole floats print without ".0".
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _properties(schema: Schema | None) -> Mapping[str, Schema]:
    return (schema or {}).get("properties") or {}


def _additional(schema: Schema | None) -> Schema | bool | None:
    value = (schema or {}).get("additionalProperties")
    return value if isinstance(value, Mapping | bool) else None


def _is_non_nullable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable") and "default" in schema


class StructuralSchema:
    """One CRD version's ``openAPIV3Schema``, ready to default, prune and validate objects."""

    def __init__(self, openapi_v3_schema: Mapping[str, Any]) -> None:
        self.schema: Schema = openapi_v3_schema
        self._patterns: dict[str, re.Pattern[str] | None] = {}

    # --- defaulting ---------------------------------------------------------------------------------------

    def default(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``obj`` with schema defaults applied."""
        result = copy.deepcopy(obj)
        _apply_defaults(result, self.schema)
        return result

    # --- pruning ------------------------------------------------------------------------------------------

    def prune(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``obj`` without the fields the schema does not specify."""
        result = copy.deepcopy(obj)
        _drop_non_nullable_nulls(result, self.schema)
        _prune(result, self.schema, "", root=True, pruned=[])
        return result

    def unknown_fields(self, obj: Mapping[str, Any]) -> list[str]:
        """The paths pruning would drop, e.g. ``["spec.foo", "spec.items[0].bar"]``, in document order."""
        pruned: list[str] = []
        _prune(copy.deepcopy(dict(obj)), self.schema, "", root=True, pruned=pruned)
        return pruned

    # --- validation ---------------------------------------------------------------------------------------

    def validate(self, obj: Mapping[str, Any]) -> list[Cause]:
        """Check ``obj`` against the schema; an empty list means valid. CEL rules are ignored."""
        return list(self._validate(obj, self.schema, ""))

    def _validate(self, value: Any, schema: Schema, path: str) -> Iterator[Cause]:
        type_error = self._check_type(value, schema, path)
        if type_error is not None:
            yield type_error
            return
        if value is None:
            return
        yield from self._check_enum(value, schema, path)
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield from self._check_number(value, schema, path)
        elif isinstance(value, str):
            yield from self._check_string(value, schema, path)
        elif isinstance(value, list):
            yield from self._check_array(value, schema, path)
        elif isinstance(value, dict):
            yield from self._check_object(value, schema, path)
        yield from self._check_combinators(value, schema, path)

    def _check_type(self, value: Any, schema: Schema, path: str) -> Cause | None:
        if schema.get(_INT_OR_STRING):
            allowed = ["integer", "string"]
        elif isinstance(schema.get("type"), str):
            allowed = [schema["type"]]
        else:
            return None
        actual = json_type(value)
        if actual == "null":
            if schema.get("nullable"):
                return None
        elif actual in allowed or (actual == "integer" and "number" in allowed):
            return None
        elif actual == "number" and "integer" in allowed and float(value).is_integer():
            return None  # a whole float is an integer in JSON
        name = path or "body"
        detail = f"{name} in body must be of type {','.join(allowed)}: {json.dumps(actual)}"
        return causes.type_invalid(path, actual, detail)

    def _check_enum(self, value: Any, schema: Schema, path: str) -> Iterator[Cause]:
        enum = schema.get("enum")
        if enum is not None and not any(_json_equal(value, allowed) for allowed in enum):
            shown = [v if isinstance(v, str) else json.dumps(v) for v in enum]
            yield causes.not_supported(path, value, shown)

    def _check_number(self, value: float, schema: Schema, path: str) -> Iterator[Cause]:
        name = path or "body"
        if "multipleOf" in schema:
            factor = schema["multipleOf"]
            if factor and (value / factor) != int(value / factor):
                yield causes.invalid(
                    path, value, f"{name} in body should be a multiple of {_go_number(factor)}"
                )
        if "maximum" in schema:
            limit = schema["maximum"]
            if schema.get("exclusiveMaximum") and value >= limit:
                yield causes.invalid(path, value, f"{name} in body should be less than {_go_number(limit)}")
            elif value > limit:
                detail = f"{name} in body should be less than or equal to {_go_number(limit)}"
                yield causes.invalid(path, value, detail)
        if "minimum" in schema:
            limit = schema["minimum"]
            if schema.get("exclusiveMinimum") and value <= limit:
                yield causes.invalid(
                    path, value, f"{name} in body should be greater than {_go_number(limit)}"
                )
            elif value < limit:
                detail = f"{name} in body should be greater than or equal to {_go_number(limit)}"
                yield causes.invalid(path, value, detail)

    def _check_string(self, value: str, schema: Schema, path: str) -> Iterator[Cause]:
        name = path or "body"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield causes.too_long(path, schema["maxLength"])
        if "minLength" in schema and len(value) < schema["minLength"]:
            detail = f"{name} in body should be at least {schema['minLength']} chars long"
            yield causes.invalid(path, value, detail)
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            compiled = self._compiled(pattern)
            if compiled is not None and not compiled.search(value):
                yield causes.invalid(path, value, f"{name} in body should match '{pattern}'")
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS and not _FORMATS[fmt](value):
            detail = f"{name} in body must be of type {fmt}: {json.dumps(value)}"
            yield causes.type_invalid(path, value, detail)

    def _compiled(self, pattern: str) -> re.Pattern[str] | None:
        if pattern not in self._patterns:
            try:
                self._patterns[pattern] = re.compile(pattern)
            except re.error:
                # The API server rejects such a CRD up front; here the rule is skipped rather than crash.
                self._patterns[pattern] = None
        return self._patterns[pattern]

    def _check_array(self, value: list[Any], schema: Schema, path: str) -> Iterator[Cause]:
        name = path or "body"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield causes.too_many(path, len(value), schema["maxItems"])
        if "minItems" in schema and len(value) < schema["minItems"]:
            detail = f"{name} in body should have at least {schema['minItems']} items"
            yield causes.invalid(path, len(value), detail)
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                yield from self._validate(item, items, f"{path}[{i}]")
        yield from _check_list_type(value, schema, path)

    def _check_object(self, value: dict[str, Any], schema: Schema, path: str) -> Iterator[Cause]:
        name = path or "body"
        for key in schema.get("required") or []:
            if key not in value:
                yield causes.required(_child(path, key))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            yield causes.too_many(path, len(value), schema["maxProperties"])
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            detail = f"{name} in body should have at least {schema['minProperties']} properties"
            yield causes.invalid(path, len(value), detail)
        properties = _properties(schema)
        additional = _additional(schema)
        for key, item in value.items():
            if key in properties:
                yield from self._validate(item, properties[key], _child(path, key))
            elif isinstance(additional, Mapping):
                yield from self._validate(item, additional, _child(path, key))

    def _check_combinators(self, value: Any, schema: Schema, path: str) -> Iterator[Cause]:
        name = json.dumps(path or "body")
        any_of = schema.get("anyOf") or []
        if any_of:
            failures = [list(self._validate(value, sub, path)) for sub in any_of]
            if all(failures):
                yield causes.invalid(path, value, f"{name} must validate at least one schema (anyOf)")
                yield from min(failures, key=len)
        one_of = schema.get("oneOf") or []
        if one_of:
            failures = [list(self._validate(value, sub, path)) for sub in one_of]
            valid = sum(1 for f in failures if not f)
            if valid != 1:
                found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
                yield causes.invalid(
                    path, value, f"{name} must validate one and only one schema (oneOf). {found}"
                )
        all_of = schema.get("allOf") or []
        if all_of:
            failures = [list(self._validate(value, sub, path)) for sub in all_of]
            for failure in failures:
                yield from failure
            if any(failures):
                none = ". None validated" if all(failures) else ""
                yield causes.invalid(path, value, f"{name} must validate all the schemas (allOf){none}")
        negated = schema.get("not")
        if isinstance(negated, Mapping) and not list(self._validate(value, negated, path)):
            yield causes.invalid(path, value, f"{name} must not validate the schema (not)")


def _check_list_type(value: list[Any], schema: Schema, path: str) -> Iterator[Cause]:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        for i, item in enumerate(value):
            if any(_json_equal(item, earlier) for earlier in value[:i]):
                yield causes.duplicate(f"{path}[{i}]", item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen: list[dict[str, Any]] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            identity = {k: item.get(k) for k in keys if k in item}
            if any(_json_equal(identity, other) for other in seen):
                yield causes.duplicate(f"{path}[{i}]", identity)
            seen.append(identity)


# --- formats (only those the apiextensions server knows; others are ignored, as there) -------------------


def _is_date_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value.upper() or " " in value


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _is_ip(version: int) -> Any:
    def check(value: str) -> bool:
        try:
            return ipaddress.ip_address(value).version == version
        except ValueError:
            return False

    return check


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


_FORMATS = {
    "date-time": _is_date_time,
    "datetime": _is_date_time,
    "date": _is_date,
    "byte": _is_byte,
    "uuid": _is_uuid,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": _is_cidr,
}


# --- defaulting and pruning walkers (mutate the private copy they are given) ------------------------------


def _apply_defaults(value: Any, schema: Schema | None) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        properties = _properties(schema)
        for key, prop in properties.items():
            if "default" in prop and (key not in value or _is_non_nullable_null(value[key], prop)):
                value[key] = copy.deepcopy(prop["default"])
        additional = _additional(schema)
        for key, item in value.items():
            if key in properties:
                _apply_defaults(item, properties[key])
            elif isinstance(additional, Mapping):
                if _is_non_nullable_null(item, additional):
                    value[key] = copy.deepcopy(additional["default"])
                _apply_defaults(value[key], additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                if _is_non_nullable_null(item, items):
                    value[i] = copy.deepcopy(items["default"])
                _apply_defaults(value[i], items)


def _drop_non_nullable_nulls(value: Any, schema: Schema | None) -> None:
    if schema is None or schema.get(_PRESERVE):
        return
    if isinstance(value, dict):
        properties = _properties(schema)
        additional = _additional(schema)
        for key in list(value):
            sub = properties.get(key) or (additional if isinstance(additional, Mapping) else None)
            if sub is None:
                continue
            if value[key] is None and not sub.get("nullable") and "default" not in sub:
                del value[key]
            else:
                _drop_non_nullable_nulls(value[key], sub)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                _drop_non_nullable_nulls(item, items)


def _prune(value: Any, schema: Schema | None, path: str, *, root: bool, pruned: list[str]) -> None:
    if schema is not None and schema.get(_PRESERVE):
        _prune_known_only(value, schema, path, pruned)
        return
    if isinstance(value, dict):
        keep_meta = root or bool(schema and schema.get(_EMBEDDED))
        properties = _properties(schema)
        additional = _additional(schema)
        for key in list(value):
            if keep_meta and key in _META_FIELDS:
                continue
            if key in properties:
                _prune(
                    value[key],
                    properties[key],
                    _child(path, key),
                    root=bool(properties[key].get(_EMBEDDED)),
                    pruned=pruned,
                )
            elif isinstance(additional, Mapping):
                _prune(
                    value[key],
                    additional,
                    _child(path, key),
                    root=bool(additional.get(_EMBEDDED)),
                    pruned=pruned,
                )
            elif additional is True:
                continue
            else:
                pruned.append(_child(path, key))
                del value[key]
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        sub = items if isinstance(items, Mapping) else None
        for i, item in enumerate(value):
            _prune(item, sub, f"{path}[{i}]", root=bool(sub and sub.get(_EMBEDDED)), pruned=pruned)


def _prune_known_only(value: Any, schema: Schema, path: str, pruned: list[str]) -> None:
    """Under preserve-unknown-fields, unknown keys stay but specified ones are still pruned inside."""
    if isinstance(value, dict):
        properties = _properties(schema)
        additional = _additional(schema)
        for key, item in value.items():
            if schema.get(_EMBEDDED) and key in _META_FIELDS:
                continue
            if key in properties:
                _prune(
                    item,
                    properties[key],
                    _child(path, key),
                    root=bool(properties[key].get(_EMBEDDED)),
                    pruned=pruned,
                )
            elif isinstance(additional, Mapping):
                _prune(
                    item, additional, _child(path, key), root=bool(additional.get(_EMBEDDED)), pruned=pruned
                )
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                _prune_known_only(item, items, f"{path}[{i}]", pruned)
