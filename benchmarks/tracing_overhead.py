"""What tracing costs the operator: 200 groups to Available with tracing off and on (not a test: prints
figures).

Each run starts a fresh embedded cluster (16 nodes, kubelets with zero delay) and a fresh operator, creates
one LeaderWorkerSet of 200 groups of 2 pods, and times it from the create to the set's Available
condition with every group ready. "off" is what ``lws run`` does by default: metrics on, no tracer
provider. "on" adds tracing as in production: a ``BatchSpanProcessor`` feeding an exporter that drops
the spans (a null sink, so the figure is the operator's cost, not a collector's). Runs alternate, so
drift of the machine hits both sides alike.

    .venv/bin/python benchmarks/tracing_overhead.py [--groups 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from lws.api import constants as c
from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.controller.instrumentation import OperatorTelemetry
from lws.hooks.manager import make_hooks
from lws.observability.metrics import LwsMetrics
from lws.plugin_testing import settings_for_tests
from lws.sim.runner import EmbeddedCluster

ROOT = Path(__file__).resolve().parents[1]
CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
LWS = (c.GROUP, c.VERSION, c.PLURAL)
TOPOLOGY = {
    "name": "tracing-overhead",
    "description": "16 nodes with room for 1,000 pods, kubelets with zero delay",
    "levels": [
        {"key": "topology.kubernetes.io/zone", "names": ["zone-a"]},
        {"key": "kubernetes.io/hostname", "count": 16, "prefix": "node-"},
    ],
    "node": {"capacity": {"cpu": "512", "memory": "2Ti", "pods": "250"}},
    "kubelet": {"startDelaySeconds": 0, "readyDelaySeconds": 0},
}


class NullExporter(SpanExporter):
    """Accepts every batch and keeps nothing: the export path runs, the network does not."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def one_run(groups: int, tracing: bool, workdir: Path) -> tuple[float, float, int]:
    """Wall seconds from create to Available, CPU seconds this process spent meanwhile (cluster and
    operator alike, so the operator's extra work shows whatever the machine's other load), spans
    exported."""
    topology = workdir / "topology.yaml"
    topology.write_text(yaml.safe_dump(TOPOLOGY))
    exporter = NullExporter()
    provider = None
    if tracing:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    telemetry = OperatorTelemetry(metrics=LwsMetrics(CollectorRegistry()), tracer_provider=provider)
    with EmbeddedCluster(topology=topology, bookmark_interval=1.0) as cluster:
        for doc in yaml.safe_load_all((ROOT / "crds" / f"{c.GROUP}_{c.PLURAL}.yaml").read_text()):
            cluster.sync.create(CRDS, None, doc)
        kubeconfig = cluster.write_kubeconfig(workdir / "kubeconfig")
        operator = InProcessOperator(
            settings_for_tests(kubeconfig=str(kubeconfig)), make_hooks(), connect=connect, telemetry=telemetry
        ).start(timeout=60)
        try:
            available = threading.Event()

            def listener(gr: Any, event: Any) -> None:
                obj = event.obj
                if gr != (c.GROUP, c.PLURAL) or obj["metadata"]["name"] != "bench":
                    return
                status = obj.get("status") or {}
                conditions = {d.get("type"): d.get("status") for d in status.get("conditions") or []}
                if status.get("readyReplicas") == groups and conditions.get(c.CONDITION_AVAILABLE) == "True":
                    available.set()

            cluster.call(_add_listener(cluster, listener))
            started, cpu_started = time.perf_counter(), time.process_time()
            cluster.sync.create(LWS, "default", _lws(groups))
            if not available.wait(600):
                raise RuntimeError(f"{groups} groups were not Available within 600 s")
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        finally:
            operator.stop()
    if provider is not None:
        provider.shutdown()
    return elapsed, cpu, exporter.spans


async def _add_listener(cluster: EmbeddedCluster, listener: Any) -> None:
    cluster.api.store.add_listener(listener)


def _lws(groups: int) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": groups,
            "leaderWorkerTemplate": {
                "size": 2,
                "workerTemplate": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            },
        },
    }


def main(groups: int, runs: int) -> None:
    """Each run in a fresh interpreter: clusters and operators started one after another in one process
    leave threads and garbage behind, and later runs then get slower whichever mode they measure."""
    times: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    spans: list[int] = []
    for run in range(runs):
        for tracing in (False, True) if run % 2 == 0 else (True, False):
            mode = "on" if tracing else "off"
            done = subprocess.run(
                [sys.executable, __file__, "--groups", str(groups), "--one", mode],
                check=True,
                capture_output=True,
                text=True,
            )
            elapsed, cpu, exported = (float(x) for x in done.stdout.split()[-3:])
            times[tracing].append(elapsed)
            cpus[tracing].append(cpu)
            if tracing:
                spans.append(int(exported))
            print(f"run {run + 1} tracing {mode:3}: {elapsed:6.2f} s wall, {cpu:6.2f} s CPU", flush=True)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    cpu_off, cpu_on = statistics.median(cpus[False]), statistics.median(cpus[True])
    walls = {mode: ", ".join(f"{t:.2f}" for t in times[mode]) for mode in (False, True)}
    print(f"\n{groups} groups of 2 to Available, median of {runs} runs each (wall times in brackets):")
    print(f"  tracing off: {off:.2f} s wall, {cpu_off:.2f} s CPU  ({walls[False]})")
    spans_per_run = statistics.mean(spans)
    print(f"  tracing on:  {on:.2f} s wall, {cpu_on:.2f} s CPU  ({walls[True]}; {spans_per_run:.0f} spans)")
    print(f"  ratio on/off: {on / off:.3f} wall, {cpu_on / cpu_off:.3f} CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", choices=["on", "off"], help="one run in this process; prints its figures")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the figures, not the operator's warnings about a test cluster
    if args.one:
        with tempfile.TemporaryDirectory(prefix="lws-bench-") as tmp:
            wall, cpu, exported = one_run(args.groups, args.one == "on", Path(tmp))
        print(f"{wall:.4f} {cpu:.4f} {exported}")
    else:
        main(args.groups, args.runs)
