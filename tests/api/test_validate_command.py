"""``lws validate`` end to end through click: exit status, the stderr line format, plugins, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lws_api_testing import lws_like, make_lws

from lws.api import constants as c
from lws.cli.main import cli
from lws.hooks.manager import make_hooks
from tests import upstream_samples

SAMPLES = upstream_samples.directory()


def run(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["validate", *args], input=stdin)


def manifest(**patch: object) -> str:
    return yaml.safe_dump(make_lws(**patch))


def test_every_upstream_sample_validates() -> None:
    result = run("-f", str(SAMPLES))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == "ok: 16 LeaderWorkerSets valid"


def test_other_documents_are_noted_not_errors() -> None:
    result = run("-f", str(SAMPLES / "vllm-GPU-lws.yaml"))
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"note: {SAMPLES / 'vllm-GPU-lws.yaml'}: document 2 (line 78): Service is not a LeaderWorkerSet or "
        "DisaggregatedSet; not checked",
        "ok: 1 LeaderWorkerSet valid",
    ]


def _startup_choices() -> str:
    return ", ".join(f'"{v}"' for v in make_hooks().startup_values)


def test_each_problem_is_one_error_line_naming_file_object_and_field() -> None:
    result = run("-f", "-", stdin=manifest(spec={"replicas": -1, "startupPolicy": "Sometimes"}))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        'error: <stdin>: LeaderWorkerSet default/demo: spec.startupPolicy: Unsupported value: "Sometimes": '
        f"supported values: {_startup_choices()}",
        "error: <stdin>: LeaderWorkerSet default/demo: spec.replicas: Invalid value: -1: "
        "replicas must be equal or greater than 0",
    ]


def test_namespace_option_names_and_defaults_the_object() -> None:
    result = run("-n", "team-a", "-f", "-", stdin=manifest(metadata={"name": "Demo"}))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: <stdin>: LeaderWorkerSet team-a/Demo: metadata.name: Invalid value"
    )


def test_files_are_named_in_errors(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(manifest())
    bad.write_text(manifest(spec={"leaderWorkerTemplate": {"size": 0}}))
    result = run("-f", str(good), "-f", str(bad))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {bad}: LeaderWorkerSet default/demo: spec.leaderWorkerTemplate.size: Invalid value: 0: "
        "size must be equal or greater than 1"
    ]


def test_name_budget_is_enforced() -> None:
    spec = {"replicas": 20, "leaderWorkerTemplate": {"size": 2}}
    result = run("-f", "-", stdin=manifest(metadata={"name": "a" * 50}, spec=spec))
    assert result.exit_code == 1
    assert "metadata.name: Too long" in result.stderr
    assert "(upstream issue #410)" in result.stderr


def test_plugin_rules_run_after_the_core_rules_and_are_attributed() -> None:
    bad_key = make_lws(metadata={"annotations": {c.EXCLUSIVE_KEY_ANNOTATION: "not a label key!"}})
    result = run("-f", "-", stdin=yaml.safe_dump(bad_key))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"error: <stdin>: LeaderWorkerSet default/demo: metadata.annotations.{c.EXCLUSIVE_KEY_ANNOTATION}: "
        'Invalid value: "not a label key!": must be a node label key'
    )
    assert line.endswith("(plugin exclusive_topology)")


def test_policy_values_come_from_the_enabled_plugins() -> None:
    owners = sorted({plugin for plugin, _ in make_hooks().policies.startup.values()})
    disable = [arg for owner in owners for arg in ("--disable-plugin", owner)]
    result = run(*disable, "-f", "-", stdin=manifest())
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        'error: <stdin>: LeaderWorkerSet default/demo: spec.startupPolicy: Unsupported value: "LeaderCreated": '
        "supported values: none (no enabled plugin implements any value; see `lws plugins`)"
    ]


def test_unknown_plugin_is_a_clean_error() -> None:
    result = run("--enable-plugin", "no-such-plugin", "-f", "-", stdin=manifest())
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown plugin 'no-such-plugin'")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("stdin", "stderr"),
    [
        (
            "a: [\n",
            "error: <stdin>:2:1: invalid YAML: while parsing a flow node: expected the node content, but found '<stream end>'\n",
        ),
        (
            f"apiVersion: {c.GROUP}/v1alpha1\nkind: LeaderWorkerSet\nmetadata: {{name: x}}\n",
            f'error: <stdin>:1: LeaderWorkerSet default/x: apiVersion: Unsupported value: "{c.GROUP}/v1alpha1": '
            f'supported values: "{c.API_VERSION}"\n',
        ),
        (
            b"\xff\xfe",
            "error: cannot read standard input: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte\n",
        ),
    ],
)
def test_unreadable_input_is_an_error(stdin: str | bytes, stderr: str) -> None:
    result = run("-f", "-", stdin=stdin)
    assert (result.exit_code, result.stderr) == (1, stderr)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    result = run("-f", str(tmp_path / "nope.yaml"))
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: cannot read {tmp_path / 'nope.yaml'}: No such file or directory\n",
    )


def test_empty_input_is_fine_and_says_so() -> None:
    result = run("-f", "-", stdin="")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "",
        "ok: no LeaderWorkerSet found in the input\n",
    )


def test_usage_errors_exit_2() -> None:
    assert run().exit_code == 2
    assert run("-f").exit_code == 2


def test_help_documents_the_output_contract() -> None:
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "nothing on stdout" in text
    assert "Exit status: 0 when every object is valid, 1 when any problem was found" in text


_texts = st.one_of(
    st.text(max_size=300),
    lws_like.map(lambda obj: yaml.safe_dump(obj, allow_unicode=True)),
    st.lists(lws_like, min_size=2, max_size=3).map(lambda docs: yaml.safe_dump_all(docs, allow_unicode=True)),
    st.builds(lambda obj, cut: yaml.safe_dump(obj)[:cut], lws_like, st.integers(min_value=0, max_value=400)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_texts)
def test_arbitrary_input_never_ends_in_a_traceback(text: str) -> None:
    result = run("-f", "-", stdin=text)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith(("error: ", "note: ", "ok: ")) for line in lines), lines
    assert (result.exit_code == 1) == any(line.startswith("error: ") for line in lines)


def _deep_json(depth: int) -> str:
    """A LeaderWorkerSet whose pod template nests ``depth`` objects under ``x``, written out by hand
    (json.dumps itself recurses)."""
    head = (
        '{"apiVersion":"leaderworkerset.x-k8s.io/v1","kind":"LeaderWorkerSet","metadata":{"name":"deep"},'
        '"spec":{"leaderWorkerTemplate":{"workerTemplate":{"spec":{"containers":[{"name":"c","image":"i"}],'
        '"x":'
    )
    return head + '{"a":' * depth + "{}" + "}" * depth + "}}}}}"


@pytest.mark.parametrize("depth", [150, 900, 5_000, 50_000])
def test_deep_nesting_is_an_error_naming_the_field_never_a_traceback(depth: int) -> None:
    """Issue 10, bug 7: past a few hundred levels the answer was 'nested too deeply to check', or a
    RecursionError in code that recursed; the error now says where, whatever the depth."""
    result = run("-f", "-", stdin=_deep_json(depth))
    assert result.exit_code == 1, result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "spec.leaderWorkerTemplate.workerTemplate.spec.x.a.a" in line
    assert "nests more than 100 objects and arrays deep" in line


def test_deep_nesting_is_refused_by_the_admission_path_itself() -> None:
    """What the webhooks and `lws render` run: refused before defaulting recurses into it."""
    from lws.core.admission import admit

    deep: dict[str, object] = {}
    tip = deep
    for _ in range(20_000):
        tip["a"] = {}
        tip = tip["a"]  # type: ignore[assignment]
    obj = make_lws()
    obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["x"] = deep
    _, errors = admit(obj, None, make_hooks())
    [error] = errors
    assert (
        error.path.startswith("spec.leaderWorkerTemplate.workerTemplate.spec.x.a") and "100" in error.detail
    )
