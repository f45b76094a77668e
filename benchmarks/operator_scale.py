"""What the operator costs at scale, against the direct-write floor (not a test: prints figures).

Each run starts a fresh embedded cluster in this process (16 nodes with room for 4,000 pods, kubelets with
zero delay) and one child process on it, as a real deployment has the API server and the operator in
processes of their own:

* **operator**: the whole operator (``lws.controller.operator.Operator``, as ``lws run`` starts it: webhooks
  over HTTPS, informers, leader election), metrics on, tracing off or on (a ``BatchSpanProcessor`` feeding
  an exporter that drops the spans). Timed from the LeaderWorkerSet's create until its status says every
  group is ready and the set ``Available``.
* **floor**: a script on the same client stack that writes the same objects directly: the shared Service
  and the leader StatefulSet at once, and each group's worker StatefulSet (owned by its leader pod, as the
  operator makes it) as soon as the leader pod exists. No webhooks, no reconciling. Timed until every pod
  is Ready.

Figures, in one run of this script:

* operator time / floor time for 500 x 2 and 200 x 8, as the median of ``--pairs`` (3) alternated trios:
  a floor, then the operator with tracing off, then with tracing on; every trio is printed;
* writes per converged group, against the minimum (the Service, the leader StatefulSet, one
  ControllerRevision, one worker StatefulSet per group and one status write), counted in the operator's
  own request log once it has settled (queued events sent), in the median operator run;
* operator CPU per group at 100, 500 and 1,000 groups of 2 (the child's CPU time from the create to
  convergence, over the groups);
* the same with tracing on.

Why medians of alternated pairs: on the 2-CPU machines this runs on, the CPU a single run gets varies by
tens of percent from minute to minute (the same pure-Python loop timed 0.39 to 0.67 s in one minute), and a
busy process on the other CPU slows the cluster's thread (the floor took 4.06 s alone and 7.16 s beside a
busy loop: the two CPUs share a core). A floor and an operator run made one after the other share most
of the first; the second is the operator's own cost (its CPU competes with the cluster's), and stays in.
Each figure is printed with the 1-minute load average at its end. Counts and CPU times are steadier.

    .venv/bin/python benchmarks/operator_scale.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lws.api import constants as c

ROOT = Path(__file__).resolve().parents[1]
CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
LWS = (c.GROUP, c.VERSION, c.PLURAL)
NAME = "bench"
TOPOLOGY = {
    "name": "operator-scale",
    "description": "16 nodes with room for 4,000 pods, kubelets with zero delay",
    "levels": [
        {"key": "topology.kubernetes.io/zone", "names": ["zone-a"]},
        {"key": "kubernetes.io/hostname", "count": 16, "prefix": "node-"},
    ],
    "node": {"capacity": {"cpu": "4096", "memory": "16Ti", "pods": "250"}},
    "kubelet": {"startDelaySeconds": 0, "readyDelaySeconds": 0},
}
TICKS = os.sysconf("SC_CLK_TCK")


def lws_manifest(groups: int, size: int) -> dict[str, Any]:
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {"name": NAME, "namespace": "default"},
        "spec": {
            "replicas": groups,
            "leaderWorkerTemplate": {
                "size": size,
                "workerTemplate": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            },
        },
    }


def minimum_writes(groups: int, size: int) -> int:
    """Service, leader StatefulSet, ControllerRevision, a worker StatefulSet per group, one status write."""
    return 4 + (groups if size > 1 else 0)


# --- the child: an operator, or the floor script --------------------------------------------------------


def child_operator(kubeconfig: str, tracing: bool) -> None:
    """Run the operator; answer ``report`` lines on stdin with its request counts (after it settled)."""
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from prometheus_client import CollectorRegistry

    from lws.cluster.kube import connect
    from lws.controller.instrumentation import OperatorTelemetry
    from lws.controller.operator import Operator
    from lws.hooks.manager import make_hooks
    from lws.observability.metrics import LwsMetrics
    from lws.plugin_testing import settings_for_tests

    class NullExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = None
    if tracing:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    telemetry = OperatorTelemetry(metrics=LwsMetrics(CollectorRegistry()), tracer_provider=provider)
    settings = settings_for_tests(
        kubeconfig=kubeconfig, lease_duration=15.0, renew_deadline=10.0, retry_period=2.0
    )

    profiler = _profiler()

    async def main() -> None:
        operator = Operator(settings, make_hooks(), connect=connect, telemetry=telemetry)
        running = asyncio.create_task(operator.run())
        await operator.ready.wait()
        await operator.leading.wait()
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        assert operator.cluster is not None
        log = operator.cluster.log
        mark = log.mark()
        while True:
            line = (await reader.readline()).decode().strip()
            if line in ("", "stop"):
                break
            if line == "mark":  # the set is about to be created: what came before is start-up
                mark = log.mark()
                print("marked", flush=True)
            if line == "report":
                assert operator.deps is not None
                while operator.queue.busy():
                    await asyncio.sleep(0.05)
                await operator.deps.recorder.drain()
                calls = log.calls(since=mark)
                # Lease renewals come with time, not with groups: not counted as the set's writes.
                counted = [call for call in calls if call.is_write and call.resource != "leases"]
                writes = Counter(f"{call.verb} {call.target}" for call in counted)
                print(json.dumps({"writes": dict(writes), "requests": len(calls)}), flush=True)
        operator.stop()
        await running

    asyncio.run(main())
    _write_profile(profiler, "operator")


def child_floor(kubeconfig: str, groups: int, size: int) -> None:
    """Create the rendered Services and StatefulSets directly, each worker StatefulSet once its leader is."""
    from lws.cluster.kube import connect
    from lws.cluster.resources import PODS, SERVICES, STATEFULSETS
    from lws.core import admission
    from lws.core.render import render_set
    from lws.hooks.manager import make_hooks

    hooks = make_hooks()
    rendered = render_set(admission.default(lws_manifest(groups, size), hooks), hooks)
    services = [o for o in rendered if o.get("kind") == "Service"]
    statefulsets = {o["metadata"]["name"]: o for o in rendered if o.get("kind") == "StatefulSet"}
    for sts in statefulsets.values():
        sts["metadata"].pop("ownerReferences", None)

    async def main() -> None:
        cluster = await connect(kubeconfig, None, ())
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
        for service in services:
            await cluster.create(SERVICES, "default", service)
        await cluster.create(STATEFULSETS, "default", statefulsets[NAME])
        made = 0
        pending: set[asyncio.Task[Any]] = set()
        selector = f"{c.SET_NAME_LABEL}={NAME},{c.WORKER_INDEX_LABEL}=0"
        if size > 1:
            async for event in cluster.watch(PODS, "default", label_selector=selector, timeout_seconds=600):
                pod = event.get("object") or {}
                if event.get("type") != "ADDED":
                    continue
                worker = statefulsets[pod["metadata"]["name"]]
                meta = worker["metadata"]
                meta["ownerReferences"] = [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": pod["metadata"]["name"],
                        "uid": pod["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ]
                task = asyncio.create_task(cluster.create(STATEFULSETS, "default", worker))
                pending.add(task)
                task.add_done_callback(pending.discard)
                made += 1
                if made == groups:
                    break
        if pending:
            await asyncio.gather(*pending)
        print(json.dumps({"writes": {"floor": len(services) + 1 + made}}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await cluster.close()

    asyncio.run(main())


# --- one run: a cluster here, the child on it ------------------------------------------------------------


@dataclass
class Run:
    side: str
    groups: int
    size: int
    tracing: bool
    seconds: float
    pods_ready_seconds: float
    child_cpu: float
    cluster_cpu: float
    writes: dict[str, int]
    requests: int
    load: float
    #: Every change the cluster committed meanwhile, by type and resource (for the curious).
    committed: dict[str, int]
    #: Recovery and idle figures, when asked for (see :func:`_aftermath`).
    aftermath: dict[str, float]

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())


def _profiler() -> Any:
    """A started profiler of this thread (cProfile: it counts CPU, not waiting) when ``LWS_BENCH_PROFILE``
    names a directory to write the figures to."""
    if not os.environ.get("LWS_BENCH_PROFILE"):
        return None
    import cProfile
    import time

    profiler = cProfile.Profile(time.thread_time)  # CPU of this thread: not the waits of a loaded machine
    profiler.enable()
    return profiler


def _write_profile(profiler: Any, name: str) -> None:
    if profiler is None:
        return
    import io
    import pstats

    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(80)
    stats.sort_stats("tottime").print_stats(50)
    (Path(os.environ["LWS_BENCH_PROFILE"]) / f"{name}.txt").write_text(out.getvalue())


async def _start_profiler() -> Any:
    return _profiler()


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def one_run(side: str, groups: int, size: int, tracing: bool, workdir: Path, aftermath: bool = False) -> Run:
    from lws.sim.runner import EmbeddedCluster

    topology = workdir / "topology.yaml"
    topology.write_text(yaml.safe_dump(TOPOLOGY))
    with EmbeddedCluster(topology=topology, bookmark_interval=1.0) as cluster:
        for doc in yaml.safe_load_all((ROOT / "crds" / f"{c.GROUP}_{c.PLURAL}.yaml").read_text()):
            cluster.sync.create(CRDS, None, doc)
        kubeconfig = str(cluster.write_kubeconfig(workdir / "kubeconfig"))
        args = [sys.executable, __file__, "--child", side, "--kubeconfig", kubeconfig]
        args += ["--groups", str(groups), "--size", str(size)] + (["--tracing"] if tracing else [])
        child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdin is not None and child.stdout is not None
        try:
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the {side} did not start")
            pods_ready, converged = threading.Event(), threading.Event()
            ready_pods: set[str] = set()  # by uid: a group made again has pods of the same names
            faulted: dict[str, float | None] = {}  # leaders whose worker restarted, and since when
            teardowns: list[float] = []
            replaced: set[str] = set()  # uids of the pods of faulted groups
            recovered = threading.Event()
            committed: Counter[str] = Counter()
            moments: dict[str, float] = {}

            def listener(gr: Any, event: Any) -> None:
                committed[f"{event.type} {gr[1]}"] += 1
                if gr[1] == "statefulsets" and event.obj["metadata"]["name"] == NAME:
                    committed["leader statefulset changes"] += 1
                obj = event.obj
                meta = obj.get("metadata") or {}
                if gr == ("", "pods") and (meta.get("labels") or {}).get(c.SET_NAME_LABEL) == NAME:
                    conditions = (obj.get("status") or {}).get("conditions") or []
                    ready = any(d.get("type") == "Ready" and d.get("status") == "True" for d in conditions)
                    going = event.type == "DELETED" or bool(meta.get("deletionTimestamp"))
                    if ready and not going:
                        ready_pods.add(meta["uid"])
                    else:
                        ready_pods.discard(meta["uid"])
                    leader = meta["name"].rsplit("-", 1)[0]
                    if leader in faulted and faulted[leader] is None and _restarted(obj):
                        faulted[leader] = time.perf_counter()  # the worker's restart, as the operator sees it
                    seen = faulted.get(meta["name"])
                    if going and seen is not None:  # the operator tears the group down
                        teardowns.append(time.perf_counter() - seen)
                        del faulted[meta["name"]]
                    if len(ready_pods) == groups * size and not pods_ready.is_set():
                        moments["pods"] = time.perf_counter()
                        pods_ready.set()
                    if (
                        "fault" in moments
                        and not faulted
                        and len(ready_pods) == groups * size
                        and not ready_pods & replaced
                        and not recovered.is_set()
                    ):
                        moments["recovered"] = time.perf_counter()
                        recovered.set()
                if gr == (c.GROUP, c.PLURAL) and meta.get("name") == NAME:
                    status = obj.get("status") or {}
                    conds = {d.get("type"): d.get("status") for d in status.get("conditions") or []}
                    if status.get("readyReplicas") == groups and conds.get(c.CONDITION_AVAILABLE) == "True":
                        moments.setdefault("set", time.perf_counter())
                        converged.set()

            cluster.call(_add_listener(cluster, listener))
            if side == "operator":
                child.stdin.write("mark\n")
                child.stdin.flush()
                if child.stdout.readline().strip() != "marked":
                    raise RuntimeError("the operator did not answer")
            profiler = cluster.call(_start_profiler())
            cpu0, own0 = _cpu_of(child.pid), time.process_time()
            started = time.perf_counter()
            if side == "floor":
                child.stdin.write("go\n")
                child.stdin.flush()
            else:
                cluster.sync.create(LWS, "default", lws_manifest(groups, size))
            done = pods_ready if side == "floor" else converged
            if not done.wait(900):
                raise RuntimeError(f"{groups} x {size} did not converge within 900 s ({side})")
            pods_ready.wait(60)
            elapsed = time.perf_counter() - started
            child_cpu, cluster_cpu = _cpu_of(child.pid) - cpu0, time.process_time() - own0
            load = os.getloadavg()[0]
            if profiler is not None:
                cluster.call(_stop_profiler(profiler))
            if side == "operator":
                child.stdin.write("report\n")
                child.stdin.flush()
            report = json.loads(child.stdout.readline())
            if side == "operator" and aftermath:
                report["aftermath"] = _aftermath(
                    cluster, child.pid, groups, moments, faulted, teardowns, replaced, recovered
                )
            child.stdin.write("stop\n")
            child.stdin.flush()
            child.wait(60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    end = moments.get("set", moments.get("pods", started))
    return Run(
        side,
        groups,
        size,
        tracing,
        end - started if side == "operator" else elapsed,
        moments.get("pods", started) - started,
        child_cpu,
        cluster_cpu,
        report["writes"],
        int(report.get("requests", 0)),
        load,
        dict(committed),
        report.get("aftermath") or {},
    )


def _aftermath(
    cluster: Any,
    pid: int,
    groups: int,
    moments: dict[str, float],
    faulted: dict[str, float | None],
    teardowns: list[float],
    replaced: set[str],
    recovered: threading.Event,
) -> dict[str, float]:
    """After convergence: a fifth of the groups lose a worker at once (recovery: teardown counted from the
    worker's restart to the leader's deletion, recovery until every pod of the new groups is ready), then
    10,000 pods of no set are created (idle cost)."""
    broken = [f"{NAME}-{i}" for i in range(0, groups, 5)]
    pods = cluster.sync.list(("", "v1", "pods"), "default")["items"]
    replaced.update(
        p["metadata"]["uid"]
        for p in pods
        if p["metadata"]["name"].rsplit("-", 1)[0] in broken or p["metadata"]["name"] in broken
    )
    for leader in broken:
        faulted[leader] = None
    moments["fault"] = time.perf_counter()
    for leader in broken:
        cluster.call(cluster.pod_faults.restart_container("default", f"{leader}-1"))
    if not recovered.wait(300):
        raise RuntimeError(f"{len(broken)} groups did not recover within 300 s")
    ordered = sorted(teardowns)
    figures = {
        "broken": float(len(broken)),
        "teardown_p50_ms": 1000 * ordered[len(ordered) // 2],
        "teardown_p99_ms": 1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "recovery_s": moments["recovered"] - moments["fault"],
        "recovery_load": os.getloadavg()[0],
    }
    # Idle: the operator's CPU while 10,000 pods of no set are created, against as long a quiet spell.
    time.sleep(2.0)  # let the recovery's last events pass
    quiet0, started = _cpu_of(pid), time.perf_counter()
    time.sleep(3.0)
    quiet = (_cpu_of(pid) - quiet0) / (time.perf_counter() - started)
    busy0, started = _cpu_of(pid), time.perf_counter()
    cluster.sync.create(("", "v1", "namespaces"), None, {"metadata": {"name": "other"}})
    cluster.call(_unrelated_pods(cluster, 10_000), timeout=None)
    time.sleep(1.0)
    busy = (_cpu_of(pid) - busy0) / (time.perf_counter() - started)
    figures.update(
        idle_cpu_ms_per_s=1000 * quiet,
        unrelated_cpu_ms_per_s=1000 * busy,
        unrelated_seconds=time.perf_counter() - started,
        idle_load=os.getloadavg()[0],
    )
    return figures


def _restarted(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(int(s.get("restartCount") or 0) > 0 for s in statuses)


async def _unrelated_pods(cluster: Any, count: int) -> None:
    """Pods of no set, for a scheduler that does not run: nothing acts on them, only their events count."""
    for i in range(count):
        await cluster.api.create(
            ("", "v1", "pods"),
            "other",
            {
                "metadata": {"name": f"unrelated-{i}", "labels": {"app": "unrelated"}},
                "spec": {"schedulerName": "none", "containers": [{"name": "c", "image": "x"}]},
            },
        )


async def _stop_profiler(profiler: Any) -> None:
    _write_profile(profiler, "cluster")


async def _add_listener(cluster: Any, listener: Any) -> None:
    cluster.api.store.add_listener(listener)


def run_in_fresh_interpreter(
    side: str, groups: int, size: int, tracing: bool, aftermath: bool = False
) -> Run:
    """Clusters started one after another in one process leave threads and garbage behind: one each."""
    args = [sys.executable, __file__, "--one", side, "--groups", str(groups), "--size", str(size)]
    args += (["--tracing"] if tracing else []) + (["--aftermath"] if aftermath else [])
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    return Run(**json.loads(done.stdout.strip().splitlines()[-1]))


# --- the figures -------------------------------------------------------------------------------------------


def main(quick: bool, pairs: int) -> None:
    shapes = [(100, 2), (40, 8)] if quick else [(500, 2), (200, 8)]
    per_group = [50, 100] if quick else [100, 500, 1000]
    print(f"operator and floor each in a process of their own; cluster in this one ({os.cpu_count()} CPUs)")
    medians: dict[bool, dict[tuple[int, int], Run]] = {False: {}, True: {}}
    for groups, size in shapes:
        print(f"\n--- {groups} x {size}: {pairs} alternated trios (floor, operator, operator with tracing)")
        ratios: dict[bool, list[float]] = {False: [], True: []}
        ops: dict[bool, list[Run]] = {False: [], True: []}
        for _ in range(pairs):
            floor = run_in_fresh_interpreter("floor", groups, size, False)
            line = f"floor {floor.seconds:.2f} s (load {floor.load:.1f})"
            for tracing in (False, True):
                op = run_in_fresh_interpreter("operator", groups, size, tracing)
                ops[tracing].append(op)
                ratios[tracing].append(op.seconds / floor.seconds)
                line += (
                    f", operator{' with tracing' if tracing else ''} {op.seconds:.2f} s "
                    f"(load {op.load:.1f}): {op.seconds / floor.seconds:.2f}"
                )
            print(line, flush=True)
        for tracing in (False, True):
            medians[tracing][(groups, size)] = sorted(ops[tracing], key=lambda r: r.seconds)[
                len(ops[tracing]) // 2
            ]
        print(
            f"{groups} x {size}: operator / floor, median of {pairs} pairs: "
            f"{statistics.median(ratios[False]):.2f} (tracing on: {statistics.median(ratios[True]):.2f})",
            flush=True,
        )
    for tracing in (False, True):
        print(f"\n--- tracing {'on' if tracing else 'off'}", flush=True)
        runs = medians[tracing]
        for (groups, size), op in runs.items():
            minimum = minimum_writes(groups, size)
            detail = ", ".join(f"{k} {v}" for k, v in sorted(op.writes.items()))
            print(
                f"{groups} x {size} writes (median run): {op.total_writes} = "
                f"{op.total_writes / groups:.3f} per group, minimum {minimum}: "
                f"ratio {op.total_writes / minimum:.3f} ({detail})",
                flush=True,
            )
        cpus: list[tuple[int, float]] = []
        for groups in per_group:
            aftermath = not tracing and groups == per_group[0]
            op = runs.get((groups, 2)) or run_in_fresh_interpreter("operator", groups, 2, tracing, aftermath)
            cpus.append((groups, op.child_cpu / groups))
            print(
                f"operator CPU, {groups} x 2: {op.child_cpu:.2f} s = {1000 * op.child_cpu / groups:.2f} ms "
                f"per group ({op.seconds:.2f} s wall, load {op.load:.1f})",
                flush=True,
            )
            if op.aftermath:
                _print_aftermath(op)
        print(f"CPU per group, {cpus[-1][0]} vs {cpus[0][0]} groups: ratio {cpus[-1][1] / cpus[0][1]:.2f}")


def _print_aftermath(op: Run) -> None:
    a = op.aftermath
    print(
        f"recovery, {a['broken']:.0f} of {op.groups} groups lose a worker at once: teardown p50 "
        f"{a['teardown_p50_ms']:.0f} ms, p99 {a['teardown_p99_ms']:.0f} ms; all ready again in "
        f"{a['recovery_s']:.2f} s (first start of the {op.groups} groups: {op.seconds:.2f} s; "
        f"load {a['recovery_load']:.1f})",
        flush=True,
    )
    print(
        f"idle: operator CPU {a['idle_cpu_ms_per_s']:.1f} ms/s at rest, "
        f"{a['unrelated_cpu_ms_per_s']:.1f} ms/s while 10,000 pods of no set were created "
        f"({a['unrelated_seconds']:.1f} s, load {a['idle_load']:.1f})",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller shapes, for a try")
    parser.add_argument("--pairs", type=int, default=3, help="alternated floor and operator runs per shape")
    parser.add_argument("--one", choices=["operator", "floor"], help="one run in this process")
    parser.add_argument("--child", choices=["operator", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--size", type=int, default=2)
    parser.add_argument("--tracing", action="store_true")
    parser.add_argument("--aftermath", action="store_true", help="then recovery and idle figures")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the figures, not the operator's warnings about a test cluster
    if args.child == "operator":
        child_operator(args.kubeconfig, args.tracing)
    elif args.child == "floor":
        child_floor(args.kubeconfig, args.groups, args.size)
    elif args.one:
        with tempfile.TemporaryDirectory(prefix="lws-bench-") as tmp:
            result = one_run(args.one, args.groups, args.size, args.tracing, Path(tmp), args.aftermath)
        print(json.dumps(result.__dict__))
    else:
        main(args.quick, args.pairs)
