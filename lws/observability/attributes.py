"""Span attribute names: the semantic conventions' ``k8s.*``, ``http.*`` and ``error.*`` keys we use, and
our own under ``leaderworkerset.*``.

One place to look up what a key means; every span the operator emits uses these constants. The
``k8s.*`` keys belong to OpenTelemetry's conventions and are never invented here.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv.attributes import error_attributes, http_attributes, k8s_attributes

# --- semantic conventions (stable) -------------------------------------------------------------------------
K8S_NAMESPACE_NAME: Final = k8s_attributes.K8S_NAMESPACE_NAME
K8S_POD_NAME: Final = k8s_attributes.K8S_POD_NAME
K8S_POD_UID: Final = k8s_attributes.K8S_POD_UID
K8S_STATEFULSET_NAME: Final = k8s_attributes.K8S_STATEFULSET_NAME
K8S_NODE_NAME: Final = k8s_attributes.K8S_NODE_NAME
K8S_CONTAINER_RESTART_COUNT: Final = k8s_attributes.K8S_CONTAINER_RESTART_COUNT
ERROR_TYPE: Final = error_attributes.ERROR_TYPE
HTTP_REQUEST_METHOD: Final = http_attributes.HTTP_REQUEST_METHOD
HTTP_RESPONSE_STATUS_CODE: Final = http_attributes.HTTP_RESPONSE_STATUS_CODE

# --- the object a span is about ----------------------------------------------------------------------------
#: The LeaderWorkerSet's name (its namespace is ``k8s.namespace.name``).
LWS_NAME: Final = "leaderworkerset.name"
#: The group's index (the leader pod's ordinal).
GROUP_INDEX: Final = "leaderworkerset.group.index"
#: The template revision (``leaderworkerset.sigs.k8s.io/template-revision-hash``) a group runs or moves to.
REVISION: Final = "leaderworkerset.revision"
#: The DisaggregatedSet's name, on its reconciles (``reconcile DisaggregatedSet``).
DS_NAME: Final = "disaggregatedset.name"
#: ``set``, ``group`` or ``disaggregatedset``: which reconciler ran.
CONTROLLER: Final = "leaderworkerset.controller"

# --- what a reconcile decided ------------------------------------------------------------------------------
#: What the reconcile did, in a few words: ``create worker StatefulSet``, ``hold workers``,
#: ``recreate group``, ``rollout step``... (``none`` when it found nothing to do).
DECISION: Final = "leaderworkerset.decision"
#: ``success``, ``requeue`` (not yet: comes back later, not an error) or ``error``.
RECONCILE_RESULT: Final = "leaderworkerset.reconcile.result"
#: The restart policy's (or a reviewer's) answer: ``recreate``, ``wait``, ``fail`` or ``ignore``.
RESTART_DECISION: Final = "leaderworkerset.restart.decision"
#: The plugin whose answer counted (the policy's plugin, or the reviewer that changed it).
RESTART_PLUGIN: Final = "leaderworkerset.restart.plugin"
#: The plugin's reason, as it wrote it.
RESTART_REASON: Final = "leaderworkerset.restart.reason"
#: What set the restart policy off: ``container-restart``, ``pod-deletion``, ``pod-failed`` or ``not-ready``.
RESTART_TRIGGER: Final = "leaderworkerset.restart.trigger"
#: Why the group's workers are held back (a startup policy's or plugin's gate); ``open`` once allowed.
STARTUP_GATE: Final = "leaderworkerset.startup.gate"
#: The leader StatefulSet's partition and replicas after (and before) a set reconcile.
PARTITION: Final = "leaderworkerset.rollout.partition"
PREVIOUS_PARTITION: Final = "leaderworkerset.rollout.previous_partition"
REPLICAS: Final = "leaderworkerset.rollout.replicas"
PREVIOUS_REPLICAS: Final = "leaderworkerset.rollout.previous_replicas"

# --- plugins -----------------------------------------------------------------------------------------------
#: The plugin (entry-point name) that answered: a policy's plugin, the only implementation of a hook, or
#: the implementation that failed.
PLUGIN_NAME: Final = "leaderworkerset.plugin.name"
#: Every plugin whose implementation ran in one call of a hook, in the order they ran.
PLUGIN_NAMES: Final = "leaderworkerset.plugin.names"
#: The hook (``lws_mutate_pod``...) or policy (``startupPolicy``, ``restartPolicy``) that was called.
HOOK_NAME: Final = "leaderworkerset.hook.name"
#: The policy value a policy call served (``LeaderReady``, ``RecreateGroupOnPodRestart``...).
POLICY_VALUE: Final = "leaderworkerset.policy.value"

# --- group lifecycles --------------------------------------------------------------------------------------
#: ``create``, ``update``, ``recreate``, ``recover`` or ``resume`` (see docs/observability.md).
LIFECYCLE_KIND: Final = "leaderworkerset.lifecycle.kind"
#: Why the lifecycle began (the restart reason, ``scale up``, ``partition moved``...).
LIFECYCLE_REASON: Final = "leaderworkerset.lifecycle.reason"
#: How it ended: ``ready``, ``superseded``, ``failed``, ``removed`` or ``operator stopped``.
LIFECYCLE_OUTCOME: Final = "leaderworkerset.lifecycle.outcome"
#: On a link: what the linked span is to this one (``started by``, ``started``).
LINK_ROLE: Final = "leaderworkerset.link"

# --- API calls and admission -------------------------------------------------------------------------------
#: The resource (and subresource) called, e.g. ``statefulsets`` or ``leaderworkersets/status``.
API_RESOURCE: Final = "leaderworkerset.api.resource"
#: The API verb (``get``, ``create``, ``apply``, ``patch``, ``delete``...).
API_VERB: Final = "leaderworkerset.api.verb"
#: The object's name when no ``k8s.*`` key names its kind (Services, ControllerRevisions, Nodes...).
OBJECT_NAME: Final = "leaderworkerset.object.name"
#: ``CREATE`` or ``UPDATE``: the operation an admission request is about.
ADMISSION_OPERATION: Final = "leaderworkerset.admission.operation"
#: Whether the webhook allowed the request (a denial is an answer, not an error of ours).
ADMISSION_ALLOWED: Final = "leaderworkerset.admission.allowed"
