"""Bad input at the door (issue 10): generated invalid and hostile LeaderWorkerSets, sent to the API server
(the embedded cluster with the CRD and the operator's webhooks registered) and to ``lws validate``.

Every case starts from a valid set and breaks it one way: a wrong type, a null, a huge number, a unicode or
over-long name, an unknown field, an invalid enum or percentage, a malformed pod template, deep nesting. It is
sent as ``kubectl`` sends it (``fieldValidation=Strict``) and checked with ``lws validate``. What must hold:

* the API server never answers 5xx; a refusal is a 4xx whose message names a field;
* ``lws validate`` gives the cluster's verdict (both accept, or both refuse);
* what the cluster accepted, ``lws validate`` also accepts as stored (no invalid object is stored);
* the operator logs no traceback while it admits, and reconciles, all of it.

Fixed seed (``derandomize``), bounded by ``max_examples``; the figures are printed in pytest's summary
(its "figures" section, tests/conftest.py), failing or not.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lws.api import constants as c
from lws.cli.main import cli
from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.hooks.manager import make_hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.runner import EmbeddedCluster

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

CRD = Path(__file__).resolve().parents[2] / "crds" / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
NAMESPACES = ("", "v1", "namespaces")
NAMESPACE = "fuzz"
DEEP = "__deep__"  # stands for a deeply nested value, spliced into the JSON text (json.dumps would recurse)

BASE: dict[str, Any] = {
    "apiVersion": c.API_VERSION,
    "kind": c.KIND,
    "metadata": {"name": "base", "labels": {"app": "fuzz"}, "annotations": {"note": "x"}},
    "spec": {
        "replicas": 2,
        "startupPolicy": "LeaderCreated",
        "rolloutStrategy": {
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0, "partition": 0},
        },
        "networkConfig": {"subdomainPolicy": "Shared"},
        "leaderWorkerTemplate": {
            "size": 2,
            "restartPolicy": "RecreateGroupOnPodRestart",
            "leaderTemplate": {
                "metadata": {"labels": {"role": "leader"}},
                "spec": {"containers": [{"name": "leader", "image": "nginx"}]},
            },
            "workerTemplate": {
                "metadata": {"labels": {"role": "worker"}},
                "spec": {
                    "containers": [
                        {
                            "name": "worker",
                            "image": "nginx",
                            "ports": [{"containerPort": 8080}],
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                            "env": [{"name": "A", "value": "b"}],
                        }
                    ],
                    "nodeSelector": {"pool": "a"},
                },
            },
        },
    },
}


# --- cases -------------------------------------------------------------------------------------------------


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*path, i))


PATHS = [p for p, _ in _paths(BASE) if p and p[0] not in ("apiVersion", "kind")]
OBJECT_PATHS = [p for p, v in _paths(BASE) if isinstance(v, dict) and p and p[0] != "metadata"]
WRONG = [None, True, -1, 0, 1.5, 2**31, 2**63, -(2**63) - 1, 1e308, "", "x", "ü" * 3, [], ["x"], {}, {"x": 1}]
NAMES = ["Bad_Name", "a" * 300, "ünïcödé", "-lead", "x" * 64, "a.b", "🙂", "name\nnewline"]
ENUMS = {
    ("spec", "startupPolicy"): ["leadercreated", "Nope", ""],
    ("spec", "leaderWorkerTemplate", "restartPolicy"): ["Always", "none", ""],
    ("spec", "networkConfig", "subdomainPolicy"): ["Unique", "shared", ""],
    ("spec", "rolloutStrategy", "type"): ["Recreate", "OnDelete"],
}
# 150 and 480 reach the webhooks' depth guard; 1,000 and 5,000 the embedded cluster's walk limit (Kubernetes
# decodes them and its webhooks refuse); 20,000 the JSON decoders' own 10,000.
DEPTHS = [150, 480, 1_000, 5_000, 20_000]
PERCENT = ["150%", "-1%", "%", "abc%", "1.5%", "25", " 25%", "25 %", "2147483648%"]
PERCENT_PATHS = [
    ("spec", "rolloutStrategy", "rollingUpdateConfiguration", "maxUnavailable"),
    ("spec", "rolloutStrategy", "rollingUpdateConfiguration", "maxSurge"),
]
CONTAINER = ("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "containers", 0)
POD_TEMPLATE_BREAKS: list[tuple[tuple[Any, ...], Any]] = [
    (("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "containers"), []),
    (("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "containers"), {"name": "x"}),
    ((*CONTAINER, "ports"), [{"containerPort": 1}, {"containerPort": 1}]),
    ((*CONTAINER, "ports", 0, "containerPort"), "http"),
    ((*CONTAINER, "resources", "limits", "cpu"), "lots"),
    ((*CONTAINER, "resources", "limits", "memory"), [1]),
    ((*CONTAINER, "env", 0, "valueFrom"), {"fieldRef": {"apiVersion": "v1"}}),
    ((*CONTAINER, "name"), None),
    (("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "restartPolicy"), ["Always"]),
    (("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "tolerations"), [{"tolerationSeconds": "x"}]),
    (("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "nodeSelector", "pool"), 7),
    (("spec", "leaderWorkerTemplate", "leaderTemplate", "spec", "containers", 0, "image"), {"a": 1}),
    (("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "volumes"), [{"name": "v", "emptyDir": []}]),
]


@dataclass(frozen=True)
class Case:
    kind: str
    path: tuple[Any, ...]
    value: Any
    depth: int = 0


def _cases() -> st.SearchStrategy[Case]:
    return st.one_of(
        st.builds(Case, st.just("wrong type"), st.sampled_from(PATHS), st.sampled_from(WRONG)),
        st.builds(Case, st.just("null"), st.sampled_from(PATHS), st.none()),
        st.builds(
            Case,
            st.just("huge number"),
            st.sampled_from([("spec", "replicas"), ("spec", "leaderWorkerTemplate", "size"), *PERCENT_PATHS]),
            st.sampled_from([2**31, 2**53 + 1, 2**64, -(2**31) - 1, 10**30, 1e20]),
        ),
        st.builds(Case, st.just("name"), st.just(("metadata", "name")), st.sampled_from(NAMES)),
        st.builds(
            Case,
            st.just("unknown field"),
            st.sampled_from(OBJECT_PATHS).map(lambda p: (*p, "unknownField")),
            st.sampled_from(["x", 1, {"a": 1}]),
        ),
        st.sampled_from([(p, v) for p, values in ENUMS.items() for v in values]).map(
            lambda pv: Case("invalid enum", pv[0], pv[1])
        ),
        st.builds(
            Case, st.just("invalid percentage"), st.sampled_from(PERCENT_PATHS), st.sampled_from(PERCENT)
        ),
        st.sampled_from(POD_TEMPLATE_BREAKS).map(lambda pv: Case("pod template", pv[0], pv[1])),
        st.builds(
            Case,
            st.just("deep nesting"),
            st.sampled_from(OBJECT_PATHS).map(lambda p: (*p, "nested")),
            st.just(DEEP),
            st.sampled_from(DEPTHS),
        ),
    )


#: The classes of hostile input the issue lists, each drawn in every run (checked at the end).
KINDS = (
    "wrong type",
    "null",
    "huge number",
    "name",
    "unknown field",
    "invalid enum",
    "invalid percentage",
    "pod template",
    "deep nesting",
)
#: Sent in every run, whatever the generator draws: each hostile name, and each depth inside a pod template
#: (the mutating webhook once failed with RecursionError at about 480 levels there).
EXPLICIT = [Case("name", ("metadata", "name"), name) for name in NAMES] + [
    Case("deep nesting", ("spec", "leaderWorkerTemplate", "workerTemplate", "spec", "nested"), DEEP, depth)
    for depth in DEPTHS
]


def _build(case: Case, name: str) -> str:
    """The case as JSON text."""
    obj = json.loads(json.dumps(BASE))
    obj["metadata"]["name"] = name
    target = obj
    for key in case.path[:-1]:
        target = target[key]
    target[case.path[-1]] = case.value
    text = json.dumps(obj, ensure_ascii=False)
    if case.value == DEEP:
        deep = '{"a":' * case.depth + "{}" + "}" * case.depth
        text = text.replace(json.dumps(DEEP), deep, 1)
    return text


# --- the cluster and the operator --------------------------------------------------------------------------


class _Tracebacks(logging.Handler):
    """Log records of the operator (and kopf) that carry a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "Traceback" in record.getMessage():
            self.records.append(record)


