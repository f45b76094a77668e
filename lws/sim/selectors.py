"""Label selectors, node-selector terms and field selectors, with the semantics and errors of apimachinery.

Label selectors come in two forms that parse to the same :class:`LabelSelector`:

* the string form of ``?labelSelector=`` (``a=b,c!=d,e in (f,g),!h,i,j>3``): :func:`parse_label_selector`;
  an empty string selects everything;
* the ``metav1.LabelSelector`` dict (``matchLabels``, ``matchExpressions``): :func:`label_selector_from_dict`.
  As in Kubernetes, ``None`` (a null selector) selects **nothing**, while ``{}`` selects **everything**.
  :meth:`LabelSelector.is_empty` is true only for the select-everything case.

Node affinity uses ``core/v1.NodeSelector`` terms, whose requirements also allow ``Gt`` and ``Lt``:
:func:`node_selector_matches` decides whether a Node object satisfies one.

Field selectors (``?fieldSelector=metadata.name=x,status.phase!=Running``) compare the string form of a field
of the object; which fields a kind supports comes from the same table the API server uses:
:func:`parse_field_selector` with ``kind=`` rejects the others as Kubernetes does.

Every syntax problem raises :class:`SelectorError`, whose message is the one Kubernetes would return, so the
server can put it in a 400 ``BadRequest`` as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lws.k8s.names import is_label_value, is_qualified_name

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "field_value",
    "label_selector_from_dict",
    "make_requirement",
    "node_selector_matches",
    "node_selector_requirements",
    "node_selector_term_matches",
    "parse_field_selector",
    "parse_label_selector",
    "supported_field_labels",
]


class SelectorError(ValueError):
    """A label or field selector that cannot be parsed, or that names an unsupported field."""


class Operator(StrEnum):
    """A requirement's operator, spelled as the string syntax spells it (``selection.Operator``)."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GT = "gt"
    LT = "lt"


