"""The operator's end-to-end harness: the cluster under test and in-process operators.

Kept out of ``conftest.py`` so tests can import these names: several test folders have a ``conftest``
module, and importing one by that name picks whichever was loaded first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_kit import Kube

from lws.cluster.kube import connect
from lws.controller.context import Telemetry
from lws.controller.in_process import InProcessOperator
from lws.controller.operator import Connect
from lws.hooks.manager import make_hooks
from lws.plugin_testing import settings_for_tests
from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import skip_if_real_cluster

HERE = Path(__file__).parent
TOPOLOGY = HERE / "topology.yaml"
CRDS = HERE.parents[1] / "crds"


@dataclass
class E2E:
    """The cluster under test; ``cluster``/``operator`` are ``None`` against a real cluster."""

    kubeconfig: Path
    kube: Kube
    cluster: EmbeddedCluster | None
    operator: InProcessOperator | None

    def require_operator(self) -> InProcessOperator:
        skip_if_real_cluster("the in-process operator")
        assert self.operator is not None
        return self.operator


def start_cluster(tmp: Path) -> tuple[EmbeddedCluster, Path, Kube]:
    """An embedded cluster with the test topology and the LeaderWorkerSet CRD."""
    # Frequent bookmarks let quiet watches tell the operator's caches how far the cluster has got, which
    # is what InProcessOperator.settle waits for.
    cluster = EmbeddedCluster(topology=TOPOLOGY, bookmark_interval=0.2).start()
    kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")
    kube = Kube(kubeconfig)
    kube.kubectl("apply", "--server-side", "-f", str(CRDS))
    return cluster, kubeconfig, kube


def start_operator(
    *, telemetry: Telemetry | None = None, connect_with: Connect = connect, **changes: Any
) -> InProcessOperator:
    """An operator on its own thread; ``changes`` are settings (the kubeconfig at least). Ready when returned.

    :param connect_with: how it connects (a test may put a faulty network between it and the cluster).
    """
    return InProcessOperator(
        settings_for_tests(**changes), make_hooks(), connect=connect_with, telemetry=telemetry
    ).start()


@dataclass
class Private:
    """A cluster and operator(s) of one test's own (recovery and HA tests disturb the operator)."""

    kubeconfig: Path
    kube: Kube
    cluster: EmbeddedCluster
    operators: list[InProcessOperator]

    def start_operator(
        self, *, telemetry: Telemetry | None = None, connect_with: Connect = connect, **changes: Any
    ) -> InProcessOperator:
        operator = start_operator(
            telemetry=telemetry, connect_with=connect_with, kubeconfig=str(self.kubeconfig), **changes
        )
        self.operators.append(operator)
        return operator
