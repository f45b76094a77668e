"""`lws render` and `lws validate` with DisaggregatedSets: every object a set leads to, through the
controller's builders and the LeaderWorkerSet render path; upstream's rules and warnings as `error:` and
`warning:` lines; a role whose child LeaderWorkerSet would be rejected is rejected with the child's error."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from lws.api.disaggregated import constants as d
from lws.api.disaggregated.defaulting import default_disaggregatedset
from lws.cli.main import cli
from lws.core.disaggregated.children import child_labels
from lws.core.disaggregated.revision import compute_revision
from tests.api.ds_api_testing import make_ds, role, sample_three_roles, sample_two_roles


def run(args: list[str], stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, input=stdin, catch_exceptions=False)


def write(tmp_path: Path, *docs: dict[str, Any]) -> Path:
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def render(tmp_path: Path, *docs: dict[str, Any]) -> list[dict[str, Any]]:
    result = run(["render", "-f", str(write(tmp_path, *docs))])
    assert result.exit_code == 0, result.stderr
    items: list[dict[str, Any]] = yaml.safe_load(result.stdout)["items"]
    return items


def test_the_two_role_sample_renders_every_child_and_what_each_leads_to(tmp_path: Path) -> None:
    ds = sample_two_roles()
    items = render(tmp_path, ds)
    revision = compute_revision(default_disaggregatedset(ds)["spec"]["roles"])
    assert items[0]["kind"] == "DisaggregatedSet" and items[0]["spec"]["slices"] == 2
    children = [i for i in items if i["kind"] == "LeaderWorkerSet"]
    assert [c["metadata"]["name"] for c in children] == [
        f"disaggregatedset-sample-{s}-{revision}-{r}" for s in (0, 1) for r in ("prefill", "decode")
    ]
    for child in children:
        labels = child["metadata"]["labels"]
        role_name, slice_index = labels[d.ROLE_LABEL], int(labels[d.SLICE_LABEL])
        assert labels == child_labels("disaggregatedset-sample", slice_index, revision, role_name)
        assert child["metadata"]["ownerReferences"][0]["kind"] == "DisaggregatedSet"
        # The child went through LeaderWorkerSet admission: the webhook's defaults are there.
        assert child["spec"]["networkConfig"] == {"subdomainPolicy": "Shared"}
        assert child["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"] == {
            "maxUnavailable": 1,
            "maxSurge": 0,
            "partition": 0,
        }
        assert child["spec"]["replicas"] == 2
    pods = [i for i in items if i["kind"] == "Pod"]
    assert len(pods) == 2 * 2 * 2  # slices x roles x groups of size 1
    for pod in pods:
        assert pod["metadata"]["labels"][d.SET_NAME_LABEL] == "disaggregatedset-sample"
        assert pod["metadata"]["labels"]["role"] in ("prefill", "decode")  # the user's template label
    services = [i for i in items if i["kind"] == "Service" and i["metadata"]["name"].endswith("-prv")]
    assert sorted(s["metadata"]["name"] for s in services) == sorted(
        f"{c['metadata']['name']}-prv" for c in children
    )
    assert all(s["spec"] == {"clusterIP": "None", "selector": s["metadata"]["labels"]} for s in services)


def test_render_uses_the_lws_render_path_for_each_child(tmp_path: Path) -> None:
    ds = sample_three_roles()
    items = render(tmp_path, ds)
    children = [i for i in items if i["kind"] == "LeaderWorkerSet"]
    lws_alone = [
        i for i in render(tmp_path, *(copy.deepcopy(c) for c in children)) if i["kind"] != "DisaggregatedSet"
    ]
    from_ds = [
        i
        for i in items
        if i["kind"] not in ("DisaggregatedSet",) and not i["metadata"]["name"].endswith("-prv")
    ]
    assert from_ds == lws_alone
    prefill = children[0]
    assert prefill["spec"]["leaderWorkerTemplate"]["size"] == 2
    sts = [i["metadata"]["name"] for i in items if i["kind"] == "StatefulSet"]
    assert sts[:2] == [prefill["metadata"]["name"], f"{prefill['metadata']['name']}-0"]


def test_render_is_deterministic_and_speaks_json(tmp_path: Path) -> None:
    path = write(tmp_path, sample_two_roles())
    first = run(["render", "-f", str(path)]).stdout
    assert run(["render", "-f", str(path)]).stdout == first
    as_json = json.loads(run(["render", "-f", str(path), "-o", "json"]).stdout)
    assert as_json == yaml.safe_load(first)


def test_external_roles_render_their_scaler_and_one_group(tmp_path: Path) -> None:
    prefill = role("prefill", 3)
    prefill["scaling"] = {"mode": "External"}
    result = run(["render", "-f", str(write(tmp_path, make_ds(prefill, role("decode", 2))))])
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "spec.replicas is ignored" in result.stderr
    items = yaml.safe_load(result.stdout)["items"]
    [scaler] = [i for i in items if i["kind"] == d.SCALER_KIND]
    assert (scaler["metadata"]["name"], scaler["spec"]) == ("demo-prefill", {"replicas": 1})
    replicas = {
        i["metadata"]["labels"][d.ROLE_LABEL]: i["spec"]["replicas"]
        for i in items
        if i["kind"] == "LeaderWorkerSet"
    }
    assert replicas == {"prefill": 1, "decode": 2}


def test_placement_reaches_the_pods(tmp_path: Path) -> None:
    items = render(
        tmp_path, make_ds(placementPolicy={"type": "ExclusiveTopology", "topology": "example.com/rack"})
    )
    pods = [i for i in items if i["kind"] == "Pod"]
    assert pods
    for pod in pods:
        affinity = pod["spec"]["affinity"]
        assert affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
            "topologyKey"
        ] == ("example.com/rack")
        assert len(affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]) == 2


def test_validate_counts_both_kinds(tmp_path: Path) -> None:
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "plain"},
        "spec": {
            "leaderWorkerTemplate": {
                "workerTemplate": {"spec": {"containers": [{"name": "m", "image": "i"}]}}
            }
        },
    }
    result = run(["validate", "-f", str(write(tmp_path, lws, sample_two_roles()))])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == ["ok: 1 LeaderWorkerSet and 1 DisaggregatedSet valid"]
    result = run(["validate", "-f", str(write(tmp_path, sample_two_roles(), sample_three_roles()))])
    assert result.stderr.splitlines() == ["ok: 2 DisaggregatedSets valid"]


def test_validate_reports_upstreams_rules_as_error_lines(tmp_path: Path) -> None:
    body = role("prefill", 2)
    body["spec"]["rolloutStrategy"] = {"rollingUpdateConfiguration": {"partition": 1}}
    path = write(tmp_path, make_ds(body, role("decode", 2), name="bad"))
    result = run(["validate", "-f", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}: DisaggregatedSet default/bad: spec.roles[0].spec.rolloutStrategy.rollingUpdateConfiguration"
        ".partition: Forbidden: partition is not supported by DisaggregatedSet; rolling updates are managed across "
        "roles by the DisaggregatedSet controller"
    ]
    assert result.stdout == ""


def test_a_role_whose_child_would_be_rejected_is_rejected(tmp_path: Path) -> None:
    body = role("prefill", 2)
    body["spec"]["leaderWorkerTemplate"]["size"] = 5
    body["spec"]["leaderWorkerTemplate"]["subGroupPolicy"] = {"subGroupSize": 3}
    path = write(tmp_path, make_ds(body, role("decode", 2)))
    result = run(["validate", "-f", str(path)])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "spec.roles[0].spec.leaderWorkerTemplate.subGroupPolicy.subGroupSize" in line
    assert "size or size - 1 must be divisible by subGroupSize" in line
    assert "(in the child LeaderWorkerSet demo-0-" in line
    assert run(["render", "-f", str(path)]).exit_code == 1


def test_a_pod_template_go_could_not_decode_is_an_error(tmp_path: Path) -> None:
    body = role("prefill")
    body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": "eighty"}
    ]
    result = run(["validate", "-f", str(write(tmp_path, make_ds(body, role("decode"))))])
    assert result.exit_code == 1
    assert (
        "spec.roles[0].spec.leaderWorkerTemplate.workerTemplate.spec.containers[0].ports[0].containerPort"
        in (result.stderr)
    )


@pytest.mark.parametrize("api_version", ["disaggregatedset.x-k8s.io/v1alpha1", "leaderworkerset.x-k8s.io/v1"])
def test_a_wrong_api_version_is_an_error(tmp_path: Path, api_version: str) -> None:
    ds = make_ds()
    ds["apiVersion"] = api_version
    result = run(["validate", "-f", str(write(tmp_path, ds))])
    assert result.exit_code == 1
    assert 'apiVersion: Unsupported value: "' in result.stderr
    assert 'supported values: "disaggregatedset.x-k8s.io/v1"' in result.stderr


def test_role_scaler_documents_are_noted(tmp_path: Path) -> None:
    scaler = {
        "apiVersion": d.API_VERSION,
        "kind": d.SCALER_KIND,
        "metadata": {"name": "x"},
        "spec": {"replicas": 2},
    }
    result = run(["validate", "-f", str(write(tmp_path, scaler))])
    assert result.exit_code == 0
    assert (
        "DisaggregatedSetRoleScaler is not a LeaderWorkerSet or DisaggregatedSet; not checked"
        in result.stderr
    )
