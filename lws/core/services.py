"""Desired headless Services: one shared by the set, or one per group (``UniquePerReplica``)."""

from __future__ import annotations

from typing import Any

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.core.meta import lws_owner, owner_reference


def shared_service(lws: LeaderWorkerSet) -> dict[str, Any]:
    """``<lws>``: headless, selects every pod of the set, publishes not-ready addresses, owned by the LWS."""
    return _headless(lws, lws.name, {c.SET_NAME_LABEL: lws.name}, lws_owner(lws))


def group_service(lws: LeaderWorkerSet, group_index: int, leader_uid: str | None) -> dict[str, Any]:
    """``<lws>-<i>``: headless, selects one group's pods, owned by the group's leader pod."""
    name = lws.leader_pod_name(group_index)
    selector = {c.SET_NAME_LABEL: lws.name, c.GROUP_INDEX_LABEL: str(group_index)}
    return _headless(lws, name, selector, owner_reference("v1", "Pod", name, leader_uid))


def _headless(
    lws: LeaderWorkerSet, name: str, selector: dict[str, str], owner: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": lws.namespace,
            "labels": {c.SET_NAME_LABEL: lws.name},
            "ownerReferences": [owner],
        },
        "spec": {"clusterIP": "None", "selector": selector, "publishNotReadyAddresses": True},
    }
