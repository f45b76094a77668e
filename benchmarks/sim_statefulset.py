"""How long the embedded cluster takes to bring 1,000 StatefulSet pods to Ready (not a test: prints figures).

The API server runs in-process with the StatefulSet controller, scheduler, kubelets (zero start and
readiness delay) and garbage collector, on the 512-node ``gpu-large`` topology. Every pod goes through
the full pipeline: create (with admission), schedule and bind, kubelet status.

    .venv/bin/python benchmarks/sim_statefulset.py [--pods 1000] [--policy Parallel|OrderedReady]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

from lws.sim.apiserver import APIServer
from lws.sim.controllers import ControllersConfig, KubeletConfig, start_controllers
from lws.sim.gc import run_garbage_collector
from lws.sim.topology import NodeTiming, load_topology

PODS = ("", "v1", "pods")
STATEFULSETS = ("apps", "v1", "statefulsets")


def statefulset(name: str, replicas: int, policy: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": "main", "image": "vllm:1", "resources": {"limits": {"nvidia.com/gpu": "1"}}}
                    ]
                },
            },
        },
    }


async def wait_ready(api: APIServer, name: str, replicas: int) -> None:
    done = asyncio.get_running_loop().create_future()

    def listener(gr: Any, event: Any) -> None:
        status = event.obj.get("status") or {}
        if (
            gr == ("apps", "statefulsets")
            and event.obj["metadata"]["name"] == name
            and status.get("readyReplicas") == replicas
            and not done.done()
        ):
            done.set_result(None)

    api.store.add_listener(listener)
    try:
        await asyncio.wait_for(done, 600)
    finally:
        api.store.remove_listener(listener)


async def main(pods: int, policy: str, topology: str) -> None:
    api = APIServer()
    api.bootstrap()
    topo = load_topology(topology)
    for node in topo.nodes():
        await api.create(("", "v1", "nodes"), None, node)
    config = ControllersConfig(kubelet=KubeletConfig(timing=NodeTiming(), max_termination_seconds=0.0))
    controllers = start_controllers(api, config)
    gc = asyncio.get_running_loop().create_task(run_garbage_collector(api))
    await controllers.wait_synced()
    try:
        started = time.perf_counter()
        await api.create(STATEFULSETS, "default", statefulset("bench", pods, policy))
        await wait_ready(api, "bench", pods)
        elapsed = time.perf_counter() - started
        print(
            f"{pods} pods Ready ({policy}, {len(topo.node_specs())} nodes, zero kubelet delay): "
            f"{elapsed:.2f} s, {pods / elapsed:.0f} pods/s, {controllers.scheduler.bound} bindings"
        )
        started = time.perf_counter()
        await api.patch(
            STATEFULSETS, "default", "bench", {"spec": {"replicas": 0}}, "application/merge-patch+json"
        )
        gone = asyncio.get_running_loop().create_future()

        def listener(gr: Any, event: Any) -> None:
            if gr == ("", "pods") and api.store.count(("", "pods")) == 0 and not gone.done():
                gone.set_result(None)

        api.store.add_listener(listener)
        await asyncio.wait_for(gone, 600)
        api.store.remove_listener(listener)
        print(f"scale {pods} -> 0: {time.perf_counter() - started:.2f} s")
    finally:
        gc.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gc
        await controllers.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policy", default="Parallel", choices=["Parallel", "OrderedReady"])
    parser.add_argument("--topology", default="gpu-large")
    args = parser.parse_args()
    asyncio.run(main(args.pods, args.policy, args.topology))
