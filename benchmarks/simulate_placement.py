"""How long ``lws simulate`` takes to place many groups on a large topology (not a test: prints figures).

Runs what the command runs (embedded cluster without kubelet delays, the operator with the built-in
plugins, admission, settling) for one LeaderWorkerSet of ``--groups`` groups of ``--size`` pods, each pod
taking a whole 8-GPU node, under one placement mode, and prints how long each phase took and how tightly
the groups were placed.

    .venv/bin/python benchmarks/simulate_placement.py [--groups 40] [--size 8] [--topology gpu-large]
        [--mode exclusive-in-set|colocate|spread|exclusive-topology|none]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter

from lws.api.loading import load_text
from lws.demo.simulation import simulate
from lws.hooks.manager import make_hooks
from lws.plugin_testing import lws_manifest

RACK = "example.com/rack"


def manifest(groups: int, size: int, mode: str) -> str:
    annotations: dict[str, str] = {}
    if mode == "exclusive-topology":
        annotations["leaderworkerset.sigs.k8s.io/exclusive-topology"] = RACK
    elif mode != "none":
        annotations = {"placement.lws.x-k8s.io/mode": mode, "placement.lws.x-k8s.io/topology": RACK}
    gpu_node = {"name": "srv", "image": "srv:1", "resources": {"limits": {"nvidia.com/gpu": "8"}}}
    body = lws_manifest("bench", replicas=groups, size=size, annotations=annotations, containers=[gpu_node])
    return json.dumps(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--topology", default="gpu-large")
    parser.add_argument(
        "--mode",
        default="exclusive-in-set",
        choices=["exclusive-in-set", "colocate", "spread", "exclusive-topology", "none"],
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kopf").setLevel(logging.ERROR)

    documents = load_text(manifest(args.groups, args.size, args.mode), "bench").leaderworkersets
    run = simulate(args.topology, make_hooks(), documents, namespace="default", quiet=0.5, timeout=600)
    report, result = run.report, run.settled
    [placed] = report.sets
    racks = Counter(g.spans.get(RACK, 0) for g in placed.groups if g.placed)
    shape = f"{args.groups} groups x {args.size} pods"
    print(f"topology {report.topology} ({report.nodes} nodes), {shape}, {args.mode}")
    print(f"  cluster + operator started   {run.start_seconds:6.2f} s")
    print(f"  last change after applying   {result.seconds:6.2f} s  (settled: {result.settled})")
    print(f"  settled (incl. 0.5 s quiet)  {run.wait_seconds:6.2f} s")
    print(
        f"  pods placed / unschedulable / not created: {placed.placed} / {placed.unplaced} / {placed.missing}"
    )
    print(
        "  racks spanned per placed group: " + ", ".join(f"{n}: {k} groups" for n, k in sorted(racks.items()))
    )


if __name__ == "__main__":
    main()
