"""Every well-known name of the LeaderWorkerSet API: group, kinds, labels, annotations, env vars, enums.

These strings are wire contract with upstream kubernetes-sigs/lws (``leaderworkerset.x-k8s.io/v1``):
tools, dashboards and existing clusters depend on them. Change none of them.
"""

from __future__ import annotations

from typing import Final

# --- resource identity -----------------------------------------------------------------------------------

GROUP: Final = "leaderworkerset.x-k8s.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "LeaderWorkerSet"
LIST_KIND: Final = "LeaderWorkerSetList"
PLURAL: Final = "leaderworkersets"
SINGULAR: Final = "leaderworkerset"
SHORT_NAMES: Final = ("lws",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

# --- labels and annotations (prefix leaderworkerset.sigs.k8s.io/) ----------------------------------------

PREFIX: Final = "leaderworkerset.sigs.k8s.io/"

SET_NAME_LABEL: Final = PREFIX + "name"
GROUP_INDEX_LABEL: Final = PREFIX + "group-index"
WORKER_INDEX_LABEL: Final = PREFIX + "worker-index"
GROUP_UNIQUE_HASH_LABEL: Final = PREFIX + "group-key"
REVISION_KEY: Final = PREFIX + "template-revision-hash"
SUBGROUP_INDEX_LABEL: Final = PREFIX + "subgroup-index"
SUBGROUP_UNIQUE_HASH_LABEL: Final = PREFIX + "subgroup-key"
# On the leader and worker StatefulSets' own metadata (and the leader Deployment's), never on pod templates:
# a template label rolls every group of every set when an operator that adds it takes over (upstream #1016).
ROLE_LABEL: Final = PREFIX + "role"
ROLE_LEADER: Final = "leader"
ROLE_WORKER: Final = "worker"

SIZE_ANNOTATION: Final = PREFIX + "size"
REPLICAS_ANNOTATION: Final = PREFIX + "replicas"
LEADER_POD_NAME_ANNOTATION: Final = PREFIX + "leader-name"
EXCLUSIVE_KEY_ANNOTATION: Final = PREFIX + "exclusive-topology"
SUBGROUP_EXCLUSIVE_KEY_ANNOTATION: Final = PREFIX + "subgroup-exclusive-topology"
SUBGROUP_SIZE_ANNOTATION: Final = PREFIX + "subgroup-size"
SUBGROUP_POLICY_TYPE_ANNOTATION: Final = PREFIX + "subgroup-policy-type"
SUBDOMAIN_POLICY_ANNOTATION: Final = PREFIX + "subdomainPolicy"
RECREATE_GROUP_AFTER_START_ANNOTATION: Final = PREFIX + "experimental-recreate-group-after-start"
LEADER_REQUESTS_TPUS_ANNOTATION: Final = PREFIX + "leader-requests-tpus"
# groupIdentity Hash: on the leader and worker pod templates, so pod admission knows the identity scheme
# without reading the set; and on worker templates, the leader's DNS name (LWS_LEADER_ADDRESS).
GROUP_IDENTITY_ANNOTATION: Final = PREFIX + "group-identity"
LEADER_ADDRESS_ANNOTATION: Final = PREFIX + "leader-address"
# groupIdentity Hash: a readiness gate of leader pods, True once the group's worker StatefulSet is ready, so
# the leader Deployment counts whole groups; and the scheduling gate every Hash leader is admitted with,
# lifted once a replacement may compete for the capacity of the group it replaces (groupReplacementPolicy).
GROUP_READY_CONDITION: Final = PREFIX + "group-ready"
GROUP_REPLACEMENT_GATE: Final = PREFIX + "group-replacement"

# Gang scheduling (Volcano / scheduler-plugins): the pod -> PodGroup link.
POD_GROUP_NAME_ANNOTATION: Final = "scheduling.k8s.io/group-name"
VOLCANO_QUEUE_ANNOTATION: Final = "scheduling.volcano.sh/queue-name"

# Labels the StatefulSet controller puts on the pods it creates.
STS_POD_NAME_LABEL: Final = "statefulset.kubernetes.io/pod-name"
STS_POD_INDEX_LABEL: Final = "apps.kubernetes.io/pod-index"
STS_REVISION_LABEL: Final = "controller-revision-hash"
#: The label Kubernetes' controller history puts on the ControllerRevisions of StatefulSets (and
#: DaemonSets); a LeaderWorkerSet's own revisions never carry it.
HISTORY_HASH_LABEL: Final = "controller.kubernetes.io/hash"

# --- environment variables (pod webhook) -----------------------------------------------------------------

LWS_LEADER_ADDRESS: Final = "LWS_LEADER_ADDRESS"
LWS_GROUP_SIZE: Final = "LWS_GROUP_SIZE"
LWS_WORKER_INDEX: Final = "LWS_WORKER_INDEX"
LWS_ENV_NAMES: Final = (LWS_LEADER_ADDRESS, LWS_GROUP_SIZE, LWS_WORKER_INDEX)

TPU_RESOURCE: Final = "google.com/tpu"
TPU_WORKER_HOSTNAMES: Final = "TPU_WORKER_HOSTNAMES"
TPU_WORKER_ID: Final = "TPU_WORKER_ID"
TPU_NAME: Final = "TPU_NAME"
TPU_PROCESS_ADDRESSES: Final = "TPU_PROCESS_ADDRESSES"
TPU_PROCESS_PORT: Final = "TPU_PROCESS_PORT"
TPU_DEFAULT_PORT: Final = 8476

# --- enum values -----------------------------------------------------------------------------------------

STARTUP_LEADER_CREATED: Final = "LeaderCreated"
STARTUP_LEADER_READY: Final = "LeaderReady"
UPSTREAM_STARTUP_POLICIES: Final = (STARTUP_LEADER_CREATED, STARTUP_LEADER_READY)

RESTART_RECREATE_GROUP_ON_POD_RESTART: Final = "RecreateGroupOnPodRestart"
RESTART_RECREATE_GROUP_AFTER_START: Final = "RecreateGroupAfterStart"
RESTART_NONE: Final = "None"
RESTART_DEFAULT: Final = "Default"  # deprecated alias, defaulted to "None"
UPSTREAM_RESTART_POLICIES: Final = (
    RESTART_DEFAULT,
    RESTART_RECREATE_GROUP_ON_POD_RESTART,
    RESTART_RECREATE_GROUP_AFTER_START,
    RESTART_NONE,
)

ROLLING_UPDATE: Final = "RollingUpdate"
ROLLOUT_STRATEGY_TYPES: Final = (ROLLING_UPDATE,)

SUBGROUP_LEADER_WORKER: Final = "LeaderWorker"
SUBGROUP_LEADER_EXCLUDED: Final = "LeaderExcluded"
SUBGROUP_POLICY_TYPES: Final = (SUBGROUP_LEADER_WORKER, SUBGROUP_LEADER_EXCLUDED)

GROUP_IDENTITY_ORDINAL: Final = "Ordinal"
GROUP_IDENTITY_HASH: Final = "Hash"
GROUP_IDENTITIES: Final = (GROUP_IDENTITY_ORDINAL, GROUP_IDENTITY_HASH)
#: groupIdentity Hash: the leader's host name is ``<lws>-`` and this many characters of its group key.
HASH_HOST_KEY_LENGTH: Final = 8

GROUP_REPLACEMENT_POST_TERMINATION: Final = "PostTermination"
GROUP_REPLACEMENT_IMMEDIATE: Final = "Immediate"
GROUP_REPLACEMENT_POLICIES: Final = (GROUP_REPLACEMENT_POST_TERMINATION, GROUP_REPLACEMENT_IMMEDIATE)

SUBDOMAIN_SHARED: Final = "Shared"
SUBDOMAIN_UNIQUE_PER_REPLICA: Final = "UniquePerReplica"
SUBDOMAIN_POLICIES: Final = (SUBDOMAIN_SHARED, SUBDOMAIN_UNIQUE_PER_REPLICA)

# --- status ----------------------------------------------------------------------------------------------

CONDITION_AVAILABLE: Final = "Available"
CONDITION_PROGRESSING: Final = "Progressing"
CONDITION_UPDATE_IN_PROGRESS: Final = "UpdateInProgress"

REASON_ALL_GROUPS_READY: Final = "AllGroupsReady"
REASON_GROUPS_UPDATING: Final = "GroupsUpdating"
REASON_GROUPS_PROGRESSING: Final = "GroupsProgressing"

# --- events (reason strings, as upstream's recorder emits them) ------------------------------------------

EVENT_CREATING_REVISION: Final = "CreatingRevision"
EVENT_GROUPS_PROGRESSING: Final = REASON_GROUPS_PROGRESSING
# groupIdentity Hash, groupReplacementPolicy (upstream #1050): a gated leader's wait and admission.
EVENT_GROUP_REPLACEMENT_DEFERRED: Final = "GroupReplacementDeferred"
EVENT_GROUP_REPLACEMENT_ADMITTED: Final = "GroupReplacementAdmitted"
EVENT_GROUPS_UPDATING: Final = REASON_GROUPS_UPDATING
EVENT_ALL_GROUPS_READY: Final = REASON_ALL_GROUPS_READY
EVENT_RECREATE_GROUP: Final = "RecreateGroup"
EVENT_FAILED_CREATE: Final = "FailedCreate"
EVENT_FAILED_UPDATE: Final = "FailedUpdate"
# Beyond upstream: a group whose restart budget is spent.
EVENT_GROUP_FAILED: Final = "GroupFailed"
EVENT_GROUP_RESTART_DELAYED: Final = "GroupRestartDelayed"

REPORTING_CONTROLLER: Final = "leaderworkerset"
FIELD_MANAGER: Final = "lws"

# --- operator install names (as upstream, for cert injection and tooling) --------------------------------

OPERATOR_NAMESPACE: Final = "lws-system"
WEBHOOK_SERVICE_NAME: Final = "lws-webhook-service"
MUTATING_WEBHOOK_CONFIGURATION: Final = "lws-mutating-webhook-configuration"
VALIDATING_WEBHOOK_CONFIGURATION: Final = "lws-validating-webhook-configuration"
LEADER_ELECTION_LEASE: Final = "b8b2488c.x-k8s.io"

WEBHOOK_PATH_MUTATE_LWS: Final = "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset"
WEBHOOK_PATH_VALIDATE_LWS: Final = "/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset"
WEBHOOK_PATH_MUTATE_POD: Final = "/mutate--v1-pod"
WEBHOOK_PATH_VALIDATE_POD: Final = "/validate--v1-pod"
#: On a pod template (and so on its pods) that already carries everything the pod webhook would add: the
#: pod webhook's objectSelector leaves its pods out, so they are created without an admission call.
TEMPLATE_ADMITTED_LABEL: Final = "lws.x-k8s.io/template-admitted"

# --- limits ----------------------------------------------------------------------------------------------

MAX_REPLICAS: Final = 1_000_000
MAX_INT32: Final = 2_147_483_647
DNS1035_LABEL_MAX: Final = 63
# The StatefulSet controller labels each pod with controller-revision-hash = "<sts-name>-<hash>", where the
# hash is at most 10 characters; that label value must fit in 63 characters (upstream issue #410).
STS_REVISION_HASH_MAX_LEN: Final = 10
# A Deployment's ReplicaSets are named "<deployment>-<pod-template-hash>", up to 10 characters of hash.
POD_TEMPLATE_HASH_MAX_LEN: Final = 10

#: How many objects and arrays deep a manifest may nest. A LeaderWorkerSet's deepest fields (a pod
#: affinity's label selector values) are about 15 levels down; anything far deeper is not one of ours, and
#: is refused before any code that recurses (parsing, defaulting, copying, diffing) could run out of stack.
MAX_NESTING: Final = 100
