"""The CLI's YAML: what `lws render` and `lws manifests` print."""

from __future__ import annotations

import yaml

from lws.cli.yaml_output import to_yaml, to_yaml_documents


def test_multi_line_strings_print_as_literal_blocks():
    assert to_yaml({"config": "a: 1\nb: 2\n"}) == "config: |\n  a: 1\n  b: 2\n"


def test_shared_sub_objects_print_in_full_without_anchors():
    shared = {"app": "x"}
    text = to_yaml({"first": shared, "second": shared})
    assert "&" not in text and "*" not in text
    assert yaml.safe_load(text) == {"first": {"app": "x"}, "second": {"app": "x"}}


def test_keys_keep_the_objects_own_order():
    assert to_yaml({"kind": "List", "apiVersion": "v1"}) == "kind: List\napiVersion: v1\n"


def test_one_document_keeps_non_ascii_text():
    assert to_yaml({"note": "größe"}) == "note: größe\n"


def test_documents_each_start_with_a_marker():
    text = to_yaml_documents([{"kind": "A"}, {"kind": "B"}])
    assert text == "---\nkind: A\n---\nkind: B\n"
    assert list(yaml.safe_load_all(text)) == [{"kind": "A"}, {"kind": "B"}]
