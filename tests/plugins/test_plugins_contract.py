"""What every plugin and hook owes its users: documentation, validated settings, and no effect on a
LeaderWorkerSet that does not ask for it."""

from __future__ import annotations

import copy
import importlib.metadata
import inspect
import json
from pathlib import Path
from types import ModuleType

import pytest

from lws.api.loading import load_path
from lws.hooks import specs
from lws.hooks.manager import hook_names
from lws.plugin import Settings
from lws.plugin_testing import BUILTIN_DISTRIBUTION, admission_errors, lws_manifest, make_test_hooks, render
from tests import upstream_samples as samples

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
#: Default-enabled plugins beyond upstream: they must not touch a set that does not opt in.
EXTRAS = ("restart_budget", "placement", "leader_address", "vllm", "sglang")


def builtin_modules() -> dict[str, ModuleType]:
    eps = importlib.metadata.entry_points(group="lws")
    return {ep.name: ep.load() for ep in eps if ep.dist is not None and ep.dist.name == BUILTIN_DISTRIBUTION}


def settings_of(module: ModuleType) -> Settings | None:
    found = getattr(module, "SETTINGS", None)
    return found if isinstance(found, Settings) else None


# --- hooks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_is_documented_in_its_spec_and_in_the_guide(name):
    spec = getattr(specs, name)
    doc = inspect.getdoc(spec) or ""
    assert len(doc.splitlines()) >= 3, f"{name} needs a full docstring in lws/hooks/specs.py"
    guide = GUIDE.read_text()
    assert f"### {name}\n" in guide, f"docs/plugins.md has no section for {name}"
    signature = f"{name}({', '.join(inspect.signature(spec).parameters)})"
    assert signature in guide, f"docs/plugins.md does not show the signature {signature}"


def test_the_guide_documents_no_hook_that_does_not_exist():
    documented = {line[4:].strip() for line in GUIDE.read_text().splitlines() if line.startswith("### lws_")}
    assert documented == set(hook_names())


# --- built-in plugin modules -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(builtin_modules()))
def test_every_builtin_module_is_its_own_documentation(name):
    module = builtin_modules()[name]
    doc = inspect.getdoc(module) or ""
    assert len(doc.splitlines()) >= 3, (
        f"{module.__name__} needs a module docstring: it is the user documentation"
    )
    settings = settings_of(module)
    for setting in settings.settings if settings else []:
        assert setting.key in doc, f"{module.__name__}'s docstring does not document {setting.key}"


def modules_with_settings() -> list[tuple[str, Settings]]:
    found = [(name, settings_of(m)) for name, m in sorted(builtin_modules().items())]
    return [(name, s) for name, s in found if s is not None]


def test_the_new_builtins_all_declare_their_settings():
    assert {name for name, _ in modules_with_settings()} >= {*EXTRAS, "coscheduling"}


@pytest.mark.parametrize(("name", "settings"), modules_with_settings())
def test_unknown_setting_keys_are_rejected_with_the_list_of_settings(name, settings):
    key = settings.prefix + "no-such-setting"
    hooks = make_test_hooks(enable=("volcano", "coscheduling"))
    errors = [
        e for e in admission_errors(lws_manifest(annotations={key: "x"}), hooks) if e.path.endswith(key)
    ]
    assert errors, f"{name} accepted the unknown setting {key}"
    assert errors[0].origin == name
    for setting in settings.settings:
        assert setting.key in errors[0].detail


@pytest.mark.parametrize(
    ("name", "key", "choices"),
    [
        (name, s.key, s.choices)
        for name, settings in modules_with_settings()
        for s in settings.settings
        if s.choices
    ],
)
def test_unknown_values_are_rejected_with_the_allowed_ones(name, key, choices):
    hooks = make_test_hooks(enable=("volcano", "coscheduling"))
    errors = [
        e
        for e in admission_errors(lws_manifest(annotations={key: "no-such-value"}), hooks)
        if e.path.endswith(key)
    ]
    assert errors, f"{name} accepted {key}: no-such-value"
    assert errors[0].type == "NotSupported"
    assert "supported values: " + ", ".join(f'"{c}"' for c in choices) in str(errors[0])


# --- no effect without opting in -------------------------------------------------------------------------


def upstream_samples() -> list[tuple[str, dict]]:
    found = []
    for path in samples.files():
        manifests = load_path(path)
        assert not manifests.errors, manifests.errors
        found += [(f"{path.name}#{i}", dict(d.body)) for i, d in enumerate(manifests.leaderworkersets)]
    assert len(found) == samples.LEADERWORKERSETS, "every upstream sample LeaderWorkerSet is exercised"
    return found


@pytest.fixture(scope="module")
def with_and_without():
    return make_test_hooks(), make_test_hooks(disable=EXTRAS)


@pytest.mark.parametrize(("sample", "manifest"), upstream_samples())
def test_upstream_samples_render_identically_with_and_without_the_extras(with_and_without, sample, manifest):
    with_extras, without = with_and_without
    assert json.dumps(list(render(manifest, with_extras))) == json.dumps(list(render(manifest, without))), (
        sample
    )


def test_opting_in_does_change_a_sample(with_and_without):
    with_extras, without = with_and_without
    _, manifest = next(s for s in upstream_samples() if s[0].startswith("sample-lws.yaml"))
    opted = copy.deepcopy(manifest)
    opted["metadata"]["annotations"] = {
        "placement.lws.x-k8s.io/mode": "spread",
        "placement.lws.x-k8s.io/topology": "topology.kubernetes.io/zone",
    }
    assert list(render(opted, with_extras)) != list(render(opted, without))
