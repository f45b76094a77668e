"""``lws plugins``: what is installed, on or off and why, in every output format."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from lws.cli.main import cli

BUILTINS = {
    "startup_policies", "restart_policies", "exclusive_topology", "tpu", "restart_budget", "placement",
    "leader_address", "vllm", "sglang", "volcano", "coscheduling",
}  # fmt: skip


def run(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(cli, ["plugins", *args], env={"LWS_ENABLE_PLUGINS": "", **(env or {})})
    return result


def records(*args: str, env: dict[str, str] | None = None) -> dict[str, dict]:
    result = run("-o", "json", *args, env=env)
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.output)["plugins"]}


def test_json_lists_every_builtin_with_hooks_versions_and_policies():
    found = records()
    assert set(found) >= BUILTINS
    leader = found["leader_address"]
    assert leader["enabled"] is True and leader["status"] == "enabled (default)"
    assert leader["distribution"] == "lws-operator" and leader["version"]
    assert leader["module"] == "lws_builtins.leader_address"
    assert "lws_register_policies" in leader["hooks"]
    assert leader["policies"] == {"startupPolicy": ["LeaderResolvable"], "restartPolicy": []}
    assert leader["description"].startswith("``startupPolicy: LeaderResolvable``")
    assert found["restart_policies"]["policies"]["restartPolicy"] == [
        "None", "RecreateGroupAfterStart", "RecreateGroupOnPodRestart",
    ]  # fmt: skip
    assert found["volcano"]["enabled"] is False
    assert found["volcano"]["status"] == "opt-in: turn on with --enable-plugin volcano"


def test_reasons_follow_the_selection(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: config.lws.x-k8s.io/v1alpha1\nkind: Configuration\n"
        "gangSchedulingManagement: {schedulerProvider: coscheduling}\nplugins: {disable: [sglang]}\n"
    )
    found = records(
        "--config", str(config), "--enable-plugin", "volcano", "--disable-plugin", "tpu",
        env={"LWS_DISABLE_PLUGINS": "vllm"},
    )  # fmt: skip
    assert found["volcano"]["status"] == "enabled by --enable-plugin"
    assert (
        found["coscheduling"]["status"] == f"enabled in {config}: gangSchedulingManagement.schedulerProvider"
    )
    assert found["tpu"]["status"] == "disabled by --disable-plugin"
    assert found["vllm"]["status"] == "disabled by LWS_DISABLE_PLUGINS"
    assert found["sglang"]["status"] == f"disabled in {config}: plugins.disable"
    assert found["sglang"]["hooks"] == [] and found["sglang"]["enabled"] is False
    assert (
        records(env={"LWS_ENABLE_PLUGINS": "volcano"})["volcano"]["status"] == "enabled by LWS_ENABLE_PLUGINS"
    )


def test_table_is_aligned_and_unwrapped():
    result = run("--enable-plugin", "volcano")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "VERSION", "HOOKS", "POLICIES"]
    status_column = lines[0].index("STATUS")
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) >= BUILTINS
    assert all(line[status_column - 1] == " " and line[status_column] != " " for line in rows.values())
    assert "startupPolicy: LeaderCreated, LeaderReady" in rows["startup_policies"]
    assert rows["volcano"][status_column:].startswith("enabled by --enable-plugin")
    assert all(line == line.rstrip() for line in lines)


def test_one_plugin_in_full():
    result = run("placement")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Name:         placement\nStatus:       enabled (default)\n")
    assert "Module:       lws_builtins.placement\n" in result.output
    assert "placement.lws.x-k8s.io/topology" in result.output  # the documentation follows
    data = yaml.safe_load(run("placement", "-o", "yaml").output)
    assert data["name"] == "placement" and "placement.lws.x-k8s.io/mode" in data["documentation"]


def test_unknown_names_are_clean_errors():
    result = run("nope")
    assert result.exit_code == 1
    assert "error: no plugin named 'nope' is installed; installed plugins: " in result.output
    result = run("--enable-plugin", "nope")
    assert result.exit_code == 1
    assert "unknown plugin 'nope'" in result.output and "Traceback" not in result.output
