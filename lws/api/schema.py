"""The ``leaderworkerset.x-k8s.io/v1`` schema: one source of truth for the CRD, defaulting and validation.

The generated CRD (:mod:`lws.api.crd`), the CRD-level defaults (:mod:`lws.api.defaulting`) and the
type, enum and required-field checks of ``lws validate`` (:mod:`lws.api.validation`) all read this
structure, so they cannot drift apart. Field names, types, defaults, enums and ranges are upstream's
(kubernetes-sigs/lws, api/leaderworkerset/v1), so existing manifests apply unchanged.

Pod templates and volume claim templates embed the whole ``core/v1`` schema, as upstream's CRD does, so
the API server rejects a malformed pod template when the LeaderWorkerSet is written rather than when a
StatefulSet made from it is refused. That schema is generated from Kubernetes' published OpenAPI document
(:mod:`lws.api.pod_schema`), never written by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from lws.api import constants as c
from lws.api.pod_schema import (
    claim_spec_schema,
    claim_status_schema,
    embedded_metadata,
    pod_spec_schema,
    source_info,
)
from lws.k8s.structural import INT_OR_STRING, LIST_MAP_KEYS, LIST_TYPE, PRESERVE_UNKNOWN

Schema = dict[str, Any]

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

#: ``status.groupRestarts[].state`` values, reported by the restart plugin.
GROUP_RESTART_STATES: Final = ("Backoff", "Failed")


# --- builders: small, so that the schema below reads like the API reference -------------------------------


def string(
    description: str, *, enum: Sequence[str] | None = None, default: str | None = None, **extra: Any
) -> Schema:
    """A string field, optionally limited to ``enum`` (an empty one allows nothing), with a ``default``."""
    schema: Schema = {"type": "string", "description": description}
    if enum is not None:
        schema["enum"] = list(enum)
    if default is not None:
        schema["default"] = default
    schema.update(extra)
    return schema


def int32(
    description: str, *, default: int | None = None, minimum: int | None = None, maximum: int | None = None
) -> Schema:
    """A 32-bit integer field."""
    schema: Schema = {"type": "integer", "format": "int32", "description": description}
    if default is not None:
        schema["default"] = default
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def int64(description: str, **extra: Any) -> Schema:
    """A 64-bit integer field."""
    return {"type": "integer", "format": "int64", "description": description, **extra}


def int_or_string(description: str, *, default: int | str) -> Schema:
    """An IntOrString field: an absolute number or a percentage such as ``"25%"``."""
    return {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        INT_OR_STRING: True,
        "description": description,
        "default": default,
    }


def obj(description: str, properties: Mapping[str, Schema], *, required: Sequence[str] = ()) -> Schema:
    """An object with known fields; any other field is unknown (pruned by the server, rejected by us)."""
    schema: Schema = {"type": "object", "description": description, "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    return schema


def open_object(description: str) -> Schema:
    """An object kept exactly as written: its fields are validated elsewhere (pods, claims)."""
    return {"type": "object", "description": description, PRESERVE_UNKNOWN: True}


def string_map(description: str) -> Schema:
    """A map of string to string, such as labels or annotations."""
    return {"type": "object", "description": description, "additionalProperties": {"type": "string"}}


def array(description: str, items: Schema, *, map_keys: Sequence[str] = ()) -> Schema:
    """A list; with ``map_keys``, a list-map whose items are unique by those keys (merged by key on apply)."""
    schema: Schema = {"type": "array", "description": description, "items": items}
    if map_keys:
        schema[LIST_TYPE] = "map"
        schema[LIST_MAP_KEYS] = list(map_keys)
    return schema


# --- pieces ------------------------------------------------------------------------------------------------


def _embedded_metadata(what: str) -> Schema:
    # As upstream: only the metadata fields that make sense in an embedded template are kept.
    return embedded_metadata(f"Standard object metadata of the {what}; only these fields are kept.", what)


def _pod_template(description: str) -> Schema:
    spec = pod_spec_schema()
    spec["description"] = (
        "The pod spec (core/v1 PodSpec, schema of Kubernetes "
        f"{_release()}). The operator adds labels, annotations, environment variables and, for some "
        "settings, affinity terms."
    )
    return obj(description, {"metadata": _embedded_metadata("pods"), "spec": spec})


def _release() -> str:
    return source_info()["kubernetes"]


def _described(schema: Schema, description: str) -> Schema:
    schema["description"] = description
    return schema


def condition(owner: str = "LeaderWorkerSet") -> Schema:
    """metav1.Condition with the constraints the Kubernetes API puts on it, as ``owner``'s status holds it."""
    return obj(
        f"One aspect of the {owner}'s state.",
        {
            "lastTransitionTime": string(
                "When the condition last changed from one status to another.", format="date-time"
            ),
            "message": string("Human-readable details about the transition.", maxLength=32768),
            "observedGeneration": int64("The .metadata.generation the condition was set for.", minimum=0),
            "reason": string(
                "A CamelCase reason for the condition's last transition.",
                maxLength=1024,
                minLength=1,
                pattern="^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            ),
            "status": string("Status of the condition.", enum=("True", "False", "Unknown")),
            "type": string(
                "Type of the condition: Available, Progressing or UpdateInProgress.",
                maxLength=316,
                pattern=(
                    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                ),
            ),
        },
        required=("lastTransitionTime", "message", "reason", "status", "type"),
    )


def _group_restart() -> Schema:
    return obj(
        "Restart budget and backoff state of one group.",
        {
            "index": int32(
                "The group index. With groupIdentity Hash, whose groups have no index, a number that only "
                "tells the entries apart; key names the group."
            ),
            "key": string(
                "groupIdentity Hash only: the group key (group-index label) of the group the entry is about. "
                "A recreated group comes back under a new key; the replacement takes the entry over, so the "
                "count goes on from one key to the next."
            ),
            "count": int32("How many times the group was recreated within the restart window."),
            "lastRecreateTime": string("When the group was last recreated.", format="date-time"),
            "state": string(
                "Backoff: the next recreation waits for the backoff delay. Failed: the restart budget is "
                "spent and the group is no longer recreated until its template changes.",
                enum=GROUP_RESTART_STATES,
            ),
            "message": string("Human-readable details, such as when the next recreation may happen."),
            "recreatingLeaderUID": string(
                "The uid of the leader pod the last counted recreation deletes, written with the count "
                "before the deletion, so a recreation cut short by an operator restart is finished, not "
                "counted again."
            ),
        },
        required=("index",),
    )


def spec_schema(*, startup_policies: Sequence[str], restart_policies: Sequence[str]) -> Schema:
    """The schema of ``.spec``, with ``startupPolicy``/``restartPolicy`` limited to the given values."""
    rolling_update = obj(
        "Parameters of the RollingUpdate strategy.",
        {
            "maxSurge": int_or_string(
                "How many groups may be created above replicas during a rolling update: an absolute number "
                "or a percentage of replicas (rounded up, capped at replicas). Surge groups get the indices "
                "after the last group. Defaults to 0.",
                default=0,
            ),
            "maxUnavailable": int_or_string(
                "How many groups may be unavailable during a rolling update: an absolute number or a "
                "percentage of replicas (rounded down). Must not be 0 when maxSurge is 0. Defaults to 1.",
                default=1,
            ),
            "partition": int32(
                "Groups with an index at or above the partition are updated; lower ones keep their "
                "revision. Defaults to 0 (update all).",
                default=0,
            ),
        },
    )
    template = obj(
        "The template of every group: a leader pod and size-1 worker pods.",
        {
            "leaderTemplate": _pod_template(
                "The leader pod's template. When unset, the leader uses workerTemplate."
            ),
            "workerTemplate": _pod_template(
                "The worker pods' template (and the leader's, when leaderTemplate is unset)."
            ),
            "size": int32(
                "Pods per group, leader included. Changing it recreates every group through a rolling "
                "update. Defaults to 1.",
                default=1,
            ),
            "restartPolicy": string(
                "What happens to a group when one of its pods fails or restarts a container. "
                "RecreateGroupOnPodRestart (default): recreate the whole group. RecreateGroupAfterStart: the "
                "same, but only once every pod of the group has started. None: restart only the failed pod. "
                "Default: deprecated alias of None. Installed plugins may add values.",
                enum=restart_policies,
                default=c.RESTART_RECREATE_GROUP_ON_POD_RESTART,
            ),
            "subGroupPolicy": obj(
                "Splits each group into subgroups, labelled so that each can be scheduled as a unit "
                "(e.g. one per TPU slice). Cannot be added or removed after creation.",
                {
                    "subGroupPolicyType": string(
                        "LeaderWorker (default): the leader belongs to subgroup 0. LeaderExcluded: the "
                        "leader belongs to no subgroup, and size-1 must be divisible by subGroupSize.",
                        enum=c.SUBGROUP_POLICY_TYPES,
                        default=c.SUBGROUP_LEADER_WORKER,
                    ),
                    "subGroupSize": int32(
                        "Pods per subgroup. size or size-1 must be divisible by it. Immutable; required when "
                        "subGroupPolicy is set."
                    ),
                },
            ),
            "volumeClaimTemplates": array(
                "PersistentVolumeClaims created for every pod, leader and workers alike, as a StatefulSet "
                "does.",
                obj(
                    "A PersistentVolumeClaim template (core/v1 PersistentVolumeClaim).",
                    {
                        "apiVersion": {"type": "string", "description": "APIVersion of the claim."},
                        "kind": {"type": "string", "description": "Kind of the claim."},
                        "metadata": _embedded_metadata("claims"),
                        "spec": _described(
                            claim_spec_schema(), "The claim spec (core/v1 PersistentVolumeClaimSpec)."
                        ),
                        "status": _described(claim_status_schema(), "Unused in a template."),
                    },
                ),
            ),
            "persistentVolumeClaimRetentionPolicy": obj(
                "What happens to the claims from volumeClaimTemplates when the StatefulSets are deleted or "
                "scaled down. Unset: Retain for both.",
                {
                    "whenDeleted": {"type": "string", "description": "Retain or Delete."},
                    "whenScaled": {"type": "string", "description": "Retain or Delete."},
                },
            ),
        },
        required=("workerTemplate",),
    )
    return obj(
        "The desired state of a LeaderWorkerSet. Groups are numbered 0..replicas-1; group i has the leader "
        "pod <name>-i and the worker pods <name>-i-1 .. <name>-i-(size-1) (groupIdentity Ordinal; with Hash, "
        "leader pods are named by their Deployment and workers after their leader).",
        {
            "replicas": int32(
                "The number of groups. The scale subresource sets it. Defaults to 1.",
                default=1,
                minimum=0,
                maximum=c.MAX_REPLICAS,
            ),
            "leaderWorkerTemplate": template,
            "rolloutStrategy": obj(
                "How groups are replaced when the template changes. Defaults to RollingUpdate with "
                "maxUnavailable 1, maxSurge 0 and partition 0.",
                {
                    "type": string(
                        "The rollout strategy; RollingUpdate is the only one.",
                        enum=c.ROLLOUT_STRATEGY_TYPES,
                        default=c.ROLLING_UPDATE,
                    ),
                    "rollingUpdateConfiguration": rolling_update,
                },
                required=("type",),
            ),
            "startupPolicy": string(
                "When a group's workers are created. LeaderCreated (default): as soon as the leader pod "
                "exists. LeaderReady: once the leader pod is Ready. Installed plugins may add values.",
                enum=startup_policies,
                default=c.STARTUP_LEADER_CREATED,
            ),
            "groupIdentity": string(
                "How groups are identified. Ordinal (default): a leader StatefulSet names the groups "
                "0..replicas-1, and scaling down removes the highest. Hash: a leader Deployment manages the "
                "leaders; each group gets a random 40-character key (its group-index label) and its leader "
                "the host name <name>-<first 8 characters of the key>, so scaling down removes unscheduled "
                "and unready groups first. Immutable. Hash cannot be combined with volumeClaimTemplates or a "
                "non-zero partition.",
                enum=c.GROUP_IDENTITIES,
                default=c.GROUP_IDENTITY_ORDINAL,
            ),
            "groupReplacementPolicy": string(
                "When a group that replaces a deleted one may start scheduling (groupIdentity Hash). "
                "PostTermination (default): only once a group still being torn down is fully gone, so the "
                "replacement uses the capacity it released. Immediate: at once (only with groupIdentity "
                "Hash). Not part of the revision: changing it rolls nothing.",
                enum=c.GROUP_REPLACEMENT_POLICIES,
            ),
            "networkConfig": obj(
                "How the groups' pods are addressed. Defaults to subdomainPolicy Shared.",
                {
                    "subdomainPolicy": string(
                        "Shared: one headless Service <name> for all groups. UniquePerReplica: one headless "
                        "Service <name>-i per group. Changing it rolls the groups.",
                        enum=c.SUBDOMAIN_POLICIES,
                    ),
                },
                required=("subdomainPolicy",),
            ),
        },
        required=("leaderWorkerTemplate",),
    )


def status_schema() -> Schema:
    """The schema of ``.status``, written by the operator through the status subresource."""
    return obj(
        "The observed state of a LeaderWorkerSet.",
        {
            "conditions": array(
                "Available, Progressing and UpdateInProgress, as upstream.", condition(), map_keys=("type",)
            ),
            "readyReplicas": int32("Groups whose leader and workers are all ready, surge groups included."),
            "updatedReplicas": int32("Groups running the current revision, surge groups included."),
            "replicas": int32("Leader pods that exist (the leader StatefulSet's replicas), surge included."),
            "hpaPodSelector": {
                "type": "string",
                "description": "The label selector of the leader pods, for the scale subresource (HPA).",
            },
            "observedGeneration": int64("The .metadata.generation this status was computed for."),
            "groupRestarts": array(
                "Extension beyond upstream: the restart budget and backoff state of groups that were "
                "recreated recently, as reported by the restart plugin. Groups that never restarted are not "
                "listed.",
                _group_restart(),
                map_keys=("index",),
            ),
        },
    )


def leaderworkerset_schema(*, startup_policies: Sequence[str], restart_policies: Sequence[str]) -> Schema:
    """The whole ``openAPIV3Schema`` of the LeaderWorkerSet, with the given policy values as enums."""
    return obj(
        "A LeaderWorkerSet runs groups of pods, one leader and size-1 workers each, that are created, "
        "scaled, rolled out and restarted as units: for example one multi-node inference server per group.",
        {
            "apiVersion": {"type": "string", "description": f"Always {c.API_VERSION}."},
            "kind": {"type": "string", "description": f"Always {c.KIND}."},
            "metadata": {"type": "object"},
            "spec": spec_schema(startup_policies=startup_policies, restart_policies=restart_policies),
            "status": status_schema(),
        },
    )


def merged_values(upstream: Sequence[str], registered: Sequence[str]) -> list[str]:
    """Upstream's values in upstream's order, then any other registered value in sorted order."""
    extra = sorted(set(registered) - set(upstream))
    return [*upstream, *extra]
