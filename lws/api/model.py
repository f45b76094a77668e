"""A read-only, typed view over a (defaulted) LeaderWorkerSet object.

The object itself stays a plain JSON-like mapping, exactly as the API server stores it; this view gives
the rest of the code typed accessors with upstream's defaults, so nobody re-derives ``spec.x or 1``.
Templates are returned as the stored mappings: callers that change them take a deep copy first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lws.api import constants as c
from lws.api.intstr import IntOrStr

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class LeaderWorkerSet:
    """Typed accessors over ``raw``; construct with :func:`LeaderWorkerSet.of`."""

    raw: Obj

    @classmethod
    def of(cls, obj: Obj) -> LeaderWorkerSet:
        return cls(obj)

    # --- metadata ----------------------------------------------------------------------------------------
    @property
    def metadata(self) -> Obj:
        return self.raw.get("metadata") or {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or "default")

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid", ""))

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation") or 0)

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def deleting(self) -> bool:
        return bool(self.metadata.get("deletionTimestamp"))

    # --- spec --------------------------------------------------------------------------------------------
    @property
    def spec(self) -> Obj:
        return self.raw.get("spec") or {}

    @property
    def replicas(self) -> int:
        value = self.spec.get("replicas")
        return 1 if value is None else int(value)

    @property
    def template(self) -> Obj:
        return self.spec.get("leaderWorkerTemplate") or {}

    @property
    def size(self) -> int:
        value = self.template.get("size")
        return 1 if value is None else int(value)

    @property
    def worker_template(self) -> Obj:
        return self.template.get("workerTemplate") or {}

    @property
    def leader_template(self) -> Obj:
        """The leader's pod template: ``leaderTemplate`` when set, else ``workerTemplate``."""
        leader = self.template.get("leaderTemplate")
        return leader if leader is not None else self.worker_template

    @property
    def has_leader_template(self) -> bool:
        return self.template.get("leaderTemplate") is not None

    @property
    def restart_policy(self) -> str:
        value = self.template.get("restartPolicy") or c.RESTART_RECREATE_GROUP_ON_POD_RESTART
        return c.RESTART_NONE if value == c.RESTART_DEFAULT else str(value)

    @property
    def startup_policy(self) -> str:
        return str(self.spec.get("startupPolicy") or c.STARTUP_LEADER_CREATED)

    @property
    def subgroup_policy(self) -> Obj | None:
        return self.template.get("subGroupPolicy")

    @property
    def subgroup_size(self) -> int | None:
        policy = self.subgroup_policy
        if not policy or policy.get("subGroupSize") is None:
            return None
        return int(policy["subGroupSize"])

    @property
    def subgroup_type(self) -> str | None:
        policy = self.subgroup_policy
        if policy is None:
            return None
        return str(policy.get("subGroupPolicyType") or c.SUBGROUP_LEADER_WORKER)

    @property
    def subdomain_policy(self) -> str:
        network = self.spec.get("networkConfig") or {}
        return str(network.get("subdomainPolicy") or c.SUBDOMAIN_SHARED)

    @property
    def group_identity(self) -> str:
        """``Ordinal`` (the default) or ``Hash``."""
        return str(self.spec.get("groupIdentity") or c.GROUP_IDENTITY_ORDINAL)

    @property
    def hashed(self) -> bool:
        """``groupIdentity: Hash``: leaders in a Deployment, groups identified by random keys."""
        return self.group_identity == c.GROUP_IDENTITY_HASH

    @property
    def group_replacement_policy(self) -> str:
        """``PostTermination`` (the default) or ``Immediate``."""
        return str(self.spec.get("groupReplacementPolicy") or c.GROUP_REPLACEMENT_POST_TERMINATION)

    @property
    def volume_claim_templates(self) -> list[Obj]:
        return list(self.template.get("volumeClaimTemplates") or [])

    @property
    def pvc_retention_policy(self) -> Obj | None:
        return self.template.get("persistentVolumeClaimRetentionPolicy")

    # --- rollout -----------------------------------------------------------------------------------------
    @property
    def rolling_update(self) -> Obj:
        strategy = self.spec.get("rolloutStrategy") or {}
        return strategy.get("rollingUpdateConfiguration") or {}

    @property
    def max_unavailable(self) -> IntOrStr:
        value = self.rolling_update.get("maxUnavailable")
        return 1 if value is None else value

    @property
    def max_surge(self) -> IntOrStr:
        value = self.rolling_update.get("maxSurge")
        return 0 if value is None else value

    @property
    def partition(self) -> int:
        value = self.rolling_update.get("partition")
        return 0 if value is None else int(value)

    # --- status ------------------------------------------------------------------------------------------
    @property
    def status(self) -> Obj:
        return self.raw.get("status") or {}

    # --- derived names -----------------------------------------------------------------------------------
    def leader_pod_name(self, group_index: int) -> str:
        return f"{self.name}-{group_index}"

    def worker_pod_name(self, group_index: int, worker_index: int) -> str:
        return f"{self.name}-{group_index}-{worker_index}"

    def subdomain_for(self, group_index: int) -> str:
        """The DNS subdomain of a group's pods: the shared Service, or the group's own Service."""
        if self.subdomain_policy == c.SUBDOMAIN_UNIQUE_PER_REPLICA:
            return self.leader_pod_name(group_index)
        return self.name

    def leader_address(self, group_index: int) -> str:
        """``LWS_LEADER_ADDRESS``: ``<lws>-<i>.<subdomain>.<namespace>``, no cluster-domain suffix."""
        return f"{self.leader_pod_name(group_index)}.{self.subdomain_for(group_index)}.{self.namespace}"
