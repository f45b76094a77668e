"""The objects besides StatefulSets: headless Services (create if missing, never updated, as upstream) and
plugin objects (created or applied), each checked against a watched cache on every reconcile."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lws.cluster.errors import AlreadyExists, Conflict, NotFound
from lws.cluster.resources import SERVICES
from lws.controller.context import ReconcileContext
from lws.controller.deps import Deps
from lws.core.applied import needs_apply
from lws.core.decisions import ServiceCreated
from lws.core.observe import deleting, uid_of
from lws.hooks.types import ExtraObject

#: How soon to try again when an object of an earlier owner stood in the way (it is being deleted).
STALE_OBJECT_RETRY_SECONDS = 1.0


BeforeCreate = Callable[[], Awaitable[bool]]
"""Asked before an object is created; ``False`` stops the creation (its owner is going away)."""


async def ensure_service(
    deps: Deps,
    ctx: ReconcileContext,
    service: Mapping[str, Any],
    *,
    before_create: BeforeCreate | None = None,
) -> bool:
    """Create ``service`` unless the cache has it; returns whether it was created."""
    meta = service["metadata"]
    if deps.caches.services.get(meta["namespace"], meta["name"]) is not None:
        return False
    if before_create is not None and not await before_create():
        return False
    try:
        created = await deps.cluster.create(SERVICES, meta["namespace"], service, ctx=ctx)
    except AlreadyExists:
        return False
    deps.caches.services.observe_write(created)
    ctx.decide(ServiceCreated(reason="missing", name=str(meta["name"])))
    ctx.log.info("created headless service %s", meta["name"])
    return True


async def ensure_extra(
    deps: Deps,
    ctx: ReconcileContext,
    plugin: str,
    extra: ExtraObject,
    *,
    before_create: BeforeCreate | None = None,
) -> bool:
    """A plugin's object, checked on every reconcile against the watched cache of its kind: created when
    missing (``create``; never updated, as upstream's PodGroup), or applied when the live object differs
    from what the plugin asks for (``apply``). One deleted out of band is thus created again.

    Returns ``False`` when it is not in place yet: a same-named object of an earlier owner (the group's
    previous incarnation) stands in the way and is being deleted; its deletion event brings the reconcile
    back (the caller also retries after :data:`STALE_OBJECT_RETRY_SECONDS`).
    """
    manifest = extra.manifest
    meta = manifest.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    api_version, kind = str(manifest.get("apiVersion")), str(manifest.get("kind"))
    if api_version == "v1" and kind == "Service" and extra.mode == "create":
        await ensure_service(deps, ctx, manifest, before_create=before_create)
        return True
    resource = await deps.cluster.resource_for(api_version, kind, ctx=ctx)
    cache = await deps.caches.of(resource)
    live = cache.get(namespace, name)
    if extra.mode == "apply":
        if needs_apply(manifest, live) and (before_create is None or await before_create()):
            applied = await deps.cluster.apply(
                resource, namespace, name, manifest, field_manager=deps.field_manager, ctx=ctx
            )
            cache.observe_write(applied)
        return True
    if live is not None:
        if deleting(live):
            return False
        if _owned_as_wanted(live, meta.get("ownerReferences") or []):
            return True
        uid = uid_of(live)
        ctx.log.info("deleting %s %s left by an earlier owner, to create it anew", kind, name)
        with contextlib.suppress(NotFound, Conflict):
            await deps.cluster.delete(resource, namespace, name, preconditions={"uid": uid}, ctx=ctx)
        cache.observe_delete(namespace, name)
        return False
    if before_create is not None and not await before_create():
        return False
    try:
        created = await deps.cluster.create(resource, namespace, manifest, ctx=ctx)
    except AlreadyExists:
        return False  # made since the cache last heard; its watch event brings the reconcile back
    cache.observe_write(created)
    ctx.log.info("created %s %s for plugin %s", kind, name, plugin)
    return True


def _owned_as_wanted(live: Mapping[str, Any], owners: list[Mapping[str, Any]]) -> bool:
    """Whether the live object has one of the owners the plugin's object asks for (or asks for none)."""
    wanted = {str(ref.get("uid")) for ref in owners if ref.get("uid")}
    have = (live.get("metadata") or {}).get("ownerReferences") or []
    return not wanted or any(str(ref.get("uid")) in wanted for ref in have)
