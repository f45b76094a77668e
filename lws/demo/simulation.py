"""One simulation, end to end: what ``lws simulate`` runs (and its benchmark measures).

Start the embedded cluster with a topology (kubelets without delays) and the operator with the given
plugins, create the manifests through admission, wait until the cluster has settled (see
:mod:`lws.demo.settle`), and report where every pod of every group landed (a DisaggregatedSet's groups are
those of its child LeaderWorkerSets, each reported with its set, role and slice).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lws.api.loading import Document
from lws.demo.feed import ChangeFeed
from lws.demo.placement import PlacementReport, build_report
from lws.demo.settle import NODES, WATCHED, Settled, apply, wait_settled
from lws.demo.stage import Stage
from lws.hooks.manager import Hooks
from lws.sim.topology import NodeTiming


@dataclass(frozen=True)
class Simulation:
    report: PlacementReport
    settled: Settled
    #: Seconds to start the cluster and the operator.
    start_seconds: float
    #: Seconds from applying the manifests until the cluster counted as settled (the quiet time included).
    wait_seconds: float


def simulate(
    topology: str | Path,
    hooks: Hooks,
    documents: Sequence[Document],
    *,
    namespace: str,
    quiet: float,
    timeout: float,
) -> Simulation:
    """Run one simulation. Raises ``TopologyError`` (bad topology), ``StageError`` (cluster or operator
    did not start) or ``ApplyError`` (an object refused, as an ``error:`` line)."""
    began = time.monotonic()
    stage = Stage(topology, hooks, timing=NodeTiming())
    stage.start()
    start_seconds = time.monotonic() - began
    try:
        with ChangeFeed(stage.cluster, WATCHED) as feed:
            start = time.monotonic()
            applied = apply(stage, documents, namespace)
            settled = wait_settled(
                stage,
                feed,
                applied.sets,
                start=start,
                quiet=quiet,
                timeout=timeout,
                disaggregated=applied.disaggregated,
            )
            wait_seconds = time.monotonic() - start
        nodes = stage.cluster.sync.list(NODES)["items"]
    finally:
        stage.stop()
    report = build_report(
        settled.sets,
        settled.pods,
        nodes,
        topology=stage.topology.name,
        levels=stage.topology.level_keys,
        plugins=tuple(info.name for info in hooks.infos if info.enabled),
        settled=settled.settled,
        seconds=settled.seconds,
        schedulers=stage.topology.scheduler_names,
    )
    return Simulation(report, settled, start_seconds, wait_seconds)
