"""Shared pytest configuration: the embedded cluster fixtures (kube_api, embedded_cluster, ...) and which tests
run against which target.

* Embedded mode (the default): every test but those marked ``real_plane``, which start real control planes
  of their own from the Go-built binaries (``tests/realcluster``) and run in the real mode's CI step.
* Real mode (``LWS_TEST_KUBECONFIG`` set): the tests that talk to the cluster under test (through the
  ``kubeconfig_path`` or ``e2e`` fixtures) and the ``real_plane`` tests; tests marked ``sim_only`` (or using a
  fixture that needs the embedded cluster) and tests that never touch the cluster under test are
  deselected, and pytest's summary counts them. Nothing is skipped for being in the wrong mode.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Property tests are deterministic in CI (a fixed seed, so a run can only fail for a reason it will fail
# for again), and never time-limited: speed is measured by the benchmarks, not asserted, and a loaded
# 2-core machine must not turn a slow example into a failure. HYPOTHESIS_PROFILE=explore draws new examples.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["lws.sim.testing"]

#: Fixtures through which a test talks to the cluster under test (embedded, or LWS_TEST_KUBECONFIG's).
CLUSTER_UNDER_TEST = frozenset({"kubeconfig_path", "e2e"})
#: Fixtures that give a test an embedded cluster of its own: such a test is ``sim_only`` whatever else it uses.
EMBEDDED_ONLY = frozenset({"embedded_cluster", "embedded_api", "private"})
#: Set by the real mode's CI step: a skipped test fails the run (a skip there would hide what went untested).
FORBID_SKIPS_ENV = "LWS_TEST_FORBID_SKIPS"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_plane: starts real control planes of its own (tests/realcluster); runs in real mode only",
    )
    config.addinivalue_line(
        "markers",
        "api_semantics: talks to the cluster under test through kubeconfig_path (kube_api...); set "
        "automatically. The divergence report runs these on both targets (-m api_semantics)",
    )


def runs_in_real_mode(item: pytest.Item) -> bool:
    """Whether ``item`` belongs to the real mode's selection (see the module docstring)."""
    if item.get_closest_marker("real_plane") is not None:
        return True
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("sim_only") is not None or fixtures & EMBEDDED_ONLY:
        return False
    return bool(CLUSTER_UNDER_TEST & fixtures)


# First, so that -m selects by the markers set here and sees only what the mode runs.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the API-semantics tests, then deselect what the current mode does not run (module docstring)."""
    from lws.sim.testing import real_kubeconfig  # imported late: pytest_plugins loads (and rewrites) it

    for item in items:
        if "kubeconfig_path" in set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.api_semantics)
    real = real_kubeconfig() is not None
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        wanted = runs_in_real_mode(item) if real else item.get_closest_marker("real_plane") is None
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


_ungrouped: set[str] = set()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Note, on each xdist worker, the ``xdist_group`` tests that ``--dist loadgroup`` failed to group.

    Modules that share one operator or one control plane are grouped with ``xdist_group``; when xdist fails
    to apply a group (pytest 9.2 with pytest-xdist 3.8, pytest-dev/pytest-xdist#1386), nothing fails: their
    tests just spread over the workers and each worker pays the module's setup again. They fail instead
    (``pytest_runtest_setup``), saying why."""
    config = session.config
    if hasattr(config, "workerinput") and config.getvalue("loadgroup"):
        _ungrouped.update(
            item.nodeid
            for item in session.items
            if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.nodeid in _ungrouped:
        pytest.fail(
            "--dist loadgroup did not apply this test's xdist_group: this pytest/pytest-xdist pair does not "
            "group (pytest-dev/pytest-xdist#1386); install the versions in constraints.txt "
            "(pip install -c constraints.txt -e '.[test]')",
            pytrace=False,
        )


def pytest_report_header(config: pytest.Config) -> str:
    from lws.sim.testing import REAL_CLUSTER_ENV, real_kubeconfig

    real = real_kubeconfig()
    if real is None:
        return "cluster under test: embedded (real_plane tests deselected)"
    return f"cluster under test: {REAL_CLUSTER_ENV}={real} (sim_only and cluster-less tests deselected)"


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and os.environ.get(FORBID_SKIPS_ENV):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    _print_figures(terminalreporter)
    if _skipped:
        terminalreporter.write_line(
            f"{FORBID_SKIPS_ENV} is set and {len(_skipped)} test(s) were skipped: mark what cannot run in this "
            "mode (sim_only, real_plane) so it is deselected, or make it run:",
            red=True,
        )
        for nodeid in sorted(set(_skipped)):
            terminalreporter.write_line(f"  {nodeid}", red=True)


def _print_figures(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures tests recorded (``record_property("figures", ...)``): the fuzz and chaos runs'.

    User properties travel from xdist workers with each report, so this works with ``-n``."""
    lines = [
        str(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "figures" and getattr(report, "when", "call") == "call"
    ]
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)
