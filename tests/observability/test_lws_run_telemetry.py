"""``lws run`` as deployed: ``/metrics`` on its metrics address, traces to the collector its ``OTEL_*``
variables name, and the spans still queued flushed when it stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path
from typing import IO

import pytest
from obs_harness import NAMESPACES, Cluster
from obs_kit import LWS, Collector, make_lws, settled
from prometheus_client.parser import text_string_to_metric_families

from lws.sim.testing import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sim_only]

LWS_COMMAND = str(Path(sys.executable).with_name("lws"))


class _Stderr:
    """The process's standard error, read on a thread so that the pipe never fills up."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def find(self, pattern: str) -> re.Match[str] | None:
        return next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_lws_run_serves_metrics_and_sends_traces_to_the_collector(cluster: Cluster) -> None:
    namespace = f"run-{uuid.uuid4().hex[:6]}"
    cluster.embedded.sync.create(NAMESPACES, None, {"metadata": {"name": namespace}})
    with Collector() as collector:
        env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        process = subprocess.Popen(
            [
                LWS_COMMAND,
                "run",
                "-n",
                namespace,
                "--health-probe-bind-address",
                "127.0.0.1:0",
                "--metrics-bind-address",
                "127.0.0.1:0",
                # Plain HTTP: the embedded cluster answers no TokenReviews (tests/install scrape over HTTPS).
                "--no-metrics-secure",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        log = _Stderr(process.stderr)
        try:
            found = wait_until(lambda: log.find(r"metrics on (http://127\.0\.0\.1:\d+/metrics)"), timeout=30)
            url = found.group(1)
            cluster.embedded.sync.create(LWS, namespace, make_lws("run", replicas=2, size=2))
            wait_until(lambda: settled(cluster.embedded.sync.get(LWS, namespace, "run")), timeout=30)

            def both_ready() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
                samples = _scrape(url)
                return samples if samples.get(("lws_group_time_to_ready_seconds_count", ())) == 2 else None

            samples = wait_until(both_ready, what="both groups measured")
            for state in ("desired", "ready", "updated"):
                assert samples[("lws_groups", (("namespace", namespace), ("state", state)))] == 2
            assert samples[("lws_reconcile_total", (("controller", "group"), ("result", "error")))] == 0
            wait_until(
                lambda: "create group" in collector.span_names(), what="the lifecycles at the collector"
            )
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(30)
        assert code == 0, "".join(log.lines[-20:])
        names = collector.span_names()
        assert names.count("create group") == 2
        assert "reconcile LeaderWorkerSet" in names and "mutate Pod" in names
        assert collector.resource()["service.name"] == "lws-operator"
    cluster.embedded.sync.delete(NAMESPACES, None, namespace)
