"""Create-if-missing for the objects upstream never updates: headless Services and plugin objects."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from lws.cluster.errors import AlreadyExists, Conflict, NotFound
from lws.cluster.resources import SERVICES, Resource
from lws.controller.context import ReconcileContext
from lws.controller.deps import Deps
from lws.core.applied import body_hash
from lws.hooks.types import ExtraObject

#: How soon to try again when an object of an earlier owner stood in the way (it is being deleted).
STALE_OBJECT_RETRY_SECONDS = 1.0


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


async def ensure_extra(deps: Deps, ctx: ReconcileContext, plugin: str, extra: ExtraObject) -> bool:
    """A plugin's object: created once if missing (``create``), or applied when it changed (``apply``).

    Returns ``False`` when the object is not in place yet: a same-named one of an earlier incarnation of
    the group (owned by a leader pod that is gone) was still there. It is deleted now; the caller retries,
    since nothing watches plugin objects to say when it is gone.
    """
    manifest = extra.manifest
    meta = manifest.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    api_version, kind = str(manifest.get("apiVersion")), str(manifest.get("kind"))
    owner = ",".join(str(ref.get("uid", "")) for ref in meta.get("ownerReferences") or [])
    if api_version == "v1" and kind == "Service" and extra.mode == "create":
        await ensure_service(deps, ctx, manifest)
        return True
    marker = body_hash(manifest) if extra.mode == "apply" else owner
    known = (f"{api_version}/{kind}", namespace, name, marker)
    if known in deps.known_objects:
        return True
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
            if not await _is_ours(deps, ctx, resource, namespace, name, meta.get("ownerReferences") or []):
                return False
    deps.known_objects.add(known)
    return True


async def _is_ours(
    deps: Deps,
    ctx: ReconcileContext,
    resource: Resource,
    namespace: str,
    name: str,
    owners: list[Mapping[str, Any]],
) -> bool:
    """Whether the existing object has our owner; if it belongs to an earlier owner, delete it."""
    try:
        existing = await deps.cluster.get(resource, namespace, name, ctx=ctx)
    except NotFound:
        return False  # gone in between: create it on the retry
    wanted = {str(ref.get("uid")) for ref in owners if ref.get("uid")}
    have = (existing.get("metadata") or {}).get("ownerReferences") or []
    if not wanted or any(str(ref.get("uid")) in wanted for ref in have):
        return True
    uid = str((existing.get("metadata") or {}).get("uid") or "")
    ctx.log.info("deleting %s %s left by an earlier owner, to create it anew", resource.kind, name)
    with contextlib.suppress(NotFound, Conflict):
        await deps.cluster.delete(resource, namespace, name, preconditions={"uid": uid}, ctx=ctx)
    return False
