"""Structural schemas (a CRD version's ``openAPIV3Schema``): defaulting, pruning and validation, as the
Kubernetes API server runs them on custom resources. The one engine both the LeaderWorkerSet API layer
(:mod:`lws.api.structural`, for ``lws validate``/``render`` and the webhooks) and the embedded cluster
(:mod:`lws.sim.schema`, for every custom-resource write) use.

* :func:`apply_defaults` fills ``default`` values at every level (object properties, array items,
  ``additionalProperties`` values), only inside objects that are present, then defaults inside the
  defaults; a ``null`` in a non-nullable field that has a default is replaced by it.
* :func:`drop_nulls` drops ``null`` values of non-nullable fields without a default.
* :func:`prune` drops the fields the schema does not know, except under
  ``x-kubernetes-preserve-unknown-fields``, ``apiVersion``/``kind``/``metadata`` at the root and in
  ``x-kubernetes-embedded-resource`` objects, and keys covered by ``additionalProperties``; it returns what
  it dropped (for ``fieldValidation=Strict``/``Warn``).
* :func:`violations` checks ``type`` (``integer`` vs ``number``, ``nullable``,
  ``x-kubernetes-int-or-string``), ``enum``, ``minimum``/``maximum`` (exclusive too), ``multipleOf``,
  ``minLength``/``maxLength``, ``pattern``, string ``format`` (``date-time``, ``date``, ``byte``, ``uuid``,
  ``ipv4``, ``ipv6``, ``cidr``), ``minItems``/``maxItems``, ``minProperties``/``maxProperties``,
  ``required``, ``x-kubernetes-list-type`` ``set``/``map`` uniqueness, and ``allOf``/``anyOf``/``oneOf``/
  ``not``.

Violations are data (:class:`Violation`: which rule, where, the value, the schema node, the limit), not
messages: the embedded cluster words them as the apiextensions server does, the API layer as ``lws
validate`` does. :class:`Options` selects the few places where the API layer is deliberately stricter than
the server (see there). CEL rules (``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final, Literal

from lws.k8s.json_types import json_equal, json_type

__all__ = [
    "EMBEDDED_RESOURCE",
    "INT_OR_STRING",
    "LIST_MAP_KEYS",
    "LIST_TYPE",
    "PRESERVE_UNKNOWN",
    "Options",
    "Path",
    "Schema",
    "Violation",
    "apply_defaults",
    "drop_nulls",
    "prune",
    "violations",
]

PRESERVE_UNKNOWN: Final = "x-kubernetes-preserve-unknown-fields"
EMBEDDED_RESOURCE: Final = "x-kubernetes-embedded-resource"
INT_OR_STRING: Final = "x-kubernetes-int-or-string"
LIST_TYPE: Final = "x-kubernetes-list-type"
LIST_MAP_KEYS: Final = "x-kubernetes-list-map-keys"

_META_FIELDS: Final = frozenset({"apiVersion", "kind", "metadata"})
_INT_RANGES: Final = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

Schema = Mapping[str, Any]
#: Where a value sits: object keys and array indices from the root, e.g. ``("spec", "items", 0, "name")``.
Path = tuple[str | int, ...]

ViolationKind = Literal[
    "type",
    "enum",
    "required",
    "unknown",
    "duplicate",
    "int_range",
    "maximum",
    "exclusive_maximum",
    "minimum",
    "exclusive_minimum",
    "multiple_of",
    "max_length",
    "min_length",
    "pattern",
    "format",
    "max_items",
    "min_items",
    "max_properties",
    "min_properties",
    "any_of",
    "one_of",
    "all_of",
    "not",
]


@dataclass(frozen=True)
class Violation:
    """One rule of a schema that a value breaks.

    :ivar kind: the rule (``type``, ``enum``, ``required``, ``maximum``...).
    :ivar path: where, from the root of the checked value.
    :ivar value: the offending value (for ``required``: ``None``; for ``duplicate``: the repeated item, or
        for a list-map the key fields of it; for ``max_items``/``max_properties`` and their ``min_``
        counterparts: the count).
    :ivar schema: the schema node that holds the rule (for ``required`` and ``unknown``: the object's).
    :ivar limit: the rule's parameter: the allowed types (``type``), the allowed values (``enum``), the
        number (ranges, lengths, counts), the pattern or format name, the missing or unknown key, the
        ``(low, high)`` bounds (``int_range``), or the number of valid alternatives (``one_of``).
    """

    kind: ViolationKind
    path: Path
    value: Any
    schema: Schema
    limit: Any = None


@dataclass(frozen=True)
class Options:
    """Where a caller checks more strictly than the API server (the server's behaviour is the default).

    :ivar unknown_fields: report fields pruning would drop, as ``unknown`` violations in document order
        (the server prunes them; ``kubectl``'s strict field validation rejects them).
    :ivar null_is_absent: a ``null`` object field counts as not written (no type check; ``required`` fails),
        which is what the server's pruning of nulls makes of it; checking a raw manifest needs this.
    :ivar whole_floats_are_integers: ``2.0`` is an ``integer``, as in JSON; off, only integers are.
    :ivar integer_formats: ``format: int32``/``int64`` (and IntOrString's int32) bound the value; the server
        lets Go's decoder catch such overflows instead, with a less helpful message.
    """

    unknown_fields: bool = False
    null_is_absent: bool = False
    whole_floats_are_integers: bool = True
    integer_formats: bool = False


SERVER: Final = Options()


def _properties(schema: Schema | None) -> Mapping[str, Schema]:
    return (schema or {}).get("properties") or {}


def _additional(schema: Schema | None) -> Schema | bool | None:
    value = (schema or {}).get("additionalProperties")
    return value if isinstance(value, Mapping | bool) else None


def _is_non_nullable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable") and "default" in schema


# --- defaulting ---------------------------------------------------------------------------------------------


def apply_defaults(schema: Schema | None, value: Any) -> None:
    """Fill in schema defaults, in place, where the API server would."""
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
                apply_defaults(properties[key], item)
            elif isinstance(additional, Mapping):
                if _is_non_nullable_null(item, additional):
                    value[key] = copy.deepcopy(additional["default"])
                apply_defaults(additional, value[key])
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                if _is_non_nullable_null(item, items):
                    value[i] = copy.deepcopy(items["default"])
                apply_defaults(items, value[i])


def drop_nulls(schema: Schema | None, value: Any) -> None:
    """Drop, in place, ``null`` values of known non-nullable fields that have no default."""
    if schema is None or schema.get(PRESERVE_UNKNOWN):
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
                drop_nulls(sub, value[key])
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                drop_nulls(items, item)


# --- pruning ------------------------------------------------------------------------------------------------


def prune(schema: Schema | None, value: Any) -> list[Path]:
    """Drop, in place, the fields the schema does not specify; return their paths in document order."""
    pruned: list[Path] = []
    _prune(value, schema, (), root=True, pruned=pruned)
    return pruned


def _prune(value: Any, schema: Schema | None, path: Path, *, root: bool, pruned: list[Path]) -> None:
    if schema is not None and schema.get(PRESERVE_UNKNOWN):
        _prune_known_only(value, schema, path, pruned)
        return
    if isinstance(value, dict):
        keep_meta = root or bool(schema and schema.get(EMBEDDED_RESOURCE))
        properties = _properties(schema)
        additional = _additional(schema)
        for key in list(value):
            if keep_meta and key in _META_FIELDS:
                continue
            if key in properties:
                sub: Schema | None = properties[key]
            elif isinstance(additional, Mapping):
                sub = additional
            elif additional is True:
                continue
            else:
                pruned.append((*path, str(key)))
                del value[key]
                continue
            _prune(
                value[key], sub, (*path, key), root=bool(sub and sub.get(EMBEDDED_RESOURCE)), pruned=pruned
            )
    elif isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        sub = items if isinstance(items, Mapping) else None
        for i, item in enumerate(value):
            _prune(item, sub, (*path, i), root=bool(sub and sub.get(EMBEDDED_RESOURCE)), pruned=pruned)


def _prune_known_only(value: Any, schema: Schema, path: Path, pruned: list[Path]) -> None:
    """Under preserve-unknown-fields, unknown keys stay but specified ones are still pruned inside."""
    if isinstance(value, dict):
        properties = _properties(schema)
        additional = _additional(schema)
        for key, item in value.items():
            if schema.get(EMBEDDED_RESOURCE) and key in _META_FIELDS:
                continue
            if key in properties:
                sub: Schema | None = properties[key]
            elif isinstance(additional, Mapping):
                sub = additional
            else:
                continue
            _prune(item, sub, (*path, key), root=bool(sub and sub.get(EMBEDDED_RESOURCE)), pruned=pruned)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                _prune_known_only(item, items, (*path, i), pruned)


# --- validation ---------------------------------------------------------------------------------------------


def violations(schema: Schema, value: Any, options: Options = SERVER) -> list[Violation]:
    """Every rule of ``schema`` that ``value`` breaks, in document order; empty when it is valid."""
    return list(_Checker(options).check(value, schema, (), root=True))


class _Checker:
    def __init__(self, options: Options) -> None:
        self.options = options

    def check(
        self, value: Any, schema: Schema, path: Path, *, root: bool = False, prunable: bool = True
    ) -> Iterator[Violation]:
        """``prunable``: pruning looks at this value (not inside the root's or an embedded ``metadata``)."""
        wrong_type = self._check_type(value, schema, path)
        if wrong_type is not None:
            yield wrong_type
            return
        if value is None:
            return
        enum = schema.get("enum")
        if enum is not None and not any(json_equal(value, allowed) for allowed in enum):
            yield Violation("enum", path, value, schema, list(enum))
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield from self._check_number(value, schema, path)
        elif isinstance(value, str):
            yield from _check_string(value, schema, path)
        elif isinstance(value, list):
            yield from self._check_array(value, schema, path, prunable)
        elif isinstance(value, dict):
            yield from self._check_object(value, schema, path, root=root, prunable=prunable)
        yield from self._check_combinators(value, schema, path)

    def _check_type(self, value: Any, schema: Schema, path: Path) -> Violation | None:
        if schema.get(INT_OR_STRING):
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
        elif (
            actual == "number"
            and "integer" in allowed
            and self.options.whole_floats_are_integers
            and float(value).is_integer()
        ):
            return None  # a whole float is an integer in JSON
        return Violation("type", path, value, schema, allowed)

    def _check_number(self, value: float, schema: Schema, path: Path) -> Iterator[Violation]:
        integral = schema.get(INT_OR_STRING) or schema.get("type") == "integer"
        if self.options.integer_formats and integral and isinstance(value, int):
            fmt = "int32" if schema.get(INT_OR_STRING) else str(schema.get("format") or "int64")
            low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
            if not low <= value <= high:
                yield Violation("int_range", path, value, schema, (low, high))
        if "multipleOf" in schema:
            factor = schema["multipleOf"]
            if factor and (value / factor) != int(value / factor):
                yield Violation("multiple_of", path, value, schema, factor)
        if "maximum" in schema:
            limit = schema["maximum"]
            if schema.get("exclusiveMaximum") and value >= limit:
                yield Violation("exclusive_maximum", path, value, schema, limit)
            elif value > limit:
                yield Violation("maximum", path, value, schema, limit)
        if "minimum" in schema:
            limit = schema["minimum"]
            if schema.get("exclusiveMinimum") and value <= limit:
                yield Violation("exclusive_minimum", path, value, schema, limit)
            elif value < limit:
                yield Violation("minimum", path, value, schema, limit)

    def _check_array(
        self, value: list[Any], schema: Schema, path: Path, prunable: bool
    ) -> Iterator[Violation]:
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield Violation("max_items", path, len(value), schema, schema["maxItems"])
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield Violation("min_items", path, len(value), schema, schema["minItems"])
        items = schema.get("items")
        if isinstance(items, Mapping):
            embedded = bool(items.get(EMBEDDED_RESOURCE))
            for i, item in enumerate(value):
                yield from self.check(item, items, (*path, i), root=embedded, prunable=prunable)
        yield from _check_list_type(value, schema, path)

    def _check_object(
        self, value: dict[str, Any], schema: Schema, path: Path, *, root: bool, prunable: bool
    ) -> Iterator[Violation]:
        null_is_absent = self.options.null_is_absent
        for key in schema.get("required") or []:
            if key not in value or (null_is_absent and value[key] is None):
                yield Violation("required", (*path, key), None, schema, key)
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            yield Violation("max_properties", path, len(value), schema, schema["maxProperties"])
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            yield Violation("min_properties", path, len(value), schema, schema["minProperties"])
        properties = _properties(schema)
        additional = _additional(schema)
        # Unknown fields are those pruning drops (see _prune): it keeps everything under preserve-unknown,
        # does not look inside apiVersion, kind and metadata of the root or an embedded resource, and keeps
        # keys covered by additionalProperties.
        report_unknown = self.options.unknown_fields and prunable and not schema.get(PRESERVE_UNKNOWN)
        keep_meta = root or bool(schema.get(EMBEDDED_RESOURCE))
        for key, item in value.items():
            inside = prunable and not (keep_meta and key in _META_FIELDS)
            if key in properties:
                if not (null_is_absent and item is None):
                    prop = properties[key]
                    embedded = bool(prop.get(EMBEDDED_RESOURCE))
                    yield from self.check(item, prop, (*path, key), root=embedded, prunable=inside)
            elif isinstance(additional, Mapping):
                embedded = bool(additional.get(EMBEDDED_RESOURCE))
                yield from self.check(item, additional, (*path, str(key)), root=embedded, prunable=inside)
            elif report_unknown and additional is not True and not (keep_meta and key in _META_FIELDS):
                yield Violation("unknown", (*path, str(key)), item, schema, key)

    def _check_combinators(self, value: Any, schema: Schema, path: Path) -> Iterator[Violation]:
        any_of = schema.get("anyOf") or []
        if any_of:
            failures = [list(self.check(value, sub, path)) for sub in any_of]
            if all(failures):
                yield Violation("any_of", path, value, schema)
                yield from min(failures, key=len)
        one_of = schema.get("oneOf") or []
        if one_of:
            failures = [list(self.check(value, sub, path)) for sub in one_of]
            valid = sum(1 for f in failures if not f)
            if valid != 1:
                yield Violation("one_of", path, value, schema, valid)
        all_of = schema.get("allOf") or []
        if all_of:
            failures = [list(self.check(value, sub, path)) for sub in all_of]
            for failure in failures:
                yield from failure
            if any(failures):
                yield Violation("all_of", path, value, schema, all(failures))
        negated = schema.get("not")
        if isinstance(negated, Mapping) and not list(self.check(value, negated, path)):
            yield Violation("not", path, value, schema)


def _check_string(value: str, schema: Schema, path: Path) -> Iterator[Violation]:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        yield Violation("max_length", path, value, schema, schema["maxLength"])
    if "minLength" in schema and len(value) < schema["minLength"]:
        yield Violation("min_length", path, value, schema, schema["minLength"])
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        compiled = _compiled(pattern)
        if compiled is not None and not compiled.search(value):
            yield Violation("pattern", path, value, schema, pattern)
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS and not _FORMATS[fmt](value):
        yield Violation("format", path, value, schema, fmt)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        # The API server rejects such a CRD up front; here the rule is skipped rather than crash.
        return None


def _check_list_type(value: list[Any], schema: Schema, path: Path) -> Iterator[Violation]:
    list_type = schema.get(LIST_TYPE)
    if list_type == "set":
        for i, item in enumerate(value):
            if any(json_equal(item, earlier) for earlier in value[:i]):
                yield Violation("duplicate", (*path, i), item, schema)
    elif list_type == "map":
        keys = schema.get(LIST_MAP_KEYS) or []
        seen: list[dict[str, Any]] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue  # reported as a type error
            identity = {k: item.get(k) for k in keys if k in item}
            if any(json_equal(identity, other) for other in seen):
                yield Violation("duplicate", (*path, i), identity, schema, list(keys))
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


def _is_ip(version: int) -> Callable[[str], bool]:
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


_FORMATS: Final[Mapping[str, Callable[[str], bool]]] = {
    "date-time": _is_date_time,
    "datetime": _is_date_time,
    "date": _is_date,
    "byte": _is_byte,
    "uuid": _is_uuid,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": _is_cidr,
}
