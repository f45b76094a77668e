"""The example third-party plugin (examples/lws-plugin-example), installed in the test environment, is found
through its entry point and changes what ``lws render`` prints, as the plugin guide promises."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from lws.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lws-plugin-example"


def test_lws_plugins_lists_it_with_its_distribution():
    result = CliRunner().invoke(cli, ["plugins", "rack_spread", "-o", "json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert (record["distribution"], record["module"], record["enabled"]) == (
        "lws-plugin-example",
        "lws_rack_spread",
        True,
    )
    assert "rack-spread.lws.x-k8s.io/racks" in record["documentation"]


def test_lws_render_pins_each_group_to_its_rack():
    result = CliRunner().invoke(cli, ["render", "-f", str(EXAMPLE / "rack-spread.yaml")])
    assert result.exit_code == 0, result.output
    pods = {o["metadata"]["name"]: o for o in yaml.safe_load(result.output)["items"] if o["kind"] == "Pod"}
    racks = {}
    for name, pod in pods.items():
        terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        racks[name] = terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0]
    assert racks == {
        "spread-0": "zone-a-block-0-rack-0",
        "spread-0-1": "zone-a-block-0-rack-0",
        "spread-1": "zone-b-block-0-rack-0",
        "spread-1-1": "zone-b-block-0-rack-0",
    }


def test_disabling_it_takes_its_effect_away():
    result = CliRunner().invoke(
        cli, ["render", "-f", str(EXAMPLE / "rack-spread.yaml"), "--disable-plugin", "rack_spread"]
    )
    assert result.exit_code == 0, result.output
    assert all(
        "affinity" not in o.get("spec", {})
        for o in yaml.safe_load(result.output)["items"]
        if o["kind"] == "Pod"
    )
