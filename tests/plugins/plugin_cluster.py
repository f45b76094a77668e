"""An embedded cluster with the operator running a chosen set of plugins: what the plugin e2e tests share.

The operator's own end-to-end harness (``tests/operator``) runs the default plugins on one CPU topology.
Plugin tests need GPU and TPU nodes and other plugin selections (the opt-in gang schedulers, whose PodGroup
CRDs must be installed first), so a test module starts the cluster it needs here, once, and each of its
tests works in a namespace of its own::

    with running(tmp_path, topology=GPU_RACKS, hooks=make_hooks()) as env:
        with env.namespace() as ns:
            env.kube.create(LEADERWORKERSETS, ns, make_lws("demo"))
            env.kube.wait_available(ns, "demo")

Placement depends on free capacity, so placement tests run ``lws simulate`` instead (:func:`simulate`): a
fresh cluster of the topology for every run, with the operator and the installed plugins, in about a second.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from lws.api import constants as c
from lws.cli.main import cli
from lws.cluster.kube import connect
from lws.cluster.resources import EVENTS, PODS
from lws.controller.in_process import InProcessOperator
from lws.hooks.manager import Hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.runner import EmbeddedCluster
from tests.operator.e2e_kit import Kube, labels, namespace_scope

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
DATA = Path(__file__).parent / "data"
#: One zone, two racks of four 8-GPU nodes, quick kubelets.
GPU_RACKS = DATA / "gpu-racks.yaml"
#: The Volcano and scheduler-plugins PodGroup CRDs, reduced to the fields the gang plugins write.
POD_GROUP_CRDS = DATA / "podgroup-crds.yaml"

Obj = dict[str, Any]


@dataclass
class PluginCluster:
    """A running embedded cluster, the LeaderWorkerSet CRD, and an operator with the chosen plugins."""

    cluster: EmbeddedCluster
    operator: InProcessOperator
    kube: Kube

    def namespace(self) -> contextlib.AbstractContextManager[str]:
        """A fresh namespace, deleted (with everything in it) when the block ends."""
        return contextlib.contextmanager(namespace_scope)(self.kube)

    def settle(self, obj: Mapping[str, Any]) -> None:
        """Wait until the operator has acted on every change up to ``obj`` (its resourceVersion).

        For assertions that something did *not* happen: afterwards, anything the operator was going to do
        about that change is done."""
        self.operator.settle(str(obj["metadata"]["resourceVersion"]))

    def pods(self, namespace: str, set_name: str, *, role: str | None = None) -> list[Obj]:
        """The pods of one LeaderWorkerSet (``role``: ``"leader"`` or ``"worker"``), by name."""
        selector = f"{c.SET_NAME_LABEL}={set_name}"
        if role == "leader":
            selector += f",{c.WORKER_INDEX_LABEL}=0"
        elif role == "worker":
            selector += f",{c.WORKER_INDEX_LABEL}!=0"
        return sorted(self.kube.list(PODS, namespace, selector), key=lambda p: str(p["metadata"]["name"]))

    def events(self, namespace: str, reason: str) -> list[Obj]:
        """The ``events.k8s.io`` events of one reason in a namespace."""
        return [e for e in self.kube.list(EVENTS, namespace) if e.get("reason") == reason]


@contextlib.contextmanager
def running(
    tmp: Path, *, topology: str | Path, hooks: Hooks, crds: Sequence[Path] = ()
) -> Iterator[PluginCluster]:
    """Start an embedded cluster with ``topology``'s nodes, install ``crds/`` and ``crds``, then start the
    operator with ``hooks``; stop both on exit."""
    # Frequent bookmarks let quiet watches tell the operator's caches how far the cluster has got, which
    # is what PluginCluster.settle waits for.
    cluster = EmbeddedCluster(topology=topology, bookmark_interval=0.2).start()
    kube: Kube | None = None
    operator: InProcessOperator | None = None
    try:
        kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")
        kube = Kube(kubeconfig)
        for path in (CRDS, *crds):
            kube.kubectl("apply", "--server-side", "-f", str(path))
        settings = settings_for_tests(kubeconfig=str(kubeconfig))
        operator = InProcessOperator(settings, hooks, connect=connect).start()
        yield PluginCluster(cluster, operator, kube)
    finally:
        if operator is not None:
            operator.stop()
        if kube is not None:
            kube.close()
        cluster.stop()


def worker_index(pod: Mapping[str, Any]) -> int:
    return int(labels(pod)[c.WORKER_INDEX_LABEL])


def env_map(container: Mapping[str, Any]) -> dict[str, str]:
    """A container's plain ``env`` entries as a dict (entries with ``valueFrom`` are left out)."""
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


def simulate(tmp: Path, topology: str, *objects: Mapping[str, Any], args: Sequence[str] = ()) -> Obj:
    """``lws simulate -o json`` on ``objects`` (a shipped topology name or a file): its report.

    Use the ``restore_logging`` fixture with it: the command sets log levels, as a CLI should."""
    manifest = tmp / "simulate.yaml"  # read before the command returns: the next run may overwrite it
    manifest.write_text(yaml.safe_dump_all([dict(o) for o in objects]))
    command = ["simulate", "-f", str(manifest), "--topology", topology, "-o", "json", *args]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, f"lws {' '.join(command)}: {result.output}"
    report: Obj = json.loads(result.stdout)
    return report


def placed_set(report: Mapping[str, Any], name: str) -> Obj:
    """One LeaderWorkerSet of a simulate report."""
    (found,) = [s for s in report["leaderWorkerSets"] if s["name"] == name]
    return dict(found)
