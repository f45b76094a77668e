"""Hook specifications: every point where a plugin can change what the operator does.

Write a plugin as a module (or object) with functions named after these hooks, decorated with
:data:`lws.hookimpl`, and register it in the ``lws`` entry-point group::

    [project.entry-points.lws]
    my_placement = "my_package.placement"

Rules that hold for every hook:

* Call order: implementations marked ``tryfirst`` run first, ``trylast`` last, and otherwise the most
  recently registered plugin runs first (pluggy's LIFO). Built-in plugins register before third-party
  ones, so a third-party implementation runs before a built-in one of the same rank.
* Hooks are synchronous and pure. They must not call the API server, sleep or read files: the host reads
  what they need (it is in the arguments) and writes what they return. This is what lets ``lws render``
  show exactly what the operator will create.
* An implementation may accept fewer arguments than the spec lists; new arguments may be added to a spec
  over time. Never give an implementation argument a default value: pluggy would not pass it.
* Plugin settings live in annotations on the LeaderWorkerSet, under the plugin's own prefix
  (``<plugin>.lws.x-k8s.io/<setting>``). Validate them in :func:`lws_validate`.
* An exception raised by an implementation names the plugin in the operator's error and in admission
  responses; raise ``ValueError`` with a message the user can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy

from lws.api.errors import FieldError
from lws.api.model import LeaderWorkerSet
from lws.hooks.types import (
    ExtraObject,
    GroupContext,
    PodContext,
    PolicyRegistry,
    RestartDecision,
    RestartEvent,
    WorkerGate,
)

PROJECT_NAME = "lws"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# --- registration ---------------------------------------------------------------------------------------


@hookspec
def lws_register_policies(registry: PolicyRegistry) -> None:
    """Declare the ``startupPolicy`` and ``restartPolicy`` values this plugin implements.

    Called once, when the plugin manager is built (for ``lws run``, ``render``, ``validate``, ``demo`` and
    ``simulate`` alike). Call ``registry.startup_policy(value, impl)`` or ``registry.restart_policy(value,
    impl)`` for each value; ``impl`` follows :class:`lws.hooks.types.StartupPolicy` or
    :class:`lws.hooks.types.RestartPolicy`.

    The value written in a LeaderWorkerSet selects the plugin: only that plugin's implementation is
    consulted for that set. Values no enabled plugin registers are rejected at admission with the list of
    installed choices, and the generated CRD's enum lists exactly the registered values.

    :param registry: the table to add to. Two plugins claiming one value is a startup error naming both.
    """


# --- admission of LeaderWorkerSets ----------------------------------------------------------------------


@hookspec
def lws_default(lws: dict[str, Any]) -> None:
    """Fill in defaults for the settings this plugin owns, in place.

    Called by the LeaderWorkerSet mutating webhook (CREATE and UPDATE) and by ``lws render``, after the
    upstream defaults (``replicas``, ``size``, ``rolloutStrategy``, ``networkConfig``...) are applied and
    before validation. Change only your own annotations or fields; never remove user settings.

    :param lws: the whole LeaderWorkerSet object (a private copy), to be changed in place.
    """


@hookspec
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError] | None:
    """Check the fields and annotations this plugin reads.

    Called by the validating webhook (CREATE with ``old=None``, UPDATE with the stored object), by
    ``lws validate`` and by ``lws render``, after the upstream rules. Return every problem you find, each
    a :class:`lws.api.errors.FieldError` whose ``path`` names the field or annotation
    (``metadata.annotations.vllm.lws.x-k8s.io/tensor-parallel-size``) and whose ``detail`` says the rule.
    The host sets ``origin`` to the plugin name.

    :param lws: the defaulted LeaderWorkerSet being admitted.
    :param old: the stored object on UPDATE, else ``None``.
    :returns: a list of errors (empty or ``None`` when all is well).
    """


# --- pod templates and pods -----------------------------------------------------------------------------


@hookspec
def lws_pod_annotations(lws: LeaderWorkerSet) -> Mapping[str, str] | None:
    """Name the LeaderWorkerSet annotations this plugin needs to see on the group's pods.

    Called whenever the operator (or ``lws render``) builds the leader StatefulSet. The returned
    annotations are copied onto both pod templates (leader and worker), and they are part of the revision:
    changing them rolls the groups, one by one, like a template change. This is how settings reach
    :func:`lws_mutate_pod`, which sees only the pod, exactly as upstream's webhook sees only the pod.

    :param lws: the LeaderWorkerSet (revision-applied).
    :returns: annotation key to value; later plugins do not override earlier ones.
    """


@hookspec
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    """Change a group pod at admission: placement, accelerator or inference-server wiring.

    Called by the pod mutating webhook on CREATE of every pod carrying the
    ``leaderworkerset.sigs.k8s.io/name`` label, and by ``lws render`` for every pod it prints. It runs after
    the core has set the group labels (group-index, worker-index, group-key, subgroup labels) and the
    subdomain, and before the ``LWS_*`` variables are inserted first in every container's env (so they win
    over any entry a plugin adds with the same name).

    Typical work: add affinity terms, node selectors, tolerations, topology spread constraints or
    scheduling gates (placement); env vars, volumes, probes or init containers (inference wiring); the
    PodGroup annotation (gang scheduling).

    :param pod: the pod (a private copy); change it in place. Keep user-set values unless your plugin's
        documented purpose is to override them.
    :param ctx: what the pod says about its group, with plugin settings in ``ctx.annotations``.
    """


# --- groups ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def lws_workers_gate(ctx: GroupContext) -> WorkerGate | None:
    """Hold back the creation of a group's worker StatefulSet.

    Called by the pod controller for each leader pod, after the startup policy's own gate allowed the
    workers (see :func:`lws_register_policies`). Return a :class:`WorkerGate` to wait, e.g. "leader not
    scheduled yet" when workers must be pinned next to the leader. The host calls again when the leader
    pod or its node changes. At render time ``ctx.leader_pod`` is ``None``: return ``None`` there.

    Stops at the first non-``None`` result: one gate is reason enough to wait.

    :param ctx: the group, with its live leader pod and, once scheduled, its node's labels.
    :returns: a gate to wait, or ``None``.
    """


@hookspec
def lws_worker_template(template: dict[str, Any], ctx: GroupContext) -> None:
    """Change the worker pod template just before a group's worker StatefulSet is created.

    Called once per group creation (the worker StatefulSet is never updated afterwards, as upstream),
    after all gates are open. Use it for constraints that depend on where the leader landed, such as a
    ``nodeSelector`` for the leader's topology domain (``ctx.leader_node_labels``). At render time
    ``ctx.leader_node_labels`` is ``None``: leave such constraints out.

    :param template: the worker pod template (a private copy); change it in place.
    :param ctx: the group.
    """


@hookspec
def lws_group_objects(ctx: GroupContext) -> list[ExtraObject] | None:
    """Return extra objects that live and die with one group: a PodGroup, a Service, a PodDisruptionBudget,
    a ResourceClaim.

    Called by the pod controller for each leader pod (and by ``lws render``). The host sets namespace,
    the ``leaderworkerset.sigs.k8s.io/name`` and ``group-index`` labels, and an owner reference to the
    leader pod, so the objects are garbage-collected when the group is recreated; it then creates them if
    missing. Names must be unique per group (include ``ctx.leader_name`` or the group index).

    :param ctx: the group.
    :returns: the objects, as :class:`lws.hooks.types.ExtraObject`.
    """


@hookspec
def lws_set_objects(lws: LeaderWorkerSet) -> list[ExtraObject] | None:
    """Return extra objects that belong to the whole LeaderWorkerSet (e.g. a leader Service).

    Called on every LeaderWorkerSet reconcile (and by ``lws render``). The host sets namespace, the
    ``leaderworkerset.sigs.k8s.io/name`` label and an owner reference to the LeaderWorkerSet.

    :param lws: the LeaderWorkerSet.
    :returns: the objects.
    """


# --- failures -------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def lws_review_restart(decision: RestartDecision, event: RestartEvent) -> RestartDecision | None:
    """Review the restart policy's decision for a failed group pod: bound it, delay it, or let it be.

    Called by the pod controller after the LeaderWorkerSet's restart policy decided (see
    :func:`lws_register_policies`), for every decision. Return a replacement decision, e.g.
    ``wait`` with ``not_before`` for an exponential backoff, or ``fail`` once a group's restart budget is
    spent; return ``None`` to keep the decision.

    Stops at the first non-``None`` result.

    :param decision: what the restart policy decided.
    :param event: the failing pod, its group and the group's restart history.
    :returns: a new decision or ``None``.
    """
