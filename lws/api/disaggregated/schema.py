"""The ``disaggregatedset.x-k8s.io/v1`` schemas: one source of truth for both CRDs, defaulting and validation.

Each role embeds a whole LeaderWorkerSet spec. It is :func:`lws.api.schema.spec_schema` itself, LWS defaults
included (``replicas: 1``, ``size: 1``, ``startupPolicy: LeaderCreated``...), so the two APIs cannot drift
apart. Field names, types, defaults, enums and ranges are upstream's (kubernetes-sigs/lws,
api/disaggregatedset/v1).

The spec carries upstream's CEL rule (``x-kubernetes-validations``) so that a real API server enforces it;
:mod:`lws.api.disaggregated.validation` enforces the same rule with the same message for clusters and
commands that have no CEL (the embedded cluster, ``lws validate``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from lws.api.disaggregated import constants as d
from lws.api.schema import (
    Schema,
    array,
    condition,
    int32,
    int64,
    obj,
    spec_schema,
    string,
    string_map,
)

#: Kubernetes' key for CEL rules on a schema node.
VALIDATIONS = "x-kubernetes-validations"


def _conditions(owner: str, types: str) -> Schema:
    item = copy.deepcopy(condition(owner))
    item["properties"]["type"]["description"] = f"Type of the condition: {types}."
    return array(f"The {owner}'s conditions: {types}.", item, map_keys=("type",))


def _role_metadata() -> Schema:
    # As upstream: the metadata of an embedded template keeps only these fields.
    return obj(
        "Metadata of the LeaderWorkerSets created for this role: their labels (the DisaggregatedSet's own "
        "labels win on conflicts) and annotations. Other fields are ignored.",
        {
            "annotations": string_map("Annotations copied to the role's LeaderWorkerSets."),
            "finalizers": array("Ignored: child LeaderWorkerSets get no finalizers.", {"type": "string"}),
            "labels": string_map("Labels merged into the role's LeaderWorkerSets."),
            "name": {
                "type": "string",
                "description": "Ignored: names are derived from the DisaggregatedSet.",
            },
            "namespace": {"type": "string", "description": "Ignored: children live in the set's namespace."},
        },
    )


def role_schema(*, startup_policies: Sequence[str], restart_policies: Sequence[str]) -> Schema:
    """One entry of ``spec.roles``: a name, a scaling mode and an inline LeaderWorkerSet template."""
    lws_spec = spec_schema(startup_policies=startup_policies, restart_policies=restart_policies)
    lws_spec = {
        **lws_spec,
        "description": "The spec of the role's LeaderWorkerSets. Its rolloutStrategy.type must be "
        "RollingUpdate and its partition unset or 0: the DisaggregatedSet rolls the roles out "
        "together. replicas is the number of groups per slice (ignored for External roles).",
    }
    return obj(
        "One role (e.g. prefill or decode): one LeaderWorkerSet per slice and revision.",
        {
            "name": string(
                "The role's unique name; part of the child LeaderWorkerSets' and Services' names.",
                maxLength=d.ROLE_NAME_MAX,
                minLength=1,
                pattern=d.ROLE_NAME_PATTERN,
            ),
            "scaling": obj(
                "How the role's replicas are set. Omit for Static (spec.replicas).",
                {
                    "mode": string(
                        "Static (default): spec.replicas. External: the DisaggregatedSetRoleScaler "
                        "<set>-<role>, created by the operator, whose scale subresource an autoscaler (HPA, "
                        "KEDA) or kubectl scale drives; spec.replicas is then ignored.",
                        enum=d.SCALING_MODES,
                        default=d.SCALING_STATIC,
                    ),
                },
            ),
            "metadata": _role_metadata(),
            "spec": lws_spec,
        },
        required=("name",),
    )


def spec_schema_ds(*, startup_policies: Sequence[str], restart_policies: Sequence[str]) -> Schema:
    """The schema of a DisaggregatedSet's ``.spec``, with upstream's CEL rule on replicas."""
    spec = obj(
        "The desired state of a DisaggregatedSet: its roles, how many slices (copies of all roles) run, and "
        "where slices are placed.",
        {
            "roles": {
                **array(
                    "The roles, 2 to 10, each with a unique name. Changing any role's "
                    "leaderWorkerTemplate (or adding, removing or renaming a role) rolls every role out to a "
                    "new revision in lockstep.",
                    role_schema(startup_policies=startup_policies, restart_policies=restart_policies),
                    map_keys=("name",),
                ),
                "minItems": d.MIN_ROLES,
                "maxItems": d.MAX_ROLES,
            },
            "slices": int32(
                "Independent copies of the whole role topology, each rolled out on its own. Changing it "
                "adds or removes copies without a rollout. Defaults to 1.",
                default=1,
                minimum=d.MIN_SLICES,
                maximum=d.MAX_SLICES,
            ),
            "placementPolicy": obj(
                "How a slice's roles are co-located and slices spread across topology domains. Applied "
                "when a LeaderWorkerSet is created, so a change takes effect on the next rollout.",
                {
                    "type": string(
                        "None (default): no placement. ExclusiveSlice: a slice's roles share one domain and "
                        "this set's slices use different domains. ExclusiveTopology: ExclusiveSlice, and a "
                        "domain holds at most one slice of any DisaggregatedSet.",
                        enum=d.PLACEMENT_TYPES,
                        default=d.PLACEMENT_NONE,
                    ),
                    "topology": string(
                        "The node label key that defines a domain (the affinity topologyKey). Required when "
                        "type is not None."
                    ),
                },
            ),
        },
        required=("roles",),
    )
    spec[VALIDATIONS] = [{"rule": d.REPLICAS_RULE, "message": d.REPLICAS_RULE_MESSAGE}]
    return spec


def status_schema_ds() -> Schema:
    """The schema of a DisaggregatedSet's ``.status``, written by the operator."""
    role_status = obj(
        "The observed state of one role, summed over its LeaderWorkerSets of every slice.",
        {
            "name": string("The role's name (spec.roles[].name)."),
            "replicas": int32("Groups of the role, all slices and revisions."),
            "readyReplicas": int32("Ready groups of the role, all slices and revisions."),
            "updatedReplicas": int32("Groups of the role at the current revision."),
        },
        required=("name",),
    )
    return obj(
        "The observed state of a DisaggregatedSet.",
        {
            "observedGeneration": int64("The .metadata.generation this status was computed for."),
            "roleStatuses": array(
                "One entry per role in spec.roles, in that order; a removed role has none even while its "
                "LeaderWorkerSets drain.",
                role_status,
                map_keys=("name",),
            ),
            "conditions": _conditions("DisaggregatedSet", "Available or Progressing (exactly one is True)"),
        },
    )


