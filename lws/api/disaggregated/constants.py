"""Every well-known name of the DisaggregatedSet API: group, kinds, labels, annotations, enums, messages.

Wire contract with upstream kubernetes-sigs/lws (``api/disaggregatedset/v1``): child objects carry these
labels, tools select on them and existing clusters hold objects named by them. Change none of them.
"""

from __future__ import annotations

from typing import Final

# --- resource identity -----------------------------------------------------------------------------------

GROUP: Final = "disaggregatedset.x-k8s.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

KIND: Final = "DisaggregatedSet"
LIST_KIND: Final = "DisaggregatedSetList"
PLURAL: Final = "disaggregatedsets"
SINGULAR: Final = "disaggregatedset"
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

SCALER_KIND: Final = "DisaggregatedSetRoleScaler"
SCALER_LIST_KIND: Final = "DisaggregatedSetRoleScalerList"
SCALER_PLURAL: Final = "disaggregatedsetrolescalers"
SCALER_SINGULAR: Final = "disaggregatedsetrolescaler"
SCALER_SHORT_NAMES: Final = ("dsrs",)
SCALER_CRD_NAME: Final = f"{SCALER_PLURAL}.{GROUP}"

# --- labels and annotations on child objects -------------------------------------------------------------

SET_NAME_LABEL: Final = f"{GROUP}/name"
ROLE_LABEL: Final = f"{GROUP}/role"
SLICE_LABEL: Final = f"{GROUP}/slice"
REVISION_LABEL: Final = f"{GROUP}/revision"
#: Written on every old-revision LeaderWorkerSet when a rollout starts: the planner's baseline.
INITIAL_REPLICAS_ANNOTATION: Final = f"{GROUP}/initial-replicas"
#: The child LeaderWorkerSet's ``app`` label, ``<ds>-<slice>-<role>``.
APP_LABEL: Final = "app"

# --- enum values -----------------------------------------------------------------------------------------

SCALING_STATIC: Final = "Static"
SCALING_EXTERNAL: Final = "External"
SCALING_MODES: Final = (SCALING_STATIC, SCALING_EXTERNAL)

PLACEMENT_NONE: Final = "None"
PLACEMENT_EXCLUSIVE_SLICE: Final = "ExclusiveSlice"
PLACEMENT_EXCLUSIVE_TOPOLOGY: Final = "ExclusiveTopology"
PLACEMENT_TYPES: Final = (PLACEMENT_NONE, PLACEMENT_EXCLUSIVE_SLICE, PLACEMENT_EXCLUSIVE_TOPOLOGY)

# --- limits ----------------------------------------------------------------------------------------------

MIN_ROLES: Final = 2
MAX_ROLES: Final = 10
MIN_SLICES: Final = 1
MAX_SLICES: Final = 100
ROLE_NAME_MAX: Final = 63
ROLE_NAME_PATTERN: Final = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: Hex characters of the revision hash in child names and labels.
REVISION_LENGTH: Final = 8
#: The suffix of the per-revision headless Service, ``<lws>-prv``.
SERVICE_SUFFIX: Final = "-prv"
#: Kubernetes' limit on an object name (a DNS-1123 subdomain): the scaler name ``<ds>-<role>``.
SCALER_NAME_MAX: Final = 253

# --- the CEL rule on spec, with upstream's exact text ----------------------------------------------------

REPLICAS_RULE: Final = (
    "self.roles.filter(r, !has(r.scaling) || r.scaling.mode != 'External').all(r, !has(r.spec.replicas) || "
    "r.spec.replicas == 0) || self.roles.filter(r, !has(r.scaling) || r.scaling.mode != 'External').all(r, "
    "has(r.spec.replicas) && r.spec.replicas > 0)"
)
REPLICAS_RULE_MESSAGE: Final = (
    "replicas must be zero for all non-External roles or non-zero for all non-External roles"
)

# --- status ----------------------------------------------------------------------------------------------

CONDITION_AVAILABLE: Final = "Available"
CONDITION_PROGRESSING: Final = "Progressing"
REASON_ALL_ROLES_READY: Final = "AllRolesReady"
REASON_ROLLOUT_IN_PROGRESS: Final = "RolloutInProgress"
MESSAGE_ALL_ROLES_READY: Final = (
    "All roles have reached their desired replica count, ready and updated to the current revision"
)
MESSAGE_ROLLOUT_IN_PROGRESS: Final = (
    "Not all roles have reached their desired replica count, ready and updated to the current revision"
)

SCALER_CONDITION_READY: Final = "Ready"
SCALER_REASON_BOUND: Final = "Bound"
SCALER_MESSAGE_BOUND: Final = "Scaler bound to a live DisaggregatedSet role"

# --- events (reason strings, as upstream's recorder emits them) ------------------------------------------

#: ``reportingController`` of the DisaggregatedSet controller's events (upstream's recorder name).
REPORTING_CONTROLLER: Final = "disaggregatedset"

EVENT_ROLLING_UPDATE_STARTED: Final = "RollingUpdateStarted"
EVENT_ROLLING_UPDATE_COMPLETED: Final = "RollingUpdateCompleted"
EVENT_SCALING_UP: Final = "ScalingUp"
EVENT_SCALING_DOWN: Final = "ScalingDown"
EVENT_LWS_DELETED: Final = "LWSDeleted"
EVENT_SCALER_CREATED: Final = "ScalerCreated"
EVENT_SCALER_DELETED: Final = "ScalerDeleted"
EVENT_SCALER_CONFLICT: Final = "ScalerConflict"

# --- admission -------------------------------------------------------------------------------------------

WEBHOOK_PATH_VALIDATE: Final = "/validate-disaggregatedset-x-k8s-io-v1-disaggregatedset"
WEBHOOK_NAME_VALIDATE: Final = "vdisaggregatedset.kb.io"
