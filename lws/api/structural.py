"""Apply a structural schema (:mod:`lws.api.schema`) to a plain JSON-like object, as the API server does.

Two jobs, both driven by the schema alone:

* :func:`apply_defaults` prunes nulls of known fields and fills in ``default`` values, as the API server
  does when it decodes a custom resource;
* :func:`check` reports what the API server would reject: wrong types, values outside an enum, missing
  required fields, unknown fields (as ``kubectl``'s default strict field validation does), duplicate keys of
  list-maps and out-of-range 32/64-bit integers.

Numeric ranges (``minimum``/``maximum``) are not checked here: the admission rules in
:mod:`lws.api.validation` check them with upstream's own messages, and one problem should give one error.
Neither function raises on arbitrary input.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from lws.api.errors import FieldError
from lws.api.schema import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    INT_OR_STRING,
    LIST_MAP_KEYS,
    PRESERVE_UNKNOWN,
)
from lws.k8s.json_types import json_type

Schema = Mapping[str, Any]

_INT_RANGES = {"int32": (INT32_MIN, INT32_MAX), "int64": (INT64_MIN, INT64_MAX)}


def join(path: str, key: object) -> str:
    """The JSON path of ``key`` under ``path`` (``spec`` + ``replicas`` → ``spec.replicas``)."""
    text = str(key) if key != "" else '""'
    return f"{path}.{text}" if path else text


def type_error(path: str, value: object, expected: str) -> FieldError:
    """``<path>: Invalid value: <value>: must be of type <expected>, not <actual>``.

    Objects and arrays are not echoed back: they can be large, and the type says enough.
    """
    detail = f"must be of type {expected}, not {json_type(value)}"
    if isinstance(value, bool | int | float | str) or value is None:
        return FieldError(path, detail, value=value)
    return FieldError(path, detail)


def quoted(values: Iterable[object]) -> str:
    """``"A", "B"``: how apimachinery lists allowed values."""
    return ", ".join(f'"{v}"' for v in values)


# --- defaulting --------------------------------------------------------------------------------------------


def apply_defaults(schema: Schema, value: Any) -> None:
    """Prune nulls of known, non-nullable fields and fill in schema defaults, in place.

    As the API server: a default applies only where its parent object exists, so ``rolloutStrategy.type``
    is defaulted only when ``rolloutStrategy`` is written.
    """
    if isinstance(value, dict):
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return
        for key, prop in properties.items():
            if key in value and value[key] is None and not prop.get("nullable", False):
                del value[key]
            if key not in value and "default" in prop:
                value[key] = copy.deepcopy(prop["default"])
            if key in value:
                apply_defaults(prop, value[key])
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                apply_defaults(items, item)


# --- checking ----------------------------------------------------------------------------------------------


def check(schema: Schema, value: Any, path: str = "") -> list[FieldError]:
    """Every way ``value`` breaks ``schema``, each error naming the JSON path of the field."""
    if schema.get(INT_OR_STRING):
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            # IntOrString keeps its number in an int32.
            return _check_int_range(value, "int32", path) if isinstance(value, int) else []
        return [
            type_error(path, value, 'integer or string (a number such as 1, or a percentage such as "25%")')
        ]
    kind = schema.get("type")
    if kind == "object":
        return _check_object(schema, value, path)
    if kind == "array":
        return _check_array(schema, value, path)
    if kind == "string":
        return _check_string(schema, value, path)
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return [type_error(path, value, "integer")]
        return _check_int_range(value, str(schema.get("format", "int64")), path)
    if kind == "boolean" and not isinstance(value, bool):
        return [type_error(path, value, "boolean")]
    if kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
        return [type_error(path, value, "number")]
    return []


def _check_int_range(value: int, fmt: str, path: str) -> list[FieldError]:
    low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
    if low <= value <= high:
        return []
    bits = fmt.removeprefix("int")
    return [FieldError(path, f"must be a {bits}-bit integer, between {low} and {high}", value=value)]


def _check_object(schema: Schema, value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, Mapping):
        return [type_error(path, value, "object")]
    errors: list[FieldError] = []
    properties: Mapping[str, Schema] = schema.get("properties") or {}
    for key in schema.get("required") or ():
        if value.get(key) is None:
            errors.append(
                FieldError(join(path, key), _required_detail(properties.get(key, {})), type="Required")
            )
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        prop = properties.get(key) if isinstance(key, str) else None
        if prop is not None:
            # A null known field is dropped by the API server, as if it were not written.
            if item is not None:
                errors.extend(check(prop, item, join(path, key)))
        elif isinstance(additional, Mapping):
            errors.extend(check(additional, item, join(path, key)))
        elif properties and not schema.get(PRESERVE_UNKNOWN) and item is not None:
            # A null unknown field carries nothing (Go-generated manifests write creationTimestamp: null).
            errors.append(_unknown_field(path, key, properties))
    return errors


def _required_detail(prop: Schema) -> str:
    if prop.get("enum"):
        return f"must be set, to one of {quoted(prop['enum'])}"
    return "must be set"


def _unknown_field(path: str, key: object, properties: Mapping[str, Schema]) -> FieldError:
    detail = "unknown field: the API server drops it, or rejects the object under kubectl's strict validation"
    name = str(key)
    same_but_case = [p for p in properties if p.lower() == name.lower()]
    close = same_but_case or difflib.get_close_matches(name, list(properties), n=1, cutoff=0.75)
    if close:
        detail += f'; did you mean "{close[0]}"?'
    else:
        detail += f"; known fields here: {quoted(sorted(properties))}"
    return FieldError(join(path, key), detail, type="Forbidden")


def _check_array(schema: Schema, value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, list):
        return [type_error(path, value, "array")]
    items = schema.get("items")
    if not isinstance(items, Mapping):
        return []
    errors: list[FieldError] = []
    for i, item in enumerate(value):
        errors.extend(check(items, item, f"{path}[{i}]"))
    keys = schema.get(LIST_MAP_KEYS)
    if keys:
        errors.extend(_check_list_map(list(keys), value, path))
    return errors


def _check_list_map(keys: list[str], value: list[Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            continue  # already reported as a type error
        identity = repr(tuple(repr(item.get(k)) for k in keys))
        if identity in seen:
            shown = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
            errors.append(FieldError(f"{path}[{i}]", f"duplicate entry with {shown}", type="Duplicate"))
        seen.add(identity)
    return errors


def _check_string(schema: Schema, value: Any, path: str) -> list[FieldError]:
    if not isinstance(value, str):
        return [type_error(path, value, "string")]
    enum = schema.get("enum")
    if isinstance(enum, list | tuple) and value not in enum:
        return [FieldError(path, _supported(enum), type="NotSupported", value=value)]
    errors: list[FieldError] = []
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        errors.append(
            FieldError(path, f"may not be more than {max_length} bytes", type="TooLong", value=value)
        )
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        errors.append(FieldError(path, f"should be at least {min_length} chars long", value=value))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not re.search(pattern, value):
        errors.append(FieldError(path, f"should match '{pattern}'", value=value))
    return errors


def _supported(enum: Iterable[object]) -> str:
    enum = list(enum)
    if not enum:
        return "supported values: none (no enabled plugin implements any value; see `lws plugins`)"
    return f"supported values: {quoted(enum)}"
