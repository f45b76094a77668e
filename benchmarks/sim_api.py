"""Throughput, watch latency and memory of the embedded API server over HTTP (not a test: prints figures).

* objects created per second through the HTTP API: pods POSTed by 1 and by 8 concurrent clients (aiohttp),
  and by the official ``kubernetes`` client (one thread), which is what operators and tests pay;
* watch latency: time from a PATCH being sent to its MODIFIED event arriving on an open watch, p50/p99;
* memory: resident set size with 10,000 pods stored and a watch open on them.

The cluster runs with its core controllers (namespaces, GC, CRD cleanup) and no nodes, so only the API
server works.

    .venv/bin/python benchmarks/sim_api.py [--pods 10000] [--latency-samples 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

import aiohttp
from kubernetes import client, config

from lws.sim.runner import CORE_CONTROLLERS, EmbeddedCluster


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench", "group": name[-1]}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/vllm:0.9",
                    "resources": {"limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}},
                    "env": [{"name": "LWS_WORKER_INDEX", "value": "0"}],
                }
            ]
        },
    }


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def create_pods(url: str, prefix: str, count: int, concurrency: int) -> float:
    """POST ``count`` pods with ``concurrency`` clients; returns pods per second."""
    names = iter(range(count))
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:

        async def worker() -> None:
            for index in names:
                body = json.dumps(pod(f"{prefix}-{index}"))
                async with session.post(f"{url}/api/v1/namespaces/default/pods", data=body) as response:
                    if response.status != 201:
                        raise RuntimeError(f"create failed: {response.status} {await response.text()}")
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


def create_with_official_client(kubeconfig: str, count: int) -> float:
    api_client = config.new_client_from_config(kubeconfig)
    core = client.CoreV1Api(api_client)
    started = time.perf_counter()
    for index in range(count):
        core.create_namespaced_pod("default", pod(f"official-{index}"))
    elapsed = time.perf_counter() - started
    api_client.close()
    return count / elapsed


async def watch_latency(url: str, samples: int) -> list[float]:
    """Milliseconds from sending a PATCH to receiving its MODIFIED event."""
    sent: dict[str, float] = {}
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{url}/api/v1/namespaces/default/configmaps",
            json={"metadata": {"name": "latency"}, "data": {"seq": "-1"}},
        ) as response:
            rv = (await response.json())["metadata"]["resourceVersion"]
        done = asyncio.Event()

        async def follow() -> None:
            params = {"watch": "true", "resourceVersion": rv, "fieldSelector": "metadata.name=latency"}
            async with session.get(f"{url}/api/v1/namespaces/default/configmaps", params=params) as stream:
                async for line in stream.content:
                    event = json.loads(line)
                    seq = event["object"]["data"]["seq"]
                    if seq in sent:
                        latencies.append((time.perf_counter() - sent.pop(seq)) * 1000)
                        if len(latencies) == samples:
                            done.set()
                            return

        follower = asyncio.create_task(follow())
        headers = {"Content-Type": "application/merge-patch+json"}
        for seq in range(samples):
            sent[str(seq)] = time.perf_counter()
            body = json.dumps({"data": {"seq": str(seq)}})
            async with session.patch(
                f"{url}/api/v1/namespaces/default/configmaps/latency", data=body, headers=headers
            ) as response:
                await response.read()
        await asyncio.wait_for(done.wait(), 60)
        await follower
    return latencies


async def open_pod_watch(url: str, session: aiohttp.ClientSession) -> tuple[asyncio.Task[None], list[int]]:
    """A watch on all pods (initial events included), kept open while memory is measured."""
    seen = [0]

    async def follow() -> None:
        async with session.get(f"{url}/api/v1/pods", params={"watch": "true"}) as stream:
            async for _line in stream.content:
                seen[0] += 1

    return asyncio.create_task(follow()), seen


async def main(pods: int, samples: int) -> None:
    print(f"embedded API server benchmark on {os.cpu_count()} CPU(s)")
    with EmbeddedCluster(controllers=CORE_CONTROLLERS) as cluster:
        baseline = rss_mib()
        kubeconfig = str(cluster.write_kubeconfig(f"/tmp/lws-bench-{os.getpid()}/kubeconfig"))

        sequential = await create_pods(cluster.url, "seq", 1000, 1)
        concurrent = await create_pods(cluster.url, "par", 2000, 8)
        official = await asyncio.to_thread(create_with_official_client, kubeconfig, 300)
        print(f"create, aiohttp, 1 client:        {sequential:8.0f} pods/s")
        print(f"create, aiohttp, 8 clients:       {concurrent:8.0f} pods/s")
        print(f"create, official client (sync):   {official:8.0f} pods/s")

        latencies = sorted(await watch_latency(cluster.url, samples))
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"watch latency write->event:       p50 {p50:6.2f} ms   p99 {p99:6.2f} ms", end="")
        print(f"   ({len(latencies)} samples)")

        async with aiohttp.ClientSession() as session:
            watcher, seen = await open_pod_watch(cluster.url, session)
            remaining = pods - cluster.api.store.count(("", "pods"))
            await create_pods(cluster.url, "mem", remaining, 8)
            stored = cluster.api.store.count(("", "pods"))
            deadline = time.perf_counter() + 60
            while seen[0] < stored and time.perf_counter() < deadline:
                await asyncio.sleep(0.1)  # benchmark pacing only: waiting for the watcher to catch up
            rss = rss_mib()
            print(
                f"memory with {stored} pods + 1 watch: {rss:8.0f} MiB RSS",
                f"({rss - baseline:.0f} MiB over start)",
            )
            print(f"watch events delivered:           {seen[0]:8d}")
            watcher.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=10_000, help="pods stored for the memory figure")
    parser.add_argument("--latency-samples", type=int, default=500, help="PATCHes timed for watch latency")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.pods, arguments.latency_samples))
