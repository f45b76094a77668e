"""RFC 6902 JSON patch and RFC 7386 merge patch, as the embedded API server applies them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lws.sim.patch import PatchError
from lws.sim.patch.jsonpatch import apply_json_patch
from lws.sim.patch.mergepatch import apply_merge_patch

# --- JSON patch (RFC 6902, examples from its appendix A plus Kubernetes usage) -----------------------------


@pytest.mark.parametrize(
    ("doc", "ops", "expected"),
    [
        ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"foo": "bar", "baz": "qux"}),
        (
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
        ),
        ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": "x"}], {"foo": ["bar", "x"]}),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
        ({"baz": "qux"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo"}),
        (
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        ),
        (
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
        ),
        ({"a": {"b": [1]}}, [{"op": "copy", "from": "/a/b", "path": "/c"}], {"a": {"b": [1]}, "c": [1]}),
        ({"a/b": 1, "m~n": 2}, [{"op": "replace", "path": "/a~1b", "value": 3}], {"a/b": 3, "m~n": 2}),
        ({"a/b": 1, "m~n": 2}, [{"op": "remove", "path": "/m~0n"}], {"a/b": 1}),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
        ),
        ({"foo": "bar"}, [{"op": "replace", "path": "", "value": {"x": 1}}], {"x": 1}),
        ({"foo": 1}, [{"op": "add", "path": "/foo", "value": 2}], {"foo": 2}),  # add replaces a member
        (
            {"metadata": {"resourceVersion": "7", "finalizers": ["a"]}},
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "kopf"},
            ],
            {"metadata": {"resourceVersion": "7", "finalizers": ["a", "kopf"]}},
        ),
        ({"a": [1, 2]}, [{"op": "test", "path": "/a", "value": [1, 2]}], {"a": [1, 2]}),
        ({"a": None}, [{"op": "test", "path": "/a", "value": None}], {"a": None}),
        ({}, [], {}),
    ],
)
def test_json_patch_applies(doc: Any, ops: list[dict[str, Any]], expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert apply_json_patch(doc, ops) == expected
    assert doc == before  # the input is never modified


@pytest.mark.parametrize(
    ("doc", "ops", "code", "fragment"),
    [
        ({"a": "7"}, [{"op": "test", "path": "/a", "value": "8"}], 422, "operation 0 (test /a): test failed"),
        ({"a": True}, [{"op": "test", "path": "/a", "value": 1}], 422, "test failed"),
        ({"a": 1}, [{"op": "test", "path": "/b", "value": 1}], 422, "test failed"),
        ({"a": {}}, [{"op": "remove", "path": "/a/x"}], 422, "operation 0 (remove /a/x) does not apply"),
        ({"a": {}}, [{"op": "replace", "path": "/a/x", "value": 1}], 422, "does not apply"),
        ({"a": {}}, [{"op": "add", "path": "/x/y", "value": 1}], 422, "does not apply"),
        ({"a": [1]}, [{"op": "add", "path": "/a/5", "value": 1}], 422, "does not apply"),
        ({"a": [1]}, [{"op": "add", "path": "/a/01", "value": 1}], 422, "does not apply"),
        ({"a": [1]}, [{"op": "remove", "path": "/a/-"}], 422, "does not apply"),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b"}], 422, "does not apply"),
        (
            {"a": 1},
            [{"op": "add", "path": "/b", "value": 1}, {"op": "remove", "path": "/zzz"}],
            422,
            "operation 1 (remove /zzz)",
        ),
        ({"a": 1}, [{"op": "bogus", "path": "/a"}], 400, "invalid JSON patch"),
        ({"a": 1}, [{"path": "/a"}], 400, "invalid JSON patch"),
        ({"a": 1}, [{"op": "add", "path": "/a"}], 400, "'value'"),
        ({"a": 1}, [{"op": "add", "path": 5, "value": 1}], 400, "invalid JSON patch"),
        ({"a": 1}, {"op": "add", "path": "/a", "value": 1}, 400, "must be a list of operations"),
    ],
)
def test_json_patch_errors(doc: Any, ops: Any, code: int, fragment: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch(doc, ops)
    assert info.value.code == code
    assert fragment in str(info.value)


def test_json_patch_failure_leaves_input_untouched() -> None:
    doc = {"a": [1], "b": 2}
    with pytest.raises(PatchError):
        apply_json_patch(doc, [{"op": "add", "path": "/a/-", "value": 9}, {"op": "remove", "path": "/x"}])
    assert doc == {"a": [1], "b": 2}


def test_json_patch_copy_does_not_alias() -> None:
    result = apply_json_patch({"a": {"x": [1]}}, [{"op": "copy", "from": "/a", "path": "/b"}])
    result["b"]["x"].append(2)
    assert result["a"] == {"x": [1]}


# --- merge patch (RFC 7386 appendix A) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        (None, {"metadata": {"labels": {"x": "y"}}}, {"metadata": {"labels": {"x": "y"}}}),
    ],
)
def test_merge_patch_rfc7386_examples(doc: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert apply_merge_patch(doc, patch) == expected
    assert doc == before


def test_merge_patch_result_shares_nothing_with_patch() -> None:
    patch = {"spec": {"items": [1, 2]}}
    result = apply_merge_patch({}, patch)
    result["spec"]["items"].append(3)
    assert patch == {"spec": {"items": [1, 2]}}


@pytest.mark.parametrize("patch", [{"a": {1, 2}}, {"a": [b"x"]}, {1: "a"}])
def test_merge_patch_rejects_non_json(patch: Any) -> None:
    with pytest.raises(PatchError) as info:
        apply_merge_patch({}, patch)
    assert info.value.code == 400


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=10,
)
_objects = st.dictionaries(st.text(max_size=2), _json, max_size=4)


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


@given(_objects, _objects)
def test_merge_patch_is_idempotent(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    once = apply_merge_patch(doc, patch)
    assert apply_merge_patch(once, patch) == once


@given(_objects)
def test_merge_patch_onto_empty_drops_nulls(patch: dict[str, Any]) -> None:
    assert apply_merge_patch({}, patch) == _strip_nulls(patch)
