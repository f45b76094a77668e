"""Create-if-missing for the objects upstream never updates: headless Services and plugin objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.cluster.errors import AlreadyExists
from lws.cluster.resources import SERVICES
from lws.controller.context import ReconcileContext
from lws.controller.deps import Deps
from lws.core.applied import body_hash
from lws.hooks.types import ExtraObject


async def ensure_service(deps: Deps, ctx: ReconcileContext, service: Mapping[str, Any]) -> bool:
    """Create ``service`` unless the cache has it; returns whether it was created."""
    meta = service["metadata"]
    if deps.caches.services.get(meta["namespace"], meta["name"]) is not None:
        return False
    try:
        created = await deps.cluster.create(SERVICES, meta["namespace"], service, ctx=ctx)
    except AlreadyExists:
        return False
    deps.caches.services.observe_write(created)
    ctx.log.info("created headless service %s", meta["name"])
    return True


async def ensure_extra(deps: Deps, ctx: ReconcileContext, plugin: str, extra: ExtraObject) -> None:
    """A plugin's object: created once if missing (``create``), or applied when it changed (``apply``)."""
    manifest = extra.manifest
    meta = manifest.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    api_version, kind = str(manifest.get("apiVersion")), str(manifest.get("kind"))
    owner = ",".join(str(ref.get("uid", "")) for ref in meta.get("ownerReferences") or [])
    if api_version == "v1" and kind == "Service" and extra.mode == "create":
        await ensure_service(deps, ctx, manifest)
        return
    marker = body_hash(manifest) if extra.mode == "apply" else owner
    known = (f"{api_version}/{kind}", namespace, name, marker)
    if known in deps.known_objects:
        return
    resource = await deps.cluster.resource_for(api_version, kind, ctx=ctx)
    if extra.mode == "apply":
        await deps.cluster.apply(
            resource, namespace, name, manifest, field_manager=deps.field_manager, ctx=ctx
        )
    else:
        try:
            await deps.cluster.create(resource, namespace, manifest, ctx=ctx)
            ctx.log.info("created %s %s for plugin %s", kind, name, plugin)
        except AlreadyExists:
            pass
    deps.known_objects.add(known)
