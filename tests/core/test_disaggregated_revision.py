"""The DisaggregatedSet revision equals upstream's, byte for byte: the vectors in
``data/ds_revision_vectors.json`` were computed by upstream's own Go code (ComputeRevision at 060ab4da,
k8s.io/api v0.36.3) on the stored role lists they hold. Also: Go's encoding rules the hash depends on
(field order, omitempty, canonical quantities, string escapes), and what does and does not change a
revision."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lws.api.disaggregated.defaulting import default_disaggregatedset
from lws.core.disaggregated.revision import GoJSONError, compute_revision, revision_payload
from lws.k8s.go_json import go_string, kubernetes_types
from lws.k8s.quantity import QuantityError, canonical_quantity
from tests.api.ds_api_testing import make_ds, role, sample_three_roles, sample_two_roles

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "ds_revision_vectors.json").read_text(encoding="utf-8")
)["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_revision_equals_upstreams(vector: dict[str, Any]) -> None:
    assert revision_payload(vector["roles"]) == vector["payload"]
    assert compute_revision(vector["roles"]) == vector["revision"]


def vector(name: str) -> dict[str, Any]:
    return next(v for v in VECTORS if v["name"] == name)


def test_samples_are_hashed_in_their_stored_form() -> None:
    """Upstream hashes the object as stored, with the CRD defaults (size: 1, restartPolicy...) in it."""
    assert (
        compute_revision(default_disaggregatedset(sample_two_roles())["spec"]["roles"])
        == vector("upstream-sample-two-roles")["revision"]
    )
    assert (
        compute_revision(default_disaggregatedset(sample_three_roles())["spec"]["roles"])
        == vector("upstream-sample-three-roles")["revision"]
    )
    raw = sample_two_roles()["spec"]["roles"]
    assert compute_revision(raw) != vector("upstream-sample-two-roles")["revision"]


def stored_roles(ds: dict[str, Any]) -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = default_disaggregatedset(ds)["spec"]["roles"]
    return roles


@pytest.mark.parametrize(
    "change",
    [
        lambda ds: ds["spec"]["roles"][0]["spec"].update(replicas=7),
        lambda ds: ds["spec"].update(slices=3),
        lambda ds: ds["spec"].update(placementPolicy={"type": "ExclusiveSlice", "topology": "rack"}),
        lambda ds: ds["spec"]["roles"][1].update(scaling={"mode": "External"}),
        lambda ds: ds["spec"]["roles"][0]["spec"].update(
            rolloutStrategy={"rollingUpdateConfiguration": {"maxSurge": 3}}
        ),
        lambda ds: ds["spec"]["roles"][0].update(metadata={"labels": {"team": "a"}}),
        lambda ds: ds["spec"]["roles"][0]["spec"].update(startupPolicy="LeaderReady"),
        # Unknown pod fields are dropped by Go's decoder (and by the API server's pruning).
        lambda ds: ds["spec"]["roles"][0]["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"].update(
            notAField=1
        ),
        # Equal quantities in another spelling decode to the same Go value.
        lambda ds: None,
    ],
    ids=[
        "replicas",
        "slices",
        "placement",
        "scaling",
        "rollout",
        "role-labels",
        "startup",
        "unknown",
        "none",
    ],
)
def test_what_does_not_change_the_revision(change: Any) -> None:
    ds = make_ds()
    before = compute_revision(stored_roles(ds))
    change(ds)
    assert compute_revision(stored_roles(ds)) == before


def test_equal_quantities_in_other_spellings_give_the_same_revision() -> None:
    def with_cpu(value: object) -> list[dict[str, Any]]:
        body = role("prefill")
        body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["resources"] = {
            "limits": {"cpu": value, "memory": "1Gi"}
        }
        return stored_roles(make_ds(body, role("decode")))

    assert (
        compute_revision(with_cpu("1000m"))
        == compute_revision(with_cpu("1"))
        == compute_revision(with_cpu(1))
    )
    assert compute_revision(with_cpu("1500m")) == compute_revision(with_cpu("1.5"))
    assert compute_revision(with_cpu("2")) != compute_revision(with_cpu("1"))


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r[0]["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0].update(
            image="x"
        ),
        lambda r: r[1]["spec"]["leaderWorkerTemplate"].update(size=2),
        lambda r: r[0].update(name="prefill-long"),
        lambda r: r.append(role("encode")),
        lambda r: r.reverse(),
    ],
    ids=["image", "size", "rename", "add-role", "reorder"],
)
def test_what_changes_the_revision(change: Any) -> None:
    roles = stored_roles(make_ds())
    before = compute_revision(roles)
    changed = copy.deepcopy(roles)
    change(changed)
    assert compute_revision(stored_roles(make_ds(*changed))) != before


def test_a_template_go_cannot_decode_is_an_error_naming_the_field() -> None:
    roles = stored_roles(make_ds())
    roles[1]["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": "80"}
    ]
    with pytest.raises(GoJSONError) as caught:
        compute_revision(roles)
    assert (
        caught.value.path
        == "spec.roles[1].spec.leaderWorkerTemplate.workerTemplate.spec.containers[0].ports[0].containerPort"
    )


# --- the Go encoding rules ----------------------------------------------------------------------------------


def test_go_field_order_is_not_the_python_clients_alphabetical_order() -> None:
    """Why the type table comes from Go reflection: the official client's models are alphabetical."""
    from kubernetes.client.models import V1Container

    types = kubernetes_types().types
    go_order = [name for name, _, _ in types["core/v1.Container"]]
    assert go_order[:6] == ["name", "image", "command", "args", "workingDir", "ports"]
    assert list(V1Container.attribute_map.values())[:3] == ["args", "command", "env"]
    assert [name for name, _, _ in types["core/v1.PodTemplateSpec"]] == ["metadata", "spec"]
    assert [name for name, _, _ in types["core/v1.ContainerPort"]] == [
        "name",
        "hostPort",
        "containerPort",
        "protocol",
        "hostIP",
    ]