@dataclass
class Door:
    url: str
    stats: Counter[str] = field(default_factory=Counter)
    disagreements: list[str] = field(default_factory=list)
    seen: int = 0


@pytest.fixture
def door(tmp_path: Path) -> Iterator[tuple[Door, _Tracebacks]]:
    tracebacks = _Tracebacks()
    for name in ("lws", "kopf"):
        logging.getLogger(name).addHandler(tracebacks)
    try:
        with EmbeddedCluster() as cluster:
            cluster.sync.create(CRDS, None, yaml.safe_load(CRD.read_text(encoding="utf-8")))
            cluster.sync.create(NAMESPACES, None, {"metadata": {"name": NAMESPACE}})
            kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
            settings_ = settings_for_tests(kubeconfig=str(kubeconfig))
            with InProcessOperator(settings_, make_hooks(), connect=connect):
                yield Door(cluster.url), tracebacks
    finally:
        for name in ("lws", "kopf"):
            logging.getLogger(name).removeHandler(tracebacks)


def _post(url: str, text: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/apis/{c.GROUP}/{c.VERSION}/namespaces/{NAMESPACE}/{c.PLURAL}?fieldValidation=Strict",
        data=text.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        body = refused.read()
        try:
            return refused.code, json.loads(body)
        except ValueError:
            return refused.code, {"message": body.decode(errors="replace")}


def _lws_validate(text: str) -> tuple[bool, str]:
    result = CliRunner().invoke(cli, ["validate", "-n", NAMESPACE, "-f", "-"], input=text)
    assert result.exit_code in (0, 1), f"lws validate exited {result.exit_code}: {result.output}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code == 0, result.stderr


_FIELD = re.compile(r"(spec|metadata)(\.[A-Za-z]|\b)|\.[a-zA-Z]+(\[\d+\])?: ")


def _refused_before_decoding(status: dict[str, Any]) -> bool:
    """Bodies too deep to decode have no field to name: Kubernetes' decoders stop at 10,000 levels (400,
    "exceeded max depth") and the embedded cluster's walk sooner (413); each says the body nests too deeply."""
    message = str(status.get("message") or "")
    return status.get("code") in (400, 413) and (
        "exceeded max depth" in message or "nests too deeply" in message
    )


def _names_a_field(status: dict[str, Any]) -> bool:
    message = str(status.get("message") or "")
    causes = (status.get("details") or {}).get("causes") or []
    return bool(_FIELD.search(message)) or any(cause.get("field") for cause in causes)


# --- the test ----------------------------------------------------------------------------------------------

MAX_EXAMPLES = 160


def _send(state: Door, case: Case) -> None:
    """One case through the API server and ``lws validate``; asserts what must hold for it."""
    state.seen += 1
    name = f"case-{state.seen}"
    text = _build(case, name if case.path != ("metadata", "name") else str(case.value))
    code, status = _post(state.url, text)
    valid, said = _lws_validate(text)
    state.stats[f"{code // 100}xx"] += 1
    state.stats[case.kind] += 1
    what = f"{case.kind} at {'.'.join(map(str, case.path))} = {str(case.value)[:40]!r} (depth {case.depth})"
    assert code < 500, f"{what}: the API server answered {code}: {status.get('message')}"
    if code >= 400 and not _refused_before_decoding(status):
        assert _names_a_field(status), f"{what}: {code} without a field: {status.get('message')}"
    accepted = 200 <= code < 300
    if accepted != valid:
        state.disagreements.append(f"{what}: cluster {code}, lws validate {'ok' if valid else said.strip()}")
    assert accepted == valid, state.disagreements[-1]
    if accepted:
        stored, _ = _lws_validate(json.dumps(status))
        assert stored, f"{what}: the cluster stored an object lws validate refuses"


def test_hostile_leaderworkersets_get_a_4xx_naming_the_field_and_lws_validate_agrees(
    door: tuple[Door, _Tracebacks], record_property: pytest.RecordProperty
) -> None:
    """Every generated case, then what holds over the whole run (no operator traceback), in one test: the
    figures and the traceback check need the cases' run, whichever worker or order pytest picks."""
    state, tracebacks = door

    def send(case: Case) -> None:
        _send(state, case)

    for case in EXPLICIT:
        send = example(case=case)(send)
    each = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None)(
        given(case=_cases())(send)
    )

    try:
        each()
    finally:
        record_property(
            "figures",
            f"fuzz: {state.seen} cases ({', '.join(f'{k} {v}' for k, v in sorted(state.stats.items()))}); "
            f"5xx={state.stats['5xx']}, disagreements={len(state.disagreements)}, "
            f"operator tracebacks={len(tracebacks.records)}",
        )
    assert state.seen >= MAX_EXAMPLES + len(EXPLICIT), "every explicit and generated case was sent"
    assert set(KINDS) <= set(state.stats), f"classes never drawn: {set(KINDS) - set(state.stats)}"
    assert state.stats["5xx"] == 0 and not state.disagreements
    assert not tracebacks.records, [r.getMessage() for r in tracebacks.records]
