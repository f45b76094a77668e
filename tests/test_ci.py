"""CI runs the README's test command, and that command runs every suite: lint and types, the whole suite on
the embedded cluster, then the portable suites on the real control plane. Any failing step fails CI."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q tox && .venv/bin/tox"


def tox() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    return parser


def commands(section: str) -> list[str]:
    return [line.strip() for line in tox()[section]["commands"].strip().splitlines() if line.strip()]


def test_ci_runs_the_readmes_test_command_and_stops_on_failure() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in script
    assert script.rstrip().splitlines()[-1] == TEST_COMMAND
    assert TEST_COMMAND in (ROOT / "README.md").read_text()


def test_tox_runs_lint_the_embedded_suite_and_the_real_plane() -> None:
    envlist = [e.strip() for e in tox()["tox"]["envlist"].split(",")]
    assert envlist == ["lint", "py", "real"]
    assert commands("testenv") == ["pytest -n 2 --dist loadgroup {posargs}"]
    real = commands("testenv:real")
    assert real[0] == "python -m tests.realcluster build"
    assert "python -m tests.realcluster.divergence" in real[1]
    assert re.search(r"run --operator .* -- pytest .*-m \"not api_semantics\"", real[2]), real[2]
    assert tox()["testenv:real"]["setenv"].split().count("LWS_TEST_FORBID_SKIPS") == 1


def test_no_step_may_fail_without_failing_its_environment() -> None:
    """tox ignores a command's exit status when the command starts with '-', or with ignore_errors or
    ignore_outcome; none of them may appear."""
    for section in ("testenv", "testenv:lint", "testenv:real"):
        assert not [line for line in commands(section) if line.startswith("-")], section
        for key in ("ignore_errors", "ignore_outcome"):
            assert key not in tox()[section], f"{section} sets {key}"


def test_every_environment_ci_runs_installs_the_tested_versions() -> None:
    """tox replaces [testenv]'s setenv with an environment's own, so each one CI runs must name
    constraints.txt itself, or inherit the base setenv unchanged."""
    envlist = [e.strip() for e in tox()["tox"]["envlist"].split(",")]
    for env in envlist:
        section = "testenv" if env == "py" else f"testenv:{env}"
        setenv = tox()[section].get("setenv", tox()["testenv"]["setenv"])
        assert "PIP_CONSTRAINT = {toxinidir}/constraints.txt" in setenv, f"{section} ignores constraints.txt"


def test_both_test_environments_reach_go_and_the_tool_cache() -> None:
    """The embedded suite builds Helm and operator-verify (tests/install/gotools.py) and the real env builds
    the control plane, both with Go into one cache: each passes Go's settings (module proxy, GOFLAGS, ...)
    and $LWS_REALCLUSTER_CACHE, or a CI that sets them would build again, or not at all, in one of them."""
    for section in ("testenv", "testenv:real"):
        passed = tox()[section]["passenv"].split()
        assert {"GO*", "LWS_REALCLUSTER_CACHE"} <= set(passed), f"{section} passes {passed}"
