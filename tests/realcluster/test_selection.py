"""Which tests each mode runs: real mode selects the tests that talk to the cluster under test plus the
real_plane ones, deselects (never skips) the rest; embedded mode deselects only real_plane tests. A real
mode that selected nothing would pass vacuously, so its selection is pinned here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.realcluster.divergence import Allowed, compare, load_allow_list

ROOT = Path(__file__).resolve().parents[2]
# The folders whose tests either mode may select or deselect (collecting all of tests/ would only be slower).
FOLDERS = ("tests/sim", "tests/api", "tests/operator", "tests/install", "tests/realcluster", "tests/core")


def collected(real: bool) -> tuple[set[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "LWS_TEST_KUBECONFIG"}
    if real:
        env["LWS_TEST_KUBECONFIG"] = "/nonexistent/kubeconfig"  # collection never reads it
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *FOLDERS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ids = {line for line in done.stdout.splitlines() if "::" in line}
    return ids, done.stdout.splitlines()[-1]


@pytest.fixture(scope="module")
def real_ids() -> set[str]:
    return collected(real=True)[0]


def test_real_mode_selects_the_portable_suites_and_the_real_plane_tests(real_ids: set[str]) -> None:
    files = {i.split("::")[0] for i in real_ids}
    api = {f for f in files if f.startswith("tests/sim/")}
    e2e = {f for f in files if f.startswith("tests/operator/test_e2e_")}
    assert len(api) >= 10, f"API-semantics files selected in real mode: {sorted(api)}"
    assert len(e2e) >= 5, f"operator end-to-end files selected in real mode: {sorted(e2e)}"
    assert len([i for i in real_ids if i.startswith("tests/sim/")]) >= 40
    for required in (
        "tests/realcluster/test_plane.py",
        "tests/realcluster/test_upstream_samples.py",
        "tests/install/test_rbac_real.py",
        "tests/operator/test_e2e_webhooks.py",
    ):
        assert required in files


def test_real_mode_deselects_what_needs_the_embedded_cluster(real_ids: set[str]) -> None:
    files = {i.split("::")[0] for i in real_ids}
    for embedded_only in (
        "tests/sim/test_api_faults.py",  # marked sim_only
        "tests/operator/test_e2e_api_cost.py",  # sim_only: the in-process operator's request log
        "tests/install/test_rbac.py",  # sim_only: the authorising proxy
        "tests/operator/test_e2e_upstream_samples.py",  # an embedded cluster of its own per sample
        "tests/core/test_rollout.py",  # never touches a cluster
    ):
        assert embedded_only not in files
    restart = [i for i in real_ids if "test_a_failed_worker_recreates_its_group_once" in i]
    assert restart == [
        "tests/operator/test_e2e_restart.py::test_a_failed_worker_recreates_its_group_once[pod-deletion]"
    ]


def test_api_semantics_tests_are_marked_for_the_divergence_report() -> None:
    env = {**os.environ, "LWS_TEST_KUBECONFIG": "/nonexistent/kubeconfig"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            "-q",
            "-m",
            "api_semantics",
            *FOLDERS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    ids = {line for line in done.stdout.splitlines() if "::" in line}
    assert len(ids) >= 40 and all(i.startswith(("tests/sim/", "tests/api/")) for i in ids), sorted(ids)[:5]
    assert "tests/sim/test_api_crud.py::test_label_selector_filters_lists" in ids


def test_embedded_mode_deselects_only_the_real_plane_tests() -> None:
    ids, summary = collected(real=False)
    assert not any(i.startswith("tests/realcluster/test_plane.py") for i in ids)
    assert "tests/install/test_rbac.py::test_the_operator_is_never_denied" in ids
    assert "deselected" in summary, summary


def test_the_divergence_report_passes_only_explained_differences() -> None:
    allowed = {"t::b": Allowed("t::b", "passed", "failed", "why")}
    embedded = {"t::a": {"outcome": "passed"}, "t::b": {"outcome": "passed"}}
    lines, ok = compare(embedded, {"t::a": {"outcome": "passed"}, "t::b": {"outcome": "failed"}}, allowed)
    assert ok and lines == ["allowed        t::b: embedded passed, real failed -- why"]
    lines, ok = compare(
        embedded, {"t::a": {"outcome": "failed", "message": "boom"}, "t::b": {"outcome": "failed"}}, allowed
    )
    assert not ok and any(line.startswith("UNEXPLAINED    t::a") and "boom" in line for line in lines)
    lines, ok = compare(embedded, {"t::a": {"outcome": "passed"}, "t::b": {"outcome": "passed"}}, allowed)
    assert not ok and any(line.startswith("STALE          t::b") for line in lines)
    both = {"t::a": {"outcome": "failed"}}
    lines, ok = compare(both, both, {})
    assert not ok and lines[0].startswith("FAILS ON BOTH")


def test_every_allow_list_entry_names_a_selected_test_and_a_reason(real_ids: set[str]) -> None:
    for test, entry in load_allow_list().items():
        assert test in real_ids, f"divergences.yaml lists {test}, which real mode does not run"
        assert entry.embedded != entry.real and len(entry.reason) > 20
