"""The stage ``lws demo`` and ``lws simulate`` play on: an embedded cluster with a topology, the
LeaderWorkerSet and DisaggregatedSet CRDs, and the operator, all in this process.

The operator is the one ``lws run`` starts (:class:`lws.controller.operator.Operator`: kopf, webhooks over
HTTPS, informers, leader election), on a thread of its own
(:class:`lws.controller.in_process.InProcessOperator`),
talking to the cluster over HTTP through a kubeconfig, exactly as it would talk to any cluster::

    with Stage("gpu-small", make_hooks()) as stage:
        stage.cluster.sync.create(LWS, "default", body)   # admitted by the operator's webhooks
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

from lws.api import constants as c
from lws.api.crd import build_crd
from lws.api.disaggregated import constants as d
from lws.api.disaggregated.crd import build_disaggregatedset_crd, build_rolescaler_crd
from lws.cluster.kube import connect
from lws.controller.context import Telemetry
from lws.controller.in_process import InProcessOperator, OperatorError
from lws.controller.settings import OperatorSettings
from lws.hooks.manager import Hooks
from lws.sim.controllers import ControllersConfig, WorkloadControllers
from lws.sim.runner import CORE_CONTROLLERS, ClusterError, EmbeddedCluster
from lws.sim.topology import NodeTiming, Topology, load_topology

CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
NAMESPACES = ("", "v1", "namespaces")
LEADERWORKERSETS = (c.GROUP, c.VERSION, c.PLURAL)
DISAGGREGATEDSETS = (d.GROUP, d.VERSION, d.PLURAL)
ROLE_SCALERS = (d.GROUP, d.VERSION, d.SCALER_PLURAL)


class StageError(RuntimeError):
    """The cluster or the operator did not start; the message says which, and why."""


def with_kubelet_timing(topology: Topology, timing: NodeTiming) -> Topology:
    """``topology`` with every node's kubelet taking ``timing`` (per-node overrides of timing dropped)."""
    overrides = tuple(dataclasses.replace(o, timing={}) for o in topology.overrides)
    return dataclasses.replace(topology, timing=timing, overrides=overrides)


class Stage:
    """The embedded cluster (nodes from ``topology``), the CRDs, and a running operator.

    :param topology: a topology file or a shipped topology name (``lws.sim.topology``); raises
        :class:`lws.sim.topology.TopologyError` when it is neither.
    :param hooks: the plugins; the CRD's policy enums and the operator's behaviour both follow them.
    :param timing: kubelet delays for every node, instead of the topology's own.
    :param kubeconfig: where to write the kubeconfig (default: a temporary directory, removed at stop).
    :param telemetry: the operator's tracing and metrics seam (default: none).
    """

    def __init__(
        self,
        topology: str | Path,
        hooks: Hooks,
        *,
        timing: NodeTiming | None = None,
        kubeconfig: Path | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.source = topology
        self.topology = load_topology(topology)
        if timing is not None:
            self.topology = with_kubelet_timing(self.topology, timing)
        self.hooks = hooks
        self.telemetry = telemetry
        self._kubeconfig = kubeconfig
        self._cleanup = contextlib.ExitStack()
        self._cluster: EmbeddedCluster | None = None
        self._operator: InProcessOperator | None = None
        self.kubeconfig: Path | None = None

    @property
    def cluster(self) -> EmbeddedCluster:
        """The running embedded cluster."""
        if self._cluster is None:
            raise StageError("the stage is not running: call start() first")
        return self._cluster

    @property
    def operator(self) -> InProcessOperator:
        """The running operator."""
        if self._operator is None:
            raise StageError("the stage is not running: call start() first")
        return self._operator

    def start(self, timeout: float = 60.0) -> Stage:
        """Start the cluster, install the CRDs, start the operator; return once its webhooks are
        registered."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        workloads = WorkloadControllers(ControllersConfig.from_topology(self.topology))
        # Frequent bookmarks let quiet watches tell the operator's caches how far the cluster has got, which
        # is what InProcessOperator.settle waits for.
        cluster = EmbeddedCluster(
            topology=self.source, controllers=(*CORE_CONTROLLERS, workloads), bookmark_interval=0.2
        )
        # Our own workload controllers (for the kubelet timing): the fault API reaches them here.
        cluster.workloads = workloads
        self._cleanup.callback(cluster.stop)
        try:
            cluster.start(timeout)
        except ClusterError as exc:
            raise StageError(f"the embedded cluster did not start: {exc}") from exc
        self._cluster = cluster
        policies = {
            "startup_policies": self.hooks.startup_values,
            "restart_policies": self.hooks.restart_values,
        }
        for crd in (build_crd(**policies), build_disaggregatedset_crd(**policies), build_rolescaler_crd()):
            cluster.sync.create(CRDS, None, crd)
        # Where an install puts the operator's Lease (and where `kubectl -n lws-system` finds it).
        cluster.sync.create(NAMESPACES, None, {"metadata": {"name": c.OPERATOR_NAMESPACE}})
        if self._kubeconfig is None:
            folder = self._cleanup.enter_context(tempfile.TemporaryDirectory(prefix="lws-demo-"))
            path = Path(folder) / "kubeconfig"
        else:
            path = self._kubeconfig
        self.kubeconfig = cluster.write_kubeconfig(path)
        settings = OperatorSettings(
            kubeconfig=str(self.kubeconfig),
            identity=f"lws-demo_{uuid.uuid4().hex[:8]}",
            health_host="127.0.0.1",
            health_port=0,
        )
        operator = InProcessOperator(settings, self.hooks, connect=connect, telemetry=self.telemetry)
        self._cleanup.callback(operator.stop)
        try:
            operator.start(timeout)
        except OperatorError as exc:
            raise StageError(f"the operator did not start: {exc}") from exc
        self._operator = operator

    def stop(self) -> None:
        """Stop the operator (cleanly), then the cluster; idempotent."""
        self._operator = None
        self._cluster = None
        self._cleanup.close()

    def __enter__(self) -> Stage:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
