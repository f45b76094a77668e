"""Server-side apply, as upstream applies the leader StatefulSet (field manager ``lws``, force).

Whether an apply is needed at all is decided in :mod:`lws.core.applied`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.cluster.client import CallContext, Cluster
from lws.cluster.resources import Resource


async def apply(
    cluster: Cluster,
    resource: Resource,
    body: Mapping[str, Any],
    *,
    field_manager: str,
    ctx: CallContext | None = None,
) -> dict[str, Any]:
    """Server-side apply ``body`` with ``force`` (the operator owns these fields), as upstream does."""
    meta = body.get("metadata") or {}
    return await cluster.apply(
        resource,
        meta.get("namespace"),
        str(meta["name"]),
        body,
        field_manager=field_manager,
        force=True,
        ctx=ctx,
    )
