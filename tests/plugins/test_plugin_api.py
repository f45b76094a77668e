"""``lws.plugin``, the plugin authors' API: complete, versioned, the only thing plugins import; and the CRD
built from the plugins installed where ``lws crd``/``lws manifests`` run."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import lws.plugin
from lws.api.crd import CRD_FILE_NAME
from lws.cli.main import cli
from tests.plugins import api_surface

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted(
    [*(ROOT / "plugins" / "lws_builtins").glob("*.py"), *(ROOT / "examples").glob("*/src/*/*.py")]
)
THIRD_PARTY_POLICY = "RecreateGroupOnPodFailure"


def test_the_api_is_versioned() -> None:
    major, minor = lws.plugin.API_VERSION
    assert (major, minor) >= (1, 0)
    assert "Compatibility promise" in (lws.plugin.__doc__ or "")
    assert f"* {major}.{minor}:" in (lws.plugin.__doc__ or ""), "the docstring's History names this version"


def _version(key: str) -> tuple[int, int]:
    major, minor = key.split(".")
    return int(major), int(minor)


def test_the_recorded_surface_is_this_version_exactly() -> None:
    versions = api_surface.recorded()
    latest = max(versions, key=_version)
    assert _version(latest) == lws.plugin.API_VERSION, (
        f"API_VERSION is {lws.plugin.API_VERSION} but {api_surface.RECORD.name} records {latest} last"
    )
    now = api_surface.current()
    added = api_surface.missing(now, versions[latest])
    assert not added, (
        f"the plugin API grew ({added}) without a new version: bump lws.plugin.API_VERSION's minor, add it to "
        "the docstring's History and run `python tests/plugins/api_surface.py MAJOR.MINOR`"
    )
    assert not api_surface.missing(versions[latest], now)


def test_nothing_recorded_for_this_major_version_has_gone() -> None:
    major, _ = lws.plugin.API_VERSION
    now = api_surface.current()
    same_major = [key for key in api_surface.recorded() if _version(key)[0] == major]
    assert len(same_major) >= 2, same_major  # 1.0 and 1.1 at least: the check has history to hold to
    for key in same_major:
        gone = api_surface.missing(api_surface.recorded()[key], now)
        assert not gone, (
            f"removed since {key} (a major bump, announced a minor ahead by a DeprecationWarning): {gone}"
        )


def test_the_surface_check_sees_a_removal() -> None:
    now = api_surface.current()
    fewer = {kind: {key: [i for i in items if i != "restart_trigger"] for key, items in entries.items()}
             for kind, entries in now.items()}  # fmt: skip
    assert api_surface.missing(now, fewer) == ["names: lws.plugin.restart_trigger"]
    assert "hooks: lws_mutate_pod.ctx" in api_surface.missing(
        now, {**now, "hooks": {**now["hooks"], "lws_mutate_pod": ["pod"]}}
    )


def test_the_deprecated_pod_failure_warns_and_still_answers() -> None:
    pod = {
        "metadata": {"name": "p", "deletionTimestamp": "2026-12-05T00:00:00Z"},
        "status": {"phase": "Running"},
    }
    with pytest.warns(DeprecationWarning, match="restart_trigger"):
        first = lws.plugin.pod_failure(pod)
    assert first == lws.plugin.pod_failures(pod)[0]
    assert first is not None and first.kind == "deleted"


@pytest.mark.parametrize("module", ["lws.plugin", "lws.plugin.settings", "lws.plugin.resources", "lws.plugin.gang",
                                    "lws.plugin.names"])  # fmt: skip
def test_every_exported_name_exists_and_is_documented(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__, f"{module} has no module docstring"
    names = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
    for name in names:
        value = getattr(mod, name)
        if callable(value) and getattr(value, "__module__", "").startswith("lws"):
            assert value.__doc__, f"{module}.{name} has no docstring"


def test_plugin_sources_are_found() -> None:
    assert len(PLUGIN_SOURCES) >= 15, PLUGIN_SOURCES


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_plugins_import_only_lws_plugin_and_the_standard_library() -> None:
    # The import-linter contract says the same for whole packages; this names the file and the import.
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in PLUGIN_SOURCES
        for name in _imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in {"lws_builtins", "lws_rack_spread"}
        and name != "lws.plugin"
        and not name.startswith("lws.plugin.")
    }
    assert not wrong, sorted(wrong)


def _restart_enum(crd: dict[str, Any]) -> list[str]:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    template = schema["properties"]["spec"]["properties"]["leaderWorkerTemplate"]
    return list(template["properties"]["restartPolicy"]["enum"])


def _crd_of(args: list[str], name: str = "leaderworkersets.leaderworkerset.x-k8s.io") -> dict[str, Any]:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    # `lws manifests` carries several CRDs (DisaggregatedSet, LeaderWorkerSetOperator): pick one by name.
    [crd] = [
        d
        for d in yaml.safe_load_all(result.stdout)
        if d and d["kind"] == "CustomResourceDefinition" and d["metadata"]["name"] == name
    ]
    return dict(crd)


@pytest.mark.parametrize("command", [["crd"], ["manifests"]])
def test_an_enabled_third_party_policy_value_joins_the_crd_enum(command: list[str]) -> None:
    assert THIRD_PARTY_POLICY not in _restart_enum(_crd_of(command))
    enabled = _crd_of([*command, "--enable-plugin", "rack_spread_restart"])
    assert THIRD_PARTY_POLICY in _restart_enum(enabled)
    assert "RecreateGroupOnPodRestart" in _restart_enum(enabled)
    if command == ["manifests"]:
        # A DisaggregatedSet role's spec is a LeaderWorkerSet spec: its enum follows the plugins too.
        ds = _crd_of(
            [*command, "--enable-plugin", "rack_spread_restart"],
            "disaggregatedsets.disaggregatedset.x-k8s.io",
        )
        schema = ds["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        role_spec = schema["properties"]["spec"]["properties"]["roles"]["items"]["properties"]["spec"]
        template = role_spec["properties"]["leaderWorkerTemplate"]
        assert THIRD_PARTY_POLICY in template["properties"]["restartPolicy"]["enum"]


def test_manifests_carry_the_crd_lws_crd_prints() -> None:
    checked_in = yaml.safe_load((ROOT / "crds" / CRD_FILE_NAME).read_text(encoding="utf-8"))
    assert _crd_of(["manifests"])["spec"] == checked_in["spec"]
    args = ["--enable-plugin", "rack_spread_restart", "--disable-plugin", "restart_budget"]
    assert _crd_of(["manifests", *args])["spec"] == _crd_of(["crd", *args])["spec"]


def test_manifests_name_an_unknown_plugin() -> None:
    result = CliRunner().invoke(cli, ["manifests", "--enable-plugin", "no_such_plugin"])
    assert result.exit_code != 0
    assert "unknown plugin 'no_such_plugin'" in result.output
