"""ClusterIP allocation for Services (lws.sim.controllers.services)."""

from __future__ import annotations

from typing import Any

from controller_kit import SERVICES, running_cluster, wait_for

from lws.sim.controllers.services import ClusterIPAllocator


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec},
    }


async def test_cluster_ips_are_allocated_unique_and_headless_services_keep_none():
    async with running_cluster() as sim:
        for i in range(5):
            await sim.api.create(SERVICES, "default", service(f"s{i}"))
        await sim.api.create(SERVICES, "default", service("headless", clusterIP="None"))
        await sim.api.create(SERVICES, "default", service("fixed", clusterIP="10.96.7.7"))
        external = {**service("ext"), "spec": {"type": "ExternalName", "externalName": "example.com"}}
        await sim.api.create(SERVICES, "default", external)
        objects = await wait_for(
            sim.api,
            SERVICES,
            "default",
            lambda o: all((o.get(f"s{i}", {}).get("spec") or {}).get("clusterIP") for i in range(5)),
        )
        ips = [objects[f"s{i}"]["spec"]["clusterIP"] for i in range(5)]
        assert len(set(ips)) == 5
        assert all(ip.startswith("10.96.") and ip != "10.96.0.1" for ip in ips)
        assert "10.96.7.7" not in ips
        assert objects["s0"]["spec"]["clusterIPs"] == [ips[0]]
        assert objects["headless"]["spec"]["clusterIP"] == "None"
        assert not objects["ext"]["spec"].get("clusterIP")


def test_allocator_reuses_released_addresses_only_after_a_full_cycle():
    allocator = ClusterIPAllocator()
    first = allocator.allocate()
    assert first == "10.96.0.2"
    allocator.release(first)
    assert allocator.allocate() == "10.96.0.3"
    allocator.reserve("10.96.0.4")
    assert allocator.allocate() == "10.96.0.5"
