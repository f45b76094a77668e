"""Admission latency of a LeaderWorkerSet on the embedded cluster (not a test: prints figures).

What a ``kubectl apply`` of a set costs the API server: the request decoded, pruned and defaulted by the CRD's
structural schema, sent to the operator's mutating and validating webhooks over HTTPS, validated by the
schema, and answered. Requests use ``dryRun=All`` so that nothing is stored or reconciled and every sample
measures the same path. Also the time to install the CRD (``kubectl apply --server-side`` equivalent: one
create, then Established).

Pass ``--crd FILE`` to measure another CRD, e.g. an older one, for a before/after comparison:

    git show OLD:crds/leaderworkerset.x-k8s.io_leaderworkersets.yaml > /tmp/old.yaml
    .venv/bin/python benchmarks/admission_latency.py --crd /tmp/old.yaml
    .venv/bin/python benchmarks/admission_latency.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from lws.api import constants as c
from lws.cluster.kube import connect
from lws.controller.in_process import InProcessOperator
from lws.hooks.manager import make_hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.runner import CORE_CONTROLLERS, EmbeddedCluster

ROOT = Path(__file__).resolve().parents[1]
CRD = ROOT / "crds" / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
SAMPLE = ROOT / "lws" / "demo" / "vllm.yaml"
CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")


def _post(url: str, body: dict[str, Any]) -> float:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crd", type=Path, default=CRD)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    crd = yaml.safe_load(args.crd.read_text(encoding="utf-8"))
    sample = next(d for d in yaml.safe_load_all(SAMPLE.read_text(encoding="utf-8")) if d)
    with EmbeddedCluster(controllers=CORE_CONTROLLERS) as cluster, tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cluster.sync.create(CRDS, None, crd)
        installed = time.perf_counter() - start
        kubeconfig = cluster.write_kubeconfig(Path(tmp) / "kubeconfig")
        settings = settings_for_tests(kubeconfig=str(kubeconfig))
        with InProcessOperator(settings, make_hooks(), connect=connect):
            url = f"{cluster.url}/apis/{c.GROUP}/{c.VERSION}/namespaces/default/{c.PLURAL}?dryRun=All"
            for i in range(20):  # warm up connections, caches and the schema's compiled patterns
                _post(url, {**sample, "metadata": {"name": f"warm-{i}"}})
            samples = sorted(
                _post(url, {**sample, "metadata": {"name": f"set-{i}"}}) for i in range(args.samples)
            )
    p50 = statistics.median(samples) * 1000
    p99 = samples[int(len(samples) * 0.99) - 1] * 1000
    size = len(json.dumps(crd)) // 1024
    print(f"CRD {args.crd.name}: {size} KiB as JSON, installed in {installed * 1000:.0f} ms")
    print(f"admission of {SAMPLE.name} (dryRun, both webhooks): p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
