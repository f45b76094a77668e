"""The `lws render` command-line contract (external tests depend on it exactly)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lws.cli.main import cli
from tests import upstream_samples

SAMPLES = upstream_samples.files()


def run(args: list[str], stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, input=stdin, catch_exceptions=False)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_upstream_sample_renders(path: Path) -> None:
    result = run(["render", "-f", str(path)])
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load(result.stdout)
    assert doc["apiVersion"] == "v1" and doc["kind"] == "List"
    source = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "LeaderWorkerSet"]
    lws_items = [i for i in doc["items"] if i["kind"] == "LeaderWorkerSet"]
    assert [i["metadata"]["name"] for i in lws_items] == [d["metadata"]["name"] for d in source]
    for lws in lws_items:
        replicas = lws["spec"]["replicas"]
        size = lws["spec"]["leaderWorkerTemplate"]["size"]
        pods = [
            i
            for i in doc["items"]
            if i["kind"] == "Pod"
            and i["metadata"]["labels"]["leaderworkerset.sigs.k8s.io/name"] == lws["metadata"]["name"]
        ]
        assert len(pods) == replicas * size
        for pod in pods:
            env = [e["name"] for e in pod["spec"]["containers"][0]["env"][:3]]
            assert env == ["LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"]


def test_output_is_byte_identical_across_runs() -> None:
    path = str(SAMPLES[0])
    first = run(["render", "-f", path]).stdout
    assert first and run(["render", "-f", path]).stdout == first
    as_json = run(["render", "-f", path, "-o", "json"]).stdout
    assert json.loads(as_json) == yaml.safe_load(first)


def test_namespace_precedence() -> None:
    text = "apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\nmetadata: {name: a%s}\nspec:\n  leaderWorkerTemplate:\n    workerTemplate: {spec: {containers: [{name: c, image: i}]}}\n"
    plain = run(["render", "-f", "-", "-n", "team"], stdin=text % "").stdout
    assert {i["metadata"]["namespace"] for i in yaml.safe_load(plain)["items"]} == {"team"}
    own = run(["render", "-f", "-", "-n", "team"], stdin=text % ", namespace: mine").stdout
    assert {i["metadata"]["namespace"] for i in yaml.safe_load(own)["items"]} == {"mine"}
    default = run(["render", "-f", "-"], stdin=text % "").stdout
    items = yaml.safe_load(default)["items"]
    assert {i["metadata"]["namespace"] for i in items} == {"default"}
    leader = next(i for i in items if i["kind"] == "Pod")
    assert leader["spec"]["containers"][0]["env"][0] == {
        "name": "LWS_LEADER_ADDRESS",
        "value": "a-0.a.default",
    }


def test_invalid_input_gives_error_lines_and_nothing_on_stdout() -> None:
    text = (
        "apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\nmetadata: {name: x}\n"
        "spec:\n  replicas: -2\n  leaderWorkerTemplate:\n    size: 0\n"
        "    workerTemplate: {spec: {containers: [{name: c, image: i}]}}\n"
    )
    result = run(["render", "-f", "-"], stdin=text)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert any(
        "spec.replicas" in line
        and "greater than or equal to 0" in line.replace("equal or greater than", "greater than or equal to")
        for line in lines
    )
    assert any("spec.leaderWorkerTemplate.size" in line for line in lines)


def test_one_bad_manifest_fails_the_whole_render() -> None:
    good = SAMPLES[0].read_text()
    bad = "---\napiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\nmetadata: {name: y}\nspec: {replicas: nope}\n"
    result = run(["render", "-f", "-"], stdin=good + bad)
    assert result.exit_code == 1 and result.stdout == ""


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    result = CliRunner().invoke(cli, ["render", "-f", "-"], input=text)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


_INTS = st.integers(min_value=-2, max_value=6)
_POLICY = st.sampled_from([None, "Shared", "UniquePerReplica"])


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    replicas=_INTS,
    size=_INTS,
    sgs=st.one_of(st.none(), _INTS),
    sg_type=st.sampled_from(["LeaderWorker", "LeaderExcluded"]),
    subdomain=_POLICY,
    surge=st.one_of(_INTS, st.sampled_from(["0%", "50%", "100%", "150%"])),
    unavailable=st.one_of(_INTS, st.sampled_from(["0%", "25%", "100%"])),
    exclusive=st.booleans(),
    leader=st.booleans(),
    tpu=st.booleans(),
)
def test_render_never_crashes_on_what_validation_accepts(**kw: Any) -> None:
    """Every spec `lws validate` accepts renders; every one it rejects gets clean error lines."""
    container: dict[str, Any] = {"name": "c", "image": "i"}
    if kw["tpu"]:
        container["resources"] = {"limits": {"google.com/tpu": "4"}}
    lwt: dict[str, Any] = {"size": kw["size"], "workerTemplate": {"spec": {"containers": [container]}}}
    if kw["leader"]:
        lwt["leaderTemplate"] = {"spec": {"containers": [{"name": "l", "image": "i"}]}}
    if kw["sgs"] is not None:
        lwt["subGroupPolicy"] = {"subGroupPolicyType": kw["sg_type"], "subGroupSize": kw["sgs"]}
    spec: dict[str, Any] = {
        "replicas": kw["replicas"],
        "leaderWorkerTemplate": lwt,
        "rolloutStrategy": {
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxSurge": kw["surge"], "maxUnavailable": kw["unavailable"]},
        },
    }
    if kw["subdomain"]:
        spec["networkConfig"] = {"subdomainPolicy": kw["subdomain"]}
    meta: dict[str, Any] = {"name": "h"}
    if kw["exclusive"]:
        meta["annotations"] = {"leaderworkerset.sigs.k8s.io/exclusive-topology": "kubernetes.io/hostname"}
    text = yaml.safe_dump(
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": meta,
            "spec": spec,
        }
    )
    valid = CliRunner().invoke(cli, ["validate", "-f", "-"], input=text)
    rendered = CliRunner().invoke(cli, ["render", "-f", "-"], input=text)
    assert rendered.exception is None or isinstance(rendered.exception, SystemExit)
    if valid.exit_code == 0:
        assert rendered.exit_code == 0, rendered.stderr
        items = yaml.safe_load(rendered.stdout)["items"]
        assert sum(1 for i in items if i["kind"] == "Pod") == kw["replicas"] * kw["size"]
    else:
        assert rendered.exit_code == 1 and rendered.stdout == ""
        assert all(line.startswith(("error: ", "note: ")) for line in rendered.stderr.splitlines())