_SET_OPERATORS = (Operator.IN, Operator.NOT_IN)
_EXACT_OPERATORS = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS)
_UNARY_OPERATORS = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
_NUMERIC_OPERATORS = (Operator.GT, Operator.LT)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _parse_int64(text: str) -> int | None:
    """Go's ``strconv.ParseInt(s, 10, 64)``: optional sign, decimal digits only, within int64."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _field_error(path: str, value: Any, detail: str) -> str:
    shown = json.dumps(value) if isinstance(value, str) or value is None else json.dumps(list(value))
    return f"{path}: Invalid value: {shown}: {detail}"


def _aggregate(errors: list[str]) -> str:
    # apimachinery's aggregate: one error prints alone, several print as a bracketed list.
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


@dataclass(frozen=True)
class Requirement:
    """One ``key <operator> values`` term of a label selector; build it with :func:`make_requirement`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this requirement (a missing key satisfies only negative forms)."""
        op = self.operator
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        if self.key not in labels or len(self.values) != 1:
            return False
        have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if op is Operator.GT else have < want

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if op in _SET_OPERATORS:
            return f"{self.key} {op.value} ({','.join(self.values)})"
        symbol = {Operator.GT: ">", Operator.LT: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{self.values[0] if self.values else ''}"


def make_requirement(
    key: str, operator: Operator, values: Sequence[str] | None, *, path: str = "", label_values: bool = True
) -> Requirement:
    """Build a validated requirement, as ``labels.NewRequirement`` does.

    :param path: field path to prefix error fields with (``spec.selector.matchExpressions[0]``), or ``""``.
    :param label_values: check values as label values; node-selector values are not label values.
    :raises SelectorError: the key, the operator/values combination or a value is invalid.
    """
    prefix = f"{path}." if path else ""
    errors: list[str] = []
    key_errs = is_qualified_name(key)
    if key_errs:
        errors.append(_field_error(prefix + "key", key, "; ".join(key_errs)))
    vals = list(values) if values is not None else []
    shown: Any = None if values is None or (not vals and operator not in _SET_OPERATORS) else vals
    if operator in _SET_OPERATORS and not vals:
        errors.append(
            _field_error(prefix + "values", shown, "for 'in', 'notin' operators, values set can't be empty")
        )
    elif operator in _EXACT_OPERATORS and len(vals) != 1:
        errors.append(
            _field_error(prefix + "values", shown, "exact-match compatibility requires one single value")
        )
    elif operator in _UNARY_OPERATORS and vals:
        errors.append(
            _field_error(prefix + "values", vals, "values set must be empty for exists and does not exist")
        )
    elif operator in _NUMERIC_OPERATORS:
        if len(vals) != 1:
            errors.append(
                _field_error(
                    prefix + "values", shown, "for 'Gt', 'Lt' operators, exactly one value is required"
                )
            )
        for i, v in enumerate(vals):
            if _parse_int64(v) is None:
                detail = "for 'Gt', 'Lt' operators, the value must be an integer"
                errors.append(_field_error(f"{prefix}values[{i}]", v, detail))
    if label_values:
        for i, v in enumerate(vals):
            value_errs = is_label_value(v)
            if value_errs:
                errors.append(_field_error(f"{prefix}values[{i}][{key}]", v, "; ".join(value_errs)))
    if errors:
        raise SelectorError(_aggregate(errors))
    return Requirement(key, operator, tuple(vals))


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements. ``match_nothing`` marks the null selector, which selects nothing."""

    requirements: tuple[Requirement, ...] = ()
    match_nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        """The selector that matches every label set (``{}`` or ``""``)."""
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        """The selector that matches no label set (a null ``metav1.LabelSelector``)."""
        return cls(match_nothing=True)

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether every requirement holds for ``labels`` (``None`` counts as no labels)."""
        if self.match_nothing:
            return False
        present = labels or {}
        return all(r.matches(present) for r in self.requirements)

    def is_empty(self) -> bool:
        """True when the selector restricts nothing, i.e. matches everything."""
        return not self.match_nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# ---------------------------------------------------------------------------------------------------------
# String form: the lexer and the recursive-descent parser follow apimachinery's grammar token for token,
# so the same inputs are accepted and the same messages come out.

_SPECIAL = frozenset("=!(),<>")
_WHITESPACE = frozenset(" \t\r\n")
_TOKENS = {")": ")", ",": ",", "!": "!", "==": "==", "=": "=", ">": ">", "in": "in", "<": "<", "!=": "!="}
_TOKENS |= {"notin": "notin", "(": "("}
_IDENT, _END = "ident", "end"
_BINARY_OPERATORS = {
    "in": Operator.IN,
    "notin": Operator.NOT_IN,
    "=": Operator.EQUALS,
    "==": Operator.DOUBLE_EQUALS,
    "!=": Operator.NOT_EQUALS,
    ">": Operator.GT,
    "<": Operator.LT,
}
_BINARY_LIST = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> list[tuple[str, str]]:
    """Split a selector into (token, literal) pairs; keywords are their own token, the rest identifiers."""
    items: list[tuple[str, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            items.append((_END, ""))
            return items
        if text[pos] in _SPECIAL:
            # Longest run of special characters that still forms a token ("!=" but "=" then "(").
            best, end = "", pos
            while end < n and text[end] in _SPECIAL:
                if text[pos : end + 1] in _TOKENS:
                    best = text[pos : end + 1]
                elif best:
                    break
                end += 1
            items.append((_TOKENS[best], best))
            pos += len(best)
            continue
        start = pos
        while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        word = text[start:pos]
        items.append((_TOKENS.get(word, _IDENT), word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        # In value position "in" and "notin" are ordinary words: "x in (in)" is legal.
        return (_IDENT, lit) if values and tok in ("in", "notin") else (tok, lit)

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok == _END:
                return requirements
            if tok not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            tok, lit = self.take()
            if tok == _END:
                return requirements
            if tok != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.peek()
            if tok not in (_IDENT, "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = False
        tok, lit = self.take()
        if tok == "!":
            negated = True
            tok, lit = self.take()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key_errs = is_qualified_name(lit)
        if key_errs:
            raise SelectorError(_field_error("<nil>", lit, "; ".join(key_errs)))
        if negated or self.peek()[0] in (_END, ","):
            return make_requirement(lit, Operator.DOES_NOT_EXIST if negated else Operator.EXISTS, [])
        tok, op_lit = self.take(values=False)
        if tok not in _BINARY_OPERATORS:
            raise SelectorError(f"found '{op_lit}', expected: {_BINARY_LIST}")
        operator = _BINARY_OPERATORS[tok]
        values = self.value_set() if operator in _SET_OPERATORS else self.exact_value()
        return make_requirement(lit, operator, sorted(values))

    def value_set(self) -> set[str]:
        tok, lit = self.take()
        if tok != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == ")":
            self.take()
            return {""}
        if tok not in (_IDENT, ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            tok, lit = self.take()
            if tok == _IDENT:
                values.add(lit)
                nxt, nlit = self.peek()
                if nxt == ")":
                    self.take()
                    return values
                if nxt != ",":
                    raise SelectorError(f"found '{nlit}', expected: ',' or ')'")
            elif tok == ",":
                # Empty strings between commas are values too: "(,a)", "(a,,b)", "(a,)".
                if not values:
                    values.add("")
                nxt, _ = self.peek()
                if nxt == ")":
                    values.add("")
                    self.take()
                    return values
                if nxt == ",":
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        tok, _ = self.peek()
        if tok in (_END, ","):
            return {""}
        tok, lit = self.take()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the string form of a label selector; ``""`` selects everything.

    Supported: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a)``, ``k``, ``!k``, ``k>1``, ``k<1``,
    joined by commas. Requirements are sorted by key, as Kubernetes does, so ``str()`` is canonical.

    :raises SelectorError: with Kubernetes' message, e.g. ``found 'b', expected: ',' or 'end of string'``.
    """
    requirements = _Parser(text).parse()
    requirements.sort(key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


_DICT_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` dict, as ``LabelSelectorAsSelector`` does.

    ``None`` gives :meth:`LabelSelector.nothing`; a selector without ``matchLabels`` and ``matchExpressions``
    gives :meth:`LabelSelector.everything`.

    :raises SelectorError: an unknown operator (``"Foo" is not a valid label selector operator``), a bad key
        or value, or values that do not fit the operator.
    """
    if sel is None:
        return LabelSelector.nothing()
    match_labels: Mapping[str, Any] = sel.get("matchLabels") or {}
    expressions: Sequence[Mapping[str, Any]] = sel.get("matchExpressions") or []
    requirements = [make_requirement(str(k), Operator.EQUALS, [str(v)]) for k, v in match_labels.items()]
    for expr in expressions:
        op_name = expr.get("operator")
        if op_name not in _DICT_OPERATORS:
            raise SelectorError(f"{json.dumps(op_name)} is not a valid label selector operator")
        values = expr.get("values")
        requirements.append(
            make_requirement(str(expr.get("key", "")), _DICT_OPERATORS[op_name], _strings(values, "values"))
        )
    return LabelSelector(tuple(requirements))


def _strings(values: Any, where: str) -> list[str] | None:
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SelectorError(f"{where}: must be a list of strings, got {json.dumps(values, default=str)}")
    return list(values)


# ---------------------------------------------------------------------------------------------------------
# Node selectors (node affinity, core/v1.NodeSelector): terms are ORed, requirements inside a term ANDed.

_NODE_OPERATORS = _DICT_OPERATORS | {"Gt": Operator.GT, "Lt": Operator.LT}


def node_selector_requirements(exprs: Iterable[Mapping[str, Any]] | None) -> LabelSelector:
    """Turn a term's ``matchExpressions`` (``NodeSelectorRequirement`` dicts) into a node-label selector.

    Values are not checked as label values (Kubernetes does not either); ``Gt``/``Lt`` need one integer.

    :raises SelectorError: ``"Foo" is not a valid node selector operator`` or values that do not fit.
    """
    requirements: list[Requirement] = []
    for expr in exprs or []:
        op_name = expr.get("operator")
        if op_name not in _NODE_OPERATORS:
            raise SelectorError(f"{json.dumps(op_name)} is not a valid node selector operator")
        values = _strings(expr.get("values"), "values")
        requirements.append(
            make_requirement(str(expr.get("key", "")), _NODE_OPERATORS[op_name], values, label_values=False)
        )
    return LabelSelector(tuple(requirements))


def _node_field_matches(node: Mapping[str, Any], exprs: Iterable[Mapping[str, Any]]) -> bool:
    # Kubernetes supports only metadata.name in matchFields, with In/NotIn and exactly one value.
    name = str((node.get("metadata") or {}).get("name", ""))
    for expr in exprs:
        key, op_name, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if key != "metadata.name":
            raise SelectorError(f"not a valid field selector key: {key}")
        if op_name not in ("In", "NotIn") or len(values) != 1:
            raise SelectorError(
                f"unexpected field selector requirement for metadata.name: {op_name} {values}"
            )
        if (name == values[0]) != (op_name == "In"):
            return False
    return True


def node_selector_term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Whether a Node satisfies one ``NodeSelectorTerm``; a term with no requirements matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    return node_selector_requirements(exprs).matches(labels) and _node_field_matches(node, fields)


def node_selector_matches(selector: Mapping[str, Any] | None, node: Mapping[str, Any]) -> bool:
    """Whether a Node object satisfies a ``core/v1.NodeSelector`` (any of its ``nodeSelectorTerms``).

    ``None`` (no required node affinity) matches every node; a selector with no terms matches none.

    :raises SelectorError: a term is malformed; the scheduler should treat the pod as unschedulable.
    """
    if selector is None:
        return True
    return any(node_selector_term_matches(t, node) for t in selector.get("nodeSelectorTerms") or [])


# ---------------------------------------------------------------------------------------------------------
# Field selectors.

_META_FIELDS = ("metadata.name", "metadata.namespace")

# Field labels each built-in kind accepts, keyed by (group, Kind). Kinds listed here answer an unknown label
# with "field label not supported: x"; other kinds accept only metadata.name and metadata.namespace.
_SELECTABLE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    ("", "Event"): (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    # events.k8s.io/v1 names the same stored fields differently (AddFieldLabelConversionsForEvent).
    ("events.k8s.io", "Event"): (
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "regarding.apiVersion",
        "regarding.resourceVersion",
        "regarding.fieldPath",
        "reason",
        "reportingController",
        "type",
    ),
    ("", "Node"): ("spec.unschedulable",),
    ("", "Namespace"): ("status.phase",),
    ("", "Secret"): ("type",),
    ("", "Service"): ("spec.clusterIP", "spec.type"),
    ("", "ReplicationController"): ("status.replicas",),
    ("apps", "ReplicaSet"): ("status.replicas",),
    ("batch", "Job"): ("status.successful",),
    ("certificates.k8s.io", "CertificateSigningRequest"): ("spec.signerName",),
}

_OBJECT_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
# Field labels whose value is not simply the field at that path.
_DERIVED_FIELDS: dict[tuple[str, str], dict[str, str]] = {
    ("", "Event"): {"source": "source.component", "reportingComponent": "reportingComponent"},
    # Selectors are matched against the stored (core) Event: see lws.sim.conversion.
    ("events.k8s.io", "Event"): {
        **{f"regarding.{part}": f"involvedObject.{part}" for part in _OBJECT_REFERENCE_FIELDS},
        "reportingController": "reportingComponent",
    },
}
# Booleans that Kubernetes renders as "false" when unset.
_FALSE_WHEN_UNSET = frozenset({"spec.hostNetwork", "spec.unschedulable"})


def supported_field_labels(kind: tuple[str, str], selectable_fields: Iterable[str] = ()) -> tuple[str, ...]:
    """The field labels a kind accepts in a field selector (``selectable_fields`` for CRDs, without dots)."""
    extra = tuple(f.lstrip(".") for f in selectable_fields)
    return _META_FIELDS + _SELECTABLE_FIELDS.get(kind, ()) + extra


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def field_value(obj: Mapping[str, Any], label: str, kind: tuple[str, str] | None = None) -> str:
    """The string a field selector compares for ``label`` on ``obj``; missing fields read as ``""``."""
    path = _DERIVED_FIELDS.get(kind or ("", ""), {}).get(label, label)
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            current = None
            break
        current = current.get(part)
    if current is None and label in _FALSE_WHEN_UNSET:
        return "false"
    return _render(current)


@dataclass(frozen=True)
class FieldRequirement:
    """``field=value`` (or ``field!=value`` when ``negated``)."""

    field: str
    value: str
    negated: bool = False

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field requirements; empty matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()
    kind: tuple[str, str] | None = None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether every requirement holds for the object."""
        return all((field_value(obj, r.field, self.kind) == r.value) != r.negated for r in self.requirements)

    def is_empty(self) -> bool:
        """True when the selector restricts nothing."""
        return not self.requirements

    def requires_exact_match(self, label: str) -> str | None:
        """The value ``label`` must equal for any match (``metadata.name``), or ``None`` if unconstrained."""
        for r in self.requirements:
            if r.field == label and not r.negated:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_terms(text: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape(value: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            # Go prints the rune as its code point here; keep the message identical.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _check_label(label: str, kind: tuple[str, str], selectable_fields: Iterable[str]) -> None:
    allowed = supported_field_labels(kind, selectable_fields)
    if label in allowed:
        return
    if kind in _SELECTABLE_FIELDS:
        raise SelectorError(f"field label not supported: {label}")
    only = ", ".join(json.dumps(f) for f in allowed)
    raise SelectorError(f"{json.dumps(label)} is not a known field selector: only {only}")


def parse_field_selector(
    text: str, *, kind: tuple[str, str] | None = None, selectable_fields: Iterable[str] = ()
) -> FieldSelector:
    """Parse ``?fieldSelector=``: comma-joined ``field=value``, ``field==value`` or ``field!=value`` terms.

    Values may escape ``\\``, ``,`` and ``=`` with a backslash. ``""`` selects everything.

    :param kind: ``(group, Kind)`` of the listed resource; when given, labels the kind does not support are
        rejected with Kubernetes' message (``field label not supported: spec.foo`` for kinds with their own
        table, ``"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"`` else).
    :param selectable_fields: extra labels a CRD declares in ``selectableFields`` (``.spec.color`` or
        ``spec.color``).
    :raises SelectorError: bad syntax or an unsupported field label.
    """
    fields = list(selectable_fields)
    requirements: list[FieldRequirement] = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        label, op, raw = split
        if kind is not None:
            _check_label(label, kind, fields)
        requirements.append(FieldRequirement(label, _unescape(raw), negated=op == "!="))
    return FieldSelector(tuple(requirements), kind)


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The first operator occurrence splits the term; "!=" and "==" win over "=" at the same position.
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None
