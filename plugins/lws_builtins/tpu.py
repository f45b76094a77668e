"""Upstream's TPU wiring: ``TPU_WORKER_HOSTNAMES``, ``TPU_WORKER_ID``, ``TPU_NAME``,
``TPU_PROCESS_ADDRESSES`` and ``TPU_PROCESS_PORT`` for pods that request ``google.com/tpu``.

Hostnames are ``<pod>.<subdomain>`` (no namespace). A leader that requests TPUs is TPU worker 0; when it
does not, worker ids shift down by one. With subgroups, each subgroup is its own TPU slice. The step is
skipped when the first TPU container already sets ``TPU_WORKER_HOSTNAMES`` or ``TPU_WORKER_ID``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.plugin import GroupContext, PodContext, container_request, hookimpl
from lws.plugin import constants as c


def tpu_containers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Containers, then init containers, that request TPUs (limit, else request, non-zero)."""
    found = [x for x in spec.get("containers") or [] if container_request(x, c.TPU_RESOURCE) != 0]
    found += [x for x in spec.get("initContainers") or [] if container_request(x, c.TPU_RESOURCE) != 0]
    return found


@hookimpl
def lws_worker_template(template: dict[str, Any], ctx: GroupContext) -> None:
    """Tell workers whether their leader is a TPU worker too (from the live leader, else its template)."""
    leader_spec = (
        (ctx.leader_pod or {}).get("spec") if ctx.leader_pod else ctx.lws.leader_template.get("spec")
    )
    if tpu_containers(leader_spec or {}):
        meta = template.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), c.LEADER_REQUESTS_TPUS_ANNOTATION: "true"}


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    containers = tpu_containers(pod.get("spec") or {})
    if not containers or _already_wired(containers[0]):
        return
    leader_tpus = ctx.annotations.get(c.LEADER_REQUESTS_TPUS_ANNOTATION) == "true"
    if ctx.subgroup_size is not None:
        if ctx.subgroup_index is None:
            return  # a LeaderExcluded leader is in no TPU slice (upstream rejects such a pod instead)
        _wire_subgroup(containers[0], ctx, leader_tpus)
    else:
        _wire_group(containers, ctx, leader_tpus)


def _already_wired(container: Mapping[str, Any]) -> bool:
    return any(e.get("name") in (c.TPU_WORKER_HOSTNAMES, c.TPU_WORKER_ID) for e in container.get("env") or [])


def _env_value(container: Mapping[str, Any], name: str) -> str | None:
    for entry in container.get("env") or []:
        if entry.get("name") == name:
            return str(entry.get("value", ""))
    return None


def _wire_group(containers: list[dict[str, Any]], ctx: PodContext, leader_tpus: bool) -> None:
    n = len(containers)
    worker_index = ctx.worker_index if ctx.is_leader or leader_tpus else ctx.worker_index - 1
    ports = [
        _env_value(x, c.TPU_PROCESS_PORT) or str(c.TPU_DEFAULT_PORT + i) for i, x in enumerate(containers)
    ]
    hosts: list[str] = []
    if ctx.is_leader or leader_tpus:
        hosts += [f"{ctx.leader_name}.{ctx.subdomain}"] * n
    for k in range(1, ctx.group_size):
        hosts += [f"{ctx.leader_name}-{k}.{ctx.subdomain}"] * n
    addresses = [f"{host}:{ports[i % n]}" for i, host in enumerate(hosts)]
    for i, container in enumerate(containers):
        has_port = _env_value(container, c.TPU_PROCESS_PORT) is not None
        env = container.setdefault("env", [])
        env += [
            {"name": c.TPU_WORKER_HOSTNAMES, "value": ",".join(hosts)},
            {"name": c.TPU_WORKER_ID, "value": str(worker_index * n + i)},
            {"name": c.TPU_NAME, "value": ctx.leader_name},
            {"name": c.TPU_PROCESS_ADDRESSES, "value": ",".join(addresses)},
        ]
        if not has_port:
            env.append({"name": c.TPU_PROCESS_PORT, "value": ports[i]})


def _wire_subgroup(container: dict[str, Any], ctx: PodContext, leader_tpus: bool) -> None:
    sgs = int(ctx.subgroup_size or 1)
    w = ctx.worker_index
    sgi = int(ctx.subgroup_index or 0)
    worker_id = w % sgs
    if w != 0 and not leader_tpus:
        worker_id = (w - 1) % sgs
        sgi = (w - 1) // sgs
    port = _env_value(container, c.TPU_PROCESS_PORT)
    has_port = port is not None
    port = port or str(c.TPU_DEFAULT_PORT)
    start, end = sgs * sgi + 1, sgs * (sgi + 1)
    hosts: list[str] = []
    if ctx.is_leader:
        hosts.append(f"{ctx.leader_name}.{ctx.subdomain}")
        end -= 1
    elif leader_tpus and sgi == 0:
        end -= 1
        hosts.append(f"{ctx.leader_name}.{ctx.subdomain}")
    elif leader_tpus:
        start, end = start - 1, end - 1
    hosts += [f"{ctx.leader_name}-{k}.{ctx.subdomain}" for k in range(start, end + 1)]
    env = container.setdefault("env", [])
    env += [
        {"name": c.TPU_WORKER_HOSTNAMES, "value": ",".join(hosts)},
        {"name": c.TPU_WORKER_ID, "value": str(worker_id)},
        {"name": c.TPU_NAME, "value": ctx.leader_name},
        {"name": c.TPU_PROCESS_ADDRESSES, "value": ",".join(f"{h}:{port}" for h in hosts)},
    ]
    if not has_port:
        env.append({"name": c.TPU_PROCESS_PORT, "value": port})
