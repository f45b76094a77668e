"""How the built-in controllers report: a merge patch of an object's ``status`` subresource."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.sim.apiserver import MERGE_PATCH, APIServer
from lws.sim.errors import ignoring_not_found
from lws.sim.resources import GVR


async def patch_status(api: APIServer, gvr: GVR, obj: Mapping[str, Any], body: dict[str, Any]) -> None:
    """Merge-patch ``body`` into the status of ``obj`` (as cached). An object deleted meanwhile is not an
    error: there is nothing left to report on, and its deletion brings the controller back anyway."""
    meta = obj["metadata"]
    with ignoring_not_found():
        await api.patch(
            gvr, meta.get("namespace") or "", meta["name"], body, MERGE_PATCH, subresource="status"
        )
