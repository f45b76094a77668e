"""Reading manifests as kubectl would: documents, Lists, JSON, syntax errors with a location, sorting."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lws.api import constants as c
from lws.api.loading import Manifests, load_path, load_text

LWS_DOC = f"apiVersion: {c.API_VERSION}\nkind: LeaderWorkerSet\nmetadata:\n  name: demo\n"
SERVICE_DOC = "apiVersion: v1\nkind: Service\nmetadata:\n  name: demo-leader\n"


def summary(found: Manifests) -> tuple[list[str], list[str], list[str]]:
    return (
        [d.describe() for d in found.leaderworkersets],
        [d.describe() for d in found.others],
        [str(e) for e in found.errors],
    )


@pytest.mark.parametrize(
    ("text", "lws", "others"),
    [
        ("", [], []),
        ("---\n", [], []),
        ("---\n---\n# only a comment\n", [], []),
        (LWS_DOC, ["LeaderWorkerSet default/demo"], []),
        (
            f"---\n{LWS_DOC}---\n{SERVICE_DOC}---\n",
            ["LeaderWorkerSet default/demo"],
            ["Service default/demo-leader"],
        ),
        (
            LWS_DOC.replace("name: demo", "name: demo\n  namespace: team-a"),
            ["LeaderWorkerSet team-a/demo"],
            [],
        ),
        # A List, as `kubectl get -o yaml` writes one, and a typed *List.
        (
            "apiVersion: v1\nkind: List\nitems:\n"
            f"- {{apiVersion: {c.API_VERSION}, kind: LeaderWorkerSet, metadata: {{name: a}}}}\n"
            "- {apiVersion: v1, kind: Service, metadata: {name: b}}\n",
            ["LeaderWorkerSet default/a"],
            ["Service default/b"],
        ),
        (
            f"apiVersion: {c.API_VERSION}\nkind: LeaderWorkerSetList\nitems:\n"
            f"- {{apiVersion: {c.API_VERSION}, kind: LeaderWorkerSet, metadata: {{name: a}}}}\n",
            ["LeaderWorkerSet default/a"],
            [],
        ),
        # JSON, and YAML flow style that only looks like JSON.
        (
            f'{{"apiVersion": "{c.API_VERSION}", "kind": "LeaderWorkerSet", "metadata": {{"name": "j"}}}}',
            ["LeaderWorkerSet default/j"],
            [],
        ),
        (
            f"{{apiVersion: {c.API_VERSION}, kind: LeaderWorkerSet, metadata: {{name: f}}}}\n",
            ["LeaderWorkerSet default/f"],
            [],
        ),
    ],
)
def test_documents_are_sorted(text: str, lws: list[str], others: list[str]) -> None:
    assert summary(load_text(text)) == (lws, others, [])


def test_documents_know_where_they_come_from() -> None:
    found = load_text(f"{SERVICE_DOC}---\n{LWS_DOC}", "my.yaml")
    [doc] = found.leaderworkersets
    assert (doc.source, doc.index, doc.line, doc.where) == ("my.yaml", 2, 6, "document 2 (line 6)")


def test_list_items_know_their_position() -> None:
    found = load_text(
        f"apiVersion: v1\nkind: List\nitems:\n- {{apiVersion: v1, kind: ConfigMap}}\n- {LWS_DOC!r}\n"
    )
    assert found.others[0].where == "document 1, item 1 (line 1)"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "a: [1, 2\nb: 3\n",
            "<stdin>:2:2: invalid YAML: while parsing a flow sequence: expected ',' or ']', but got ':'",
        ),
        (
            "a: 1\nb: 2\na: 3\n",
            "<stdin>:3:1: invalid YAML: while constructing a mapping: found duplicate key 'a': each key may appear "
            "once in a mapping",
        ),
        (
            "- a\n- b\n",
            "<stdin>:1: document 1: expected a Kubernetes object (a mapping with apiVersion and kind), found an array",
        ),
        (
            "just text\n",
            "<stdin>:1: document 1: expected a Kubernetes object (a mapping with apiVersion and kind), found a string",
        ),
        (
            "[1, 2]",
            "<stdin>:1: document 1: expected a Kubernetes object (a mapping with apiVersion and kind), found an array",
        ),
        (
            "metadata: {name: x}\n",
            "<stdin>:1: document 1: apiVersion and kind not set: every Kubernetes object needs apiVersion and kind",
        ),
        (
            "apiVersion: v1\nkind: 3\n",
            "<stdin>:1: document 1: kind not set: every Kubernetes object needs apiVersion and kind",
        ),
        (
            "apiVersion: leaderworkerset.x-k8s.io/v1alpha1\nkind: LeaderWorkerSet\nmetadata: {name: old}\n",
            '<stdin>:1: LeaderWorkerSet default/old: apiVersion: Unsupported value: "leaderworkerset.x-k8s.io/v1alpha1": '
            'supported values: "leaderworkerset.x-k8s.io/v1"',
        ),
        (
            "apiVersion: v1\nkind: List\nitems: [3]\n",
            "<stdin>: document 1 (line 1), item 1: expected a Kubernetes object (a mapping with apiVersion and kind), found a number",
        ),
        ("a: .nan\n", "<stdin>:1: document 1: a: nan is not a number JSON can carry"),
        ("a: !!binary aGk=\n", "<stdin>:1: document 1: a: a bytes value is not JSON data"),
        ("a: !!set {x}\n", "<stdin>:1: document 1: a: a set value is not JSON data"),
        ("? [a, b]\n: c\n", "<stdin>:1:3: invalid YAML: while constructing a mapping: found unhashable key"),
        (
            "[" * 3000,
            "<stdin>: [0][0][0][0][0][0][0][0][0][0][0][0]...: nests more than 100 objects and arrays deep; "
            "no LeaderWorkerSet field goes that deep: remove what is nested under it",
        ),
        ("\x1f", "<stdin>: invalid YAML: special characters are not allowed: character #x001f at offset 0"),
    ],
)
def test_problems_are_errors_with_a_location(text: str, error: str) -> None:
    found = load_text(text)
    assert [str(e) for e in found.errors] == [error]
    assert found.leaderworkersets == []


def test_documents_before_a_syntax_error_are_kept() -> None:
    found = load_text(f"{LWS_DOC}---\na: [\n")
    assert [d.name for d in found.leaderworkersets] == ["demo"]
    assert len(found.errors) == 1


def test_dates_stay_strings_and_keys_become_strings() -> None:
    found = load_text(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  day: 2024-01-01\n  1: one\n  true: yes\n  null: x\n"
    )
    assert found.others[0].body["data"] == {"day": "2024-01-01", "1": "one", "true": True, "null": "x"}


def test_merge_keys_may_be_overridden_and_true_and_1_stay_apart() -> None:
    text = (
        "base: &b {x: 1, y: 2}\napiVersion: v1\nkind: ConfigMap\ndata:\n  <<: *b\n  y: 3\n  1: a\n  true: b\n"
    )
    assert load_text(text).others[0].body["data"] == {"x": 1, "y": 3, "1": "a", "true": "b"}


def test_keys_that_are_not_json_are_errors() -> None:
    [error] = load_text("a: 1\n? !!binary aGk=\n: z\n").errors
    assert (
        str(error)
        == "<stdin>:2:3: invalid YAML: while constructing a mapping: found a bytes key: JSON keys are strings"
    )


def test_yaml_1_1_booleans_are_booleans_as_in_kubectl() -> None:
    body = load_text("apiVersion: v1\nkind: ConfigMap\ndata: {a: yes, b: off}\n").others[0].body
    assert body["data"] == {"a": True, "b": False}


def test_load_path_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "lws.yaml"
    path.write_text(LWS_DOC)
    [doc] = load_path(path).leaderworkersets
    assert doc.source == str(path)


def test_load_path_reads_manifests_of_a_directory_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(LWS_DOC.replace("demo", "b"))
    (tmp_path / "a.json").write_text(
        f'{{"apiVersion": "{c.API_VERSION}", "kind": "LeaderWorkerSet", "metadata": {{"name": "a"}}}}'
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    assert [d.name for d in load_path(tmp_path).leaderworkersets] == ["a", "b"]


def test_unreadable_sources_are_errors(tmp_path: Path) -> None:
    assert [str(e) for e in load_path(tmp_path / "missing.yaml").errors] == [
        f"cannot read {tmp_path / 'missing.yaml'}: No such file or directory"
    ]
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    [error] = load_path(binary).errors
    assert str(error).startswith(f"cannot read {binary}: 'utf-8' codec can't decode")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_loading_never_raises(text: str) -> None:
    found = load_text(text)
    for doc in found.leaderworkersets:
        assert doc.kind == c.KIND and doc.api_version == c.API_VERSION
    for error in found.errors:
        assert str(error)