def disaggregatedset_schema(*, startup_policies: Sequence[str], restart_policies: Sequence[str]) -> Schema:
    """The whole ``openAPIV3Schema`` of the DisaggregatedSet, with the given LWS policy values as enums."""
    return obj(
        "A DisaggregatedSet runs 2 to 10 roles (for example prefill and decode), each as LeaderWorkerSets, "
        "and rolls them out together so that the capacity ratio between roles holds.",
        {
            "apiVersion": {"type": "string", "description": f"Always {d.API_VERSION}."},
            "kind": {"type": "string", "description": f"Always {d.KIND}."},
            "metadata": {"type": "object"},
            "spec": spec_schema_ds(startup_policies=startup_policies, restart_policies=restart_policies),
            "status": status_schema_ds(),
        },
        required=("spec",),
    )


def rolescaler_schema() -> Schema:
    """The whole ``openAPIV3Schema`` of the DisaggregatedSetRoleScaler."""
    return obj(
        "The scale subresource of one External role of a DisaggregatedSet, named <set>-<role> and "
        "created by the operator. Autoscalers (HPA, KEDA) and kubectl scale write spec.replicas; the "
        "operator drives the role's LeaderWorkerSets from it.",
        {
            "apiVersion": {"type": "string", "description": f"Always {d.API_VERSION}."},
            "kind": {"type": "string", "description": f"Always {d.SCALER_KIND}."},
            "metadata": {"type": "object"},
            "spec": obj(
                "The desired replicas of the role.",
                {
                    # Not a pointer upstream, with a default: the API server's /scale handler fails when the
                    # path resolves to nothing, and HPA reads /scale before it ever writes.
                    "replicas": int32(
                        "Groups of the role per slice. Seeded by the operator (1 for a new role, the current "
                        "groups when a Static role becomes External); autoscalers overwrite it.",
                        default=0,
                        minimum=0,
                    ),
                },
                required=("replicas",),
            ),
            "status": obj(
                "What the operator observed, for the scale subresource.",
                {
                    "replicas": int32("Groups of the role over all its LeaderWorkerSets (leader pods)."),
                    "selector": string(
                        "Selects one pod per group (the leaders) of the role, over every revision: "
                        "disaggregatedset.x-k8s.io/name=<set>,disaggregatedset.x-k8s.io/role=<role>,"
                        "leaderworkerset.sigs.k8s.io/worker-index=0."
                    ),
                    "observedGeneration": int64("The .metadata.generation this status was computed for."),
                    "conditions": _conditions("DisaggregatedSetRoleScaler", "Ready"),
                },
            ),
        },
    )
