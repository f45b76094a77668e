"""A pytest plugin that writes each test's outcome to a JSON file: ``-p tests.realcluster.outcomes
--outcomes=PATH``. The divergence report compares two such files, one per target.

Outcome per test id: ``passed``, ``failed`` (the test body), ``error`` (setup or teardown) or ``skipped``,
with the first line of the failure for the others. Under xdist only the controller writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

_RANK = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--outcomes", metavar="PATH", help="write every test's outcome to PATH (JSON)")


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.passed:
            outcome = "passed"
        elif report.skipped:
            outcome = "skipped"
        else:
            outcome = "failed" if report.when == "call" else "error"
        message = ""
        if outcome != "passed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = str(getattr(crash, "message", "") or report.longrepr or "")
            message = message.strip().splitlines()[0][:300] if message.strip() else ""
        known = self.results.get(report.nodeid)
        if known is None or _RANK[outcome] > _RANK[known["outcome"]]:
            self.results[report.nodeid] = {"outcome": outcome, "message": message}

    def pytest_sessionfinish(self) -> None:
        self.path.write_text(json.dumps(self.results, indent=1, sort_keys=True))


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--outcomes")
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Recorder(Path(path)), "lws-outcomes-recorder")
