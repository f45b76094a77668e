"""Label, node and field selectors behave as apimachinery's, errors included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lws.sim.selectors import (
    FieldSelector,
    LabelSelector,
    Operator,
    SelectorError,
    field_value,
    label_selector_from_dict,
    make_requirement,
    node_selector_matches,
    node_selector_term_matches,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "front", "gpu": "4", "empty": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app = web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("missing=x", False),
        ("app in (web,db)", True),
        ("app in (db)", False),
        ("app notin (db)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("missing in (web)", False),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("app=web, !missing, tier in (front)", True),
        ("gpu>3", True),
        ("gpu>4", False),
        ("gpu<5", True),
        ("app>1", False),  # not an integer label value
        ("empty=", True),
        ("empty in (,x)", True),
        ("empty in (x,)", True),
        ("empty in ()", True),
        ("app in (in)", False),
        ("in", False),  # a key may be called "in"
        ("app in (x, web)", True),
        ("example.com/role", False),
    ],
)
def test_parse_label_selector_matches(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a = (b)", "unable to parse requirement: found '(', expected: identifier"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a (b)", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a>b", "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("-a=b", "name part must consist of alphanumeric characters"),
        ("a=-b", "a valid label must be an empty string"),
        ("x/y/z", "a valid label key must consist of"),
        ("/y", "prefix part must be non-empty"),
        ("UPPER.example/y", "prefix part a lowercase RFC 1123 subdomain"),
        ("a=" + "b" * 64, "must be no more than 63 bytes"),
    ],
)
def test_parse_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert message in str(info.value)


def test_bad_key_error_has_kubernetes_shape() -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector("a_=b")
    assert str(info.value).startswith(
        'unable to parse requirement: <nil>: Invalid value: "a_": name part must'
    )


def test_parsed_selector_is_sorted_and_canonical() -> None:
    sel = parse_label_selector("z,!y,b in (q,p,p),a=1,c notin (x),d>3")
    assert [r.key for r in sel.requirements] == ["a", "b", "c", "d", "y", "z"]
    assert str(sel) == "a=1,b in (p,q),c notin (x),d>3,!y,z"
    assert parse_label_selector(str(sel)) == sel


def test_empty_string_selects_everything() -> None:
    sel = parse_label_selector("  ")
    assert sel.is_empty()
    assert sel.matches({})
    assert sel.matches(None)


def test_dict_selector_null_matches_nothing_and_empty_everything() -> None:
    nothing = label_selector_from_dict(None)
    assert not nothing.matches({})
    assert not nothing.matches(LABELS)
    assert not nothing.is_empty()
    for everything in (label_selector_from_dict({}), label_selector_from_dict({"matchLabels": {}})):
        assert everything.is_empty()
        assert everything.matches({})
        assert everything.matches(LABELS)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "web", "tier": "back"}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "db"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, False),
        ({"matchExpressions": [{"key": "gone", "operator": "NotIn", "values": ["web"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "gone", "operator": "DoesNotExist", "values": []}]}, True),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
            },
            True,
        ),
    ],
)
def test_label_selector_from_dict(selector: dict[str, object], expected: bool) -> None:
    assert label_selector_from_dict(selector).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label',
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "values set can't be empty"),
        (
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
        ),
        ({"matchLabels": {"a b": "c"}}, 'key: Invalid value: "a b"'),
        ({"matchLabels": {"a": "c d"}}, 'values[0][a]: Invalid value: "c d"'),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}, "must be a list of strings"),
    ],
)
def test_label_selector_from_dict_errors(selector: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_dict(selector)
    assert message in str(info.value)


def test_several_errors_are_aggregated_in_brackets() -> None:
    with pytest.raises(SelectorError) as info:
        make_requirement("-bad", Operator.IN, [])
    text = str(info.value)
    assert text.startswith("[key: Invalid value")
    assert "values set can't be empty" in text
    assert text.endswith("]")


NODE = {"metadata": {"name": "node-a", "labels": {"zone": "z1", "gpus": "8", "pool": "gpu"}}}


def _term(*exprs: dict[str, object], fields: list[dict[str, object]] | None = None) -> dict[str, object]:
    term: dict[str, object] = {"matchExpressions": list(exprs)}
    if fields is not None:
        term["matchFields"] = fields
    return term


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        (_term({"key": "zone", "operator": "In", "values": ["z1", "z2"]}), True),
        (_term({"key": "zone", "operator": "NotIn", "values": ["z1"]}), False),
        (_term({"key": "zone", "operator": "Exists"}), True),
        (_term({"key": "rack", "operator": "DoesNotExist"}), True),
        (_term({"key": "gpus", "operator": "Gt", "values": ["7"]}), True),
        (_term({"key": "gpus", "operator": "Gt", "values": ["8"]}), False),
        (_term({"key": "gpus", "operator": "Lt", "values": ["9"]}), True),
        (_term({"key": "rack", "operator": "Lt", "values": ["9"]}), False),
        (
            _term(
                {"key": "zone", "operator": "Exists"}, {"key": "pool", "operator": "In", "values": ["cpu"]}
            ),
            False,
        ),
        (_term(), False),  # an empty term matches no node
        (_term(fields=[{"key": "metadata.name", "operator": "In", "values": ["node-a"]}]), True),
        (_term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["node-a"]}]), False),
        (
            _term(
                {"key": "zone", "operator": "In", "values": ["z1"]},
                fields=[{"key": "metadata.name", "operator": "In", "values": ["node-b"]}],
            ),
            False,
        ),
    ],
)
def test_node_selector_term(term: dict[str, object], expected: bool) -> None:
    assert node_selector_term_matches(term, NODE) is expected


def test_node_selector_terms_are_ored() -> None:
    miss = _term({"key": "zone", "operator": "In", "values": ["z9"]})
    hit = _term({"key": "pool", "operator": "In", "values": ["gpu"]})
    assert node_selector_matches({"nodeSelectorTerms": [miss, hit]}, NODE)
    assert not node_selector_matches({"nodeSelectorTerms": [miss]}, NODE)
    assert not node_selector_matches({"nodeSelectorTerms": []}, NODE)
    assert node_selector_matches(None, NODE)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ({"key": "a", "operator": "Bogus"}, '"Bogus" is not a valid node selector operator'),
        ({"key": "a", "operator": "Gt", "values": ["x"]}, "the value must be an integer"),
        ({"key": "a", "operator": "Gt", "values": ["1", "2"]}, "exactly one value is required"),
    ],
)
def test_node_selector_errors(expr: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        node_selector_term_matches(_term(expr), NODE)


def test_node_selector_values_need_not_be_label_values() -> None:
    term = _term({"key": "zone", "operator": "NotIn", "values": ["not a label value!"]})
    assert node_selector_term_matches(term, NODE)


POD = {
    "metadata": {"name": "p-0", "namespace": "ns"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIP": "10.0.0.1"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("metadata.name=p-0", True),
        ("metadata.name==p-0", True),
        ("metadata.name!=p-0", False),
        ("metadata.namespace=ns,status.phase=Running", True),
        ("status.phase!=Running", False),
        ("spec.nodeName=", False),
        ("spec.schedulerName=", True),  # missing reads as ""
        ("spec.hostNetwork=false", True),  # unset boolean reads as "false"
        ("status.podIP=10.0.0.1", True),
        ("spec.nodeName=node-a,status.phase=Pending", False),
    ],
)
def test_field_selector_on_pods(text: str, expected: bool) -> None:
    assert parse_field_selector(text, kind=("", "Pod")).matches(POD) is expected


def test_field_selector_escapes() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert sel.requirements[0].value == "a,b=c\\d"
    assert sel.matches({"metadata": {"name": "a,b=c\\d"}})
    assert parse_field_selector(str(sel)) == sel


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
        (r"metadata.name=a\x", r"invalid field selector: invalid escape sequence: \x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (("", "Pod"), "status.hostIP=1.2.3.4", "field label not supported: status.hostIP"),
        (("", "Secret"), "data.x=y", "field label not supported: data.x"),
        (
            ("apps", "StatefulSet"),
            "spec.replicas=1",
            '"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        (
            ("leaderworkerset.x-k8s.io", "Anything"),
            "spec.size=1",
            '"spec.size" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
    ],
)
def test_unsupported_field_labels(kind: tuple[str, str], text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text, kind=kind)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kind", "obj", "text"),
    [
        (("", "Node"), {"metadata": {"name": "n"}}, "spec.unschedulable=false"),
        (("", "Node"), {"spec": {"unschedulable": True}}, "spec.unschedulable=true"),
        (("", "Secret"), {"type": "Opaque"}, "type=Opaque"),
        (("", "Namespace"), {"status": {"phase": "Active"}}, "status.phase=Active"),
        (("", "Event"), {"source": {"component": "kubelet"}}, "source=kubelet"),
        (
            ("", "Event"),
            {
                "involvedObject": {"kind": "Pod", "name": "p-0", "uid": "u1"},
                "reason": "Started",
                "type": "Normal",
            },
            "involvedObject.kind=Pod,involvedObject.name=p-0,involvedObject.uid=u1,reason=Started,type=Normal",
        ),
        (("", "Service"), {"spec": {"type": "ClusterIP"}}, "spec.type=ClusterIP"),
        (("apps", "ReplicaSet"), {"status": {"replicas": 3}}, "status.replicas=3"),
    ],
)
def test_kind_specific_field_labels(kind: tuple[str, str], obj: dict[str, object], text: str) -> None:
    assert parse_field_selector(text, kind=kind).matches(obj)


def test_crd_selectable_fields() -> None:
    kind = ("example.com", "Widget")
    sel = parse_field_selector("spec.color=red", kind=kind, selectable_fields=[".spec.color"])
    assert sel.matches({"spec": {"color": "red"}})
    assert not sel.matches({"spec": {"color": "blue"}})


def test_requires_exact_match() -> None:
    sel = parse_field_selector("metadata.namespace!=x,metadata.name=p-0")
    assert sel.requires_exact_match("metadata.name") == "p-0"
    assert sel.requires_exact_match("metadata.namespace") is None
    assert FieldSelector().is_empty()


def test_field_value_renders_non_strings() -> None:
    assert field_value({"a": {"b": 2}}, "a.b") == "2"
    assert field_value({"a": {"b": False}}, "a.b") == "false"
    assert field_value({"a": "scalar"}, "a.b") == ""


# --- properties -------------------------------------------------------------------------------------------

_names = st.sampled_from(["a", "b", "c", "example.com/d"])
_values = st.sampled_from(["", "x", "y", "1", "22"])
_label_sets = st.dictionaries(_names, _values, max_size=4)


@st.composite
def _requirements(draw: st.DrawFn) -> tuple[str, str, tuple[str, ...]]:
    key = draw(_names)
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]))
    if op in ("in", "notin"):
        return key, op, tuple(sorted(set(draw(st.lists(_values, min_size=1, max_size=3)))))
    if op in (">", "<"):
        return key, op, (draw(st.sampled_from(["0", "5", "12"])),)
    if op in ("exists", "!"):
        return key, op, ()
    return key, op, (draw(_values),)


def _render(req: tuple[str, str, tuple[str, ...]]) -> str:
    key, op, values = req
    if op == "exists":
        return key
    if op == "!":
        return "!" + key
    if op in ("in", "notin"):
        return f"{key} {op} ({','.join(values)})"
    return f"{key}{op}{values[0]}"


def _reference(req: tuple[str, str, tuple[str, ...]], labels: dict[str, str]) -> bool:
    key, op, values = req
    if op in ("=", "==", "in"):
        return key in labels and labels[key] in values
    if op in ("!=", "notin"):
        return labels.get(key) not in values if key in labels else True
    if op == "exists":
        return key in labels
    if op == "!":
        return key not in labels
    if key not in labels or not labels[key].lstrip("-").isdigit():
        return False
    return int(labels[key]) > int(values[0]) if op == ">" else int(labels[key]) < int(values[0])


@given(st.lists(_requirements(), max_size=4), _label_sets)
def test_string_selectors_agree_with_reference_semantics(
    reqs: list[tuple[str, str, tuple[str, ...]]], labels: dict[str, str]
) -> None:
    sel = parse_label_selector(", ".join(_render(r) for r in reqs))
    assert sel.matches(labels) == all(_reference(r, labels) for r in reqs)
    # The canonical string form parses back to the same selector.
    assert parse_label_selector(str(sel)) == sel


@given(st.dictionaries(_names, _values, max_size=3), _label_sets)
def test_match_labels_is_subset_check(match_labels: dict[str, str], labels: dict[str, str]) -> None:
    sel = label_selector_from_dict({"matchLabels": match_labels})
    assert sel.matches(labels) == all(labels.get(k) == v for k, v in match_labels.items())


def test_label_selector_everything_and_nothing_constructors() -> None:
    assert LabelSelector.everything().matches({"a": "b"})
    assert not LabelSelector.nothing().matches({"a": "b"})
