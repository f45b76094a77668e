"""Dynamic provisioning, simplified: every pending PersistentVolumeClaim gets a PersistentVolume and is Bound.

A real cluster needs a StorageClass and a provisioner; here any claim is satisfied at once, as by
a default class with ``volumeBindingMode: Immediate`` and reclaim policy ``Delete``: the volume is
``pvc-<claim uid>`` with the requested size, and it is deleted when its claim goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.sim.apiserver import MERGE_PATCH, APIServer
from lws.sim.controllers.informer import Informers
from lws.sim.errors import APIError, ignoring_not_found
from lws.sim.workqueue import WorkQueue, run_workers

CLAIMS = ("", "v1", "persistentvolumeclaims")
VOLUMES = ("", "v1", "persistentvolumes")
STORAGE_CLASS = "standard"

Key = tuple[str, str]


def volume_for(claim: Mapping[str, Any]) -> dict[str, Any]:
    """The PersistentVolume that satisfies a claim (pure)."""
    meta = claim["metadata"]
    spec = claim.get("spec") or {}
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"pvc-{meta['uid']}",
            "annotations": {"pv.kubernetes.io/provisioned-by": "sim.lws.x-k8s.io/hostpath"},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.get("storageClassName") or STORAGE_CLASS,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "hostPath": {"path": f"/var/lib/sim-volumes/pvc-{meta['uid']}"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta.get("namespace", "default"),
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


class VolumeBinder:
    """Provisions and binds volumes for pending claims; deletes a volume when its claim is gone."""

    def __init__(self, api: APIServer, informers: Informers) -> None:
        self.api = api
        self.informers = informers
        self.queue: WorkQueue[Key] = WorkQueue()
        self.claims = informers.get(CLAIMS)
        self.claims.add_handler(self._on_claim)

    def _on_claim(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is None and old is not None:
            self.queue.add(("", f"pvc-{old['metadata']['uid']}"))
        elif new is not None and (new.get("status") or {}).get("phase") != "Bound":
            self.queue.add((new["metadata"].get("namespace") or "", new["metadata"]["name"]))

    async def run(self) -> None:
        """Bind until cancelled."""
        await self.informers.wait_synced()
        await run_workers("volume-binder", self.queue, self.sync)

    async def sync(self, key: Key) -> None:
        """Bind one claim, or (for a key with no namespace) delete the volume of a deleted claim."""
        namespace, name = key
        if not namespace:
            with ignoring_not_found():
                await self.api.delete(VOLUMES, None, name)
            return
        claim = self.claims.get(namespace, name)
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            return
        if (claim.get("status") or {}).get("phase") == "Bound":
            return
        volume = volume_for(claim)
        try:
            await self.api.create(VOLUMES, None, volume)
        except APIError as exc:
            if exc.code != 409:
                raise
        volume_name = volume["metadata"]["name"]
        await self.api.patch(
            VOLUMES, None, volume_name, {"status": {"phase": "Bound"}}, MERGE_PATCH, subresource="status"
        )
        if not (claim.get("spec") or {}).get("volumeName"):
            await self.api.patch(CLAIMS, namespace, name, {"spec": {"volumeName": volume_name}}, MERGE_PATCH)
        status = {
            "phase": "Bound",
            "accessModes": volume["spec"]["accessModes"],
            "capacity": volume["spec"]["capacity"],
        }
        await self.api.patch(CLAIMS, namespace, name, {"status": status}, MERGE_PATCH, subresource="status")
