"""ClusterIP allocation: every Service that is not headless or ExternalName gets an address from 10.96.0.0/12.

Kubernetes allocates in the API server's create path; here a controller fills ``spec.clusterIP`` and
``spec.clusterIPs`` right after creation (clients that read the Service back a moment later see it).
Addresses are never handed out twice while their Service exists; ``10.96.0.1`` is reserved for the
``kubernetes`` Service, as on a real cluster.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from lws.sim.apiserver import MERGE_PATCH, APIServer
from lws.sim.controllers.informer import Informers
from lws.sim.errors import APIError
from lws.sim.workqueue import WorkQueue, run_workers

SERVICES = ("", "v1", "services")
SERVICE_NETWORK = ipaddress.IPv4Network("10.96.0.0/12")

Key = tuple[str, str]


def wants_cluster_ip(service: Mapping[str, Any]) -> bool:
    """A Service of type ClusterIP, NodePort or LoadBalancer without an address yet."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return False
    return not spec.get("clusterIP")


class ClusterIPAllocator:
    """Hands out free Service addresses in order, skipping the network, 10.96.0.1 and used ones."""

    def __init__(self, network: ipaddress.IPv4Network = SERVICE_NETWORK) -> None:
        self.network = network
        self.used: set[str] = {str(network.network_address + 1)}
        self._next = 2

    def reserve(self, address: str) -> None:
        """Mark an address taken (a Service that already has it)."""
        self.used.add(address)

    def release(self, address: str) -> None:
        """Free an address (its Service was deleted)."""
        if address != str(self.network.network_address + 1):
            self.used.discard(address)

    def allocate(self) -> str:
        """The next free address."""
        size = self.network.num_addresses - 2
        for _ in range(size):
            candidate = str(self.network.network_address + self._next)
            self._next = self._next + 1 if self._next < size else 2
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        raise RuntimeError(f"the Service network {self.network} is full")


class ServiceIPController:
    """Allocates ClusterIPs for new Services and releases them when Services go."""

    def __init__(self, api: APIServer, informers: Informers) -> None:
        self.api = api
        self.informers = informers
        self.allocator = ClusterIPAllocator()
        self.queue: WorkQueue[Key] = WorkQueue()
        self.services = informers.get(SERVICES)
        self.services.add_handler(self._on_service)

    def _on_service(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is None:
            if old is not None:
                address = (old.get("spec") or {}).get("clusterIP")
                if address and address != "None":
                    self.allocator.release(address)
            return
        address = (new.get("spec") or {}).get("clusterIP")
        if address and address != "None":
            self.allocator.reserve(address)
        elif wants_cluster_ip(new):
            meta = new["metadata"]
            self.queue.add((meta.get("namespace") or "", meta["name"]))

    async def run(self) -> None:
        """Allocate until cancelled."""
        await self.informers.wait_synced()
        await run_workers("service-ips", self.queue, self.sync)

    async def sync(self, key: Key) -> None:
        """Give one Service its address, if it still needs one."""
        service = self.services.get(*key)
        if service is None or not wants_cluster_ip(service):
            return
        address = self.allocator.allocate()
        body = {
            "metadata": {"resourceVersion": service["metadata"].get("resourceVersion")},
            "spec": {"clusterIP": address, "clusterIPs": [address]},
        }
        try:
            await self.api.patch(SERVICES, key[0], key[1], body, MERGE_PATCH)
        except APIError:
            self.allocator.release(address)
            raise
