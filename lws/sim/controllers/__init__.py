"""The controllers a real cluster runs, built into the embedded cluster: StatefulSet, scheduler, kubelets,
Service ClusterIPs, volume provisioning, disruption budgets, Deployments and ReplicaSets. They know nothing
about LeaderWorkerSet.

They share one informer (watch-fed cache) per resource type and run on the cluster's event loop::

    controllers = start_controllers(api, ControllersConfig.from_topology(load_topology("gpu-small")))
    ...
    await controllers.stop()

The runner uses :class:`WorkloadControllers`, a controller coroutine that starts them and keeps the
running :class:`Controllers` reachable for the fault API (:mod:`lws.sim.faults`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from typing import Any

from lws.sim.apiserver import APIServer
from lws.sim.controllers.deployment import DeploymentController
from lws.sim.controllers.disruption import DisruptionController
from lws.sim.controllers.informer import Informers
from lws.sim.controllers.kubelet import KubeletConfig, Kubelets
from lws.sim.controllers.pvc import VolumeBinder
from lws.sim.controllers.replicaset import ReplicaSetController
from lws.sim.controllers.scheduler import Scheduler
from lws.sim.controllers.services import ServiceIPController
from lws.sim.controllers.statefulset import StatefulSetController
from lws.sim.topology import Topology

__all__ = [
    "Controllers",
    "ControllersConfig",
    "KubeletConfig",
    "WorkloadControllers",
    "start_controllers",
]


@dataclass(frozen=True)
class ControllersConfig:
    """Settings of the built-in workload controllers."""

    kubelet: KubeletConfig = field(default_factory=KubeletConfig)
    statefulset_workers: int = 4
    scheduler: bool = True
    """Set False to leave pods Pending (a cluster whose scheduler is down)."""
    scheduler_names: tuple[str, ...] = ("default-scheduler",)
    """The names the scheduler answers to (kube-scheduler profiles); pods naming another stay Pending."""

    @classmethod
    def from_topology(cls, topology: Topology | None, **changes: Any) -> ControllersConfig:
        """Kubelet timing (default and per node) from a topology; other fields as given."""
        config = cls(**changes)
        if topology is None:
            return config
        kubelet = replace(config.kubelet, timing=topology.timing, node_timing=topology.timings())
        return replace(config, kubelet=kubelet, scheduler_names=topology.scheduler_names)


class Controllers:
    """The running workload controllers; :meth:`stop` cancels them."""

    def __init__(self, api: APIServer, config: ControllersConfig) -> None:
        self.api = api
        self.config = config
        self.informers = Informers(api)
        self.statefulsets = StatefulSetController(api, self.informers, workers=config.statefulset_workers)
        self.scheduler = Scheduler(api, self.informers, names=config.scheduler_names)
        self.kubelets = Kubelets(api, self.informers, config.kubelet)
        self.services = ServiceIPController(api, self.informers)
        self.volumes = VolumeBinder(api, self.informers)
        self.disruption = DisruptionController(api, self.informers)
        self.replicasets = ReplicaSetController(api, self.informers)
        self.deployments = DeploymentController(api, self.informers)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the watches and the control loops on the running loop."""
        self.informers.start()
        loops = [
            self.statefulsets.run(),
            self.kubelets.run(),
            self.services.run(),
            self.volumes.run(),
            self.disruption.run(),
            self.replicasets.run(),
            self.deployments.run(),
        ]
        if self.config.scheduler:
            loops.append(self.scheduler.run())
        self._tasks = [asyncio.get_running_loop().create_task(loop) for loop in loops]

    async def wait_synced(self) -> None:
        """Wait until every cache has its initial listing."""
        await self.informers.wait_synced()

    async def stop(self) -> None:
        """Cancel the control loops and the watches."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.informers.stop()


def start_controllers(api: APIServer, config: ControllersConfig | None = None) -> Controllers:
    """Start the StatefulSet controller, scheduler, kubelets, ClusterIPs and volumes (call on the loop)."""
    controllers = Controllers(api, config or ControllersConfig())
    controllers.start()
    return controllers


class WorkloadControllers:
    """A controller coroutine for the runner: ``await WorkloadControllers(config)(api)`` runs until cancelled.

    While it runs, :attr:`running` holds the :class:`Controllers` (the fault API needs the kubelets).
    """

    def __init__(self, config: ControllersConfig | None = None) -> None:
        self.config = config or ControllersConfig()
        self.running: Controllers | None = None
        self.ready = asyncio.Event()

    async def __call__(self, api: APIServer) -> None:
        controllers = start_controllers(api, self.config)
        self.running = controllers
        try:
            await controllers.wait_synced()
            self.ready.set()
            await asyncio.Event().wait()
        finally:
            self.running = None
            await controllers.stop()