@pytest.mark.parametrize(
    ("value", "texpr", "expected"),
    [
        ({}, "core/v1.PodTemplateSpec", '{"metadata":{},"spec":{"containers":null}}'),
        ({"spec": {"containers": []}}, "core/v1.PodTemplateSpec", '{"metadata":{},"spec":{"containers":[]}}'),
        ({"name": "c", "args": []}, "core/v1.Container", '{"name":"c","resources":{}}'),
        ({"containerPort": 80, "hostPort": 0}, "core/v1.ContainerPort", '{"containerPort":80}'),
        # A pointer to a bool keeps false; a plain bool with omitempty drops it.
        (
            {"enableServiceLinks": False, "hostNetwork": False},
            "core/v1.PodSpec",
            '{"containers":null,"enableServiceLinks":false}',
        ),
        ({"port": "http"}, "core/v1.TCPSocketAction", '{"port":"http"}'),
        ({"port": 8080}, "core/v1.TCPSocketAction", '{"port":8080}'),
        ({"labels": {"b": "2", "a": "1"}}, "meta/v1.ObjectMeta", '{"labels":{"a":"1","b":"2"}}'),
        ({"creationTimestamp": None, "name": "x"}, "meta/v1.ObjectMeta", '{"name":"x"}'),
    ],
)
def test_go_encoding_rules(value: Any, texpr: str, expected: str) -> None:
    assert kubernetes_types().marshal(value, texpr) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<a href='x'>&</a>", "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\""),
        ("line\nnext\ttab\r", '"line\\nnext\\ttab\\r"'),
        ("\b\f\x01\x7f", '"\\b\\f\\u0001\x7f"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("é😀", '"é😀"'),
        ('"\\/', '"\\"\\\\/"'),
    ],
)
def test_strings_are_escaped_as_go_escapes_them(text: str, expected: str) -> None:
    assert go_string(text) == expected


# Canonical quantities as Go's resource.Quantity re-encodes them (from the "quantities" vector, where Go
# produced the right-hand sides).
QUANTITIES = [
    ("0", "0"),
    ("00", "0"),
    ("1", "1"),
    ("+1", "+1"),
    ("1.", "1."),
    (".5", "500m"),
    ("01", "01"),
    ("1000", "1k"),
    ("1001", "1001"),
    ("1000m", "1"),
    ("0.1m", "100u"),
    ("1.5u", "1500n"),
    ("0.0000000001", "1n"),
    ("1.0000000001", "1000000001n"),
    ("1000E", "1"),
    ("1e3", "1e3"),
    ("1E3", "1E3"),
    ("1.5e3", "1500"),
    ("1e-12", "1e-9"),
    ("15e-1", "1500e-3"),
    ("1024Ki", "1Mi"),
    ("1023Ki", "1023Ki"),
    ("0.5Gi", "512Mi"),
    ("1.5Gi", "1536Mi"),
    ("0.1Ki", "102400m"),
    ("10Ei", "9223372036854775807"),
    ("0Gi", "0"),
    ("12345678901234567890", "12345678901234567890"),
    (" 2 ", "2"),
]


@pytest.mark.parametrize(("text", "expected"), QUANTITIES)
def test_canonical_quantities_match_go(text: str, expected: str) -> None:
    assert canonical_quantity(text) == expected


def test_the_quantity_table_is_the_one_go_produced() -> None:
    payload = json.loads(vector("quantities")["payload"])
    limits = payload[0]["template"]["workerTemplate"]["spec"]["containers"][0]["resources"]["limits"]
    written = vector("quantities")["roles"][0]["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"][
        "containers"
    ][0]["resources"]["limits"]
    by_input = {written[key]: limits[key] for key in written if isinstance(written[key], str)}
    for text, expected in QUANTITIES:
        assert by_input[text] == expected, text


@pytest.mark.parametrize("text", ["", "abc", "1x", "1Kii", "--1", "1e"])
def test_text_go_cannot_parse_is_not_a_quantity(text: str) -> None:
    with pytest.raises(QuantityError):
        canonical_quantity(text)


def test_group_identity_ordinal_hashes_as_unset_and_hash_rolls() -> None:
    """Upstream main (PR #987): ``groupIdentity`` sits between a role's name and template in the hashed
    struct, ``omitempty``, with ``Ordinal`` (the default) normalised to ""; so a set stored before the field
    existed keeps its revision once the API server defaults it. ``groupReplacementPolicy`` is synced in
    place (PR #1050) and never rolls."""
    roles = stored_roles(make_ds())
    unset = compute_revision(roles)

    def with_spec(**fields: str) -> list[dict[str, Any]]:
        changed = copy.deepcopy(roles)
        for r in changed:
            r["spec"].update(fields)
        return changed

    assert compute_revision(with_spec(groupIdentity="Ordinal")) == unset
    assert compute_revision(with_spec(groupIdentity="")) == unset
    assert compute_revision(with_spec(groupReplacementPolicy="Immediate")) == unset
    hashed = with_spec(groupIdentity="Hash")
    assert compute_revision(hashed) != unset
    payload = revision_payload(hashed)
    assert payload.startswith('[{"name":"prefill","groupIdentity":"Hash","template":{'), payload
