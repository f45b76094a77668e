"""The public API for lws plugin authors: everything a plugin may import, in one place.

A plugin is an ordinary Python module (or object) registered in the ``lws`` entry-point group whose
functions are named after the hooks in :mod:`lws.hooks.specs` and decorated with :data:`hookimpl`::

    from lws.plugin import PodContext, hookimpl

    @hookimpl
    def lws_mutate_pod(pod, ctx: PodContext) -> None:
        pod["metadata"].setdefault("labels", {})["example.com/role"] = ctx.role

Import only from ``lws.plugin`` and its submodules:

* ``lws.plugin`` — :data:`hookimpl`, the context types the hooks receive (:class:`PodContext`,
  :class:`GroupContext`, :class:`RestartEvent`...), the answers they return (:class:`WorkerGate`,
  :class:`RestartDecision`, :class:`ExtraObject`, :class:`FieldError`), the policy protocols
  (:class:`StartupPolicy`, :class:`RestartPolicy`), :func:`pod_failures` (every failure signal a pod
  shows, for restart policies), :func:`restart_trigger` (upstream's restart trigger) and the error types;
* :mod:`lws.plugin.settings` — settings kept in LeaderWorkerSet annotations, declared once and then
  parsed, validated and listed (:class:`Settings`, re-exported here);
* :mod:`lws.plugin.resources` — what a pod requests from the scheduler, by Kubernetes' rules;
* :mod:`lws.plugin.gang` — PodGroup name, size and resources for gang-scheduling plugins;
* :mod:`lws.plugin.names` — Kubernetes name rules; :mod:`lws.plugin.constants` — upstream's names.

The built-in plugins (``lws_builtins``) are held to the same rule by an import contract
(``.importlinter``): they import ``lws.plugin`` and the standard library, nothing else.

Compatibility promise
---------------------
:data:`API_VERSION` is ``(major, minor)``. Within one major version, every name exported here (and in the
submodules' ``__all__``) keeps working: hooks and context types may gain new arguments or fields (an
implementation that does not list an argument is not passed it, so it keeps working), new hooks and
helpers may be added (minor bump), and nothing is removed or changes meaning. A removal or change of
meaning is a major bump, announced one minor version ahead by a ``DeprecationWarning``. Anything not
reachable from ``lws.plugin`` (``lws.hooks.manager``, ``lws.core``, ``lws.controller``...) may change in
any release. A plugin can check ``lws.plugin.API_VERSION >= (1, 0)`` at import time. The promise is
checked: ``tests/plugins/data/plugin_api.json`` records each version's names, hooks and fields, and a test
fails when one disappears or a new one arrives without a minor bump.

History
-------
* 1.3: ``lws.plugin.constants.TEMPLATE_ADMITTED_LABEL`` (on a worker pod template the operator admitted when
  it built it: its pods skip the pod webhook, and a plugin's pod mutation ran on the template) and
  ``HISTORY_HASH_LABEL`` (Kubernetes' label on the ControllerRevisions of StatefulSets).
* 1.2: ``groupIdentity`` and ``groupReplacementPolicy`` (upstream #987, #1050): their constants, the
  ``role`` label, the ``group-identity`` and ``leader-address`` annotations, the ``group-ready`` readiness
  gate and the ``group-replacement`` scheduling gate in ``lws.plugin.constants``. With ``groupIdentity:
  Hash``, ``PodContext.group_index`` and ``GroupContext.group_index`` are the group's 40-character key (a
  ``str``) instead of an ordinal, and ``GroupContext.leader_name`` is the live leader pod's name.
* 1.1: :func:`restart_trigger` (upstream's restart trigger, which the built-in restart policies act on) and
  ``lws.plugin.constants.MAX_NESTING``. ``pod_failure`` is deprecated (it warns; removed in 2.0): use
  ``pod_failures(pod)[0]`` or :func:`restart_trigger`. :meth:`RestartPolicy.decide` is offered every failure
  signal a group pod shows, not-ready included; 1.0 was never released, so this was settled before any
  plugin could rely on it. A policy that should act only where upstream's do filters with
  :func:`restart_trigger`.
* 1.0: the first declared API.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from lws.api.errors import ErrorType, FieldError
from lws.api.model import LeaderWorkerSet
from lws.api.quantity import QuantityError, container_request, parse_quantity
from lws.core.pod_failure import FailureKind, PodFailure, pod_failures, restart_trigger
from lws.hooks import hookimpl
from lws.hooks.types import (
    ExtraObject,
    GroupContext,
    GroupRestartState,
    PodContext,
    PolicyConflict,
    PolicyRegistry,
    RestartAction,
    RestartDecision,
    RestartEvent,
    RestartPolicy,
    Role,
    StartupPolicy,
    WorkerGate,
)
from lws.plugin.settings import Setting, SettingError, Settings, annotation_path

#: The plugin API's version, ``(major, minor)``; see the module docstring for what each part promises.
API_VERSION: tuple[int, int] = (1, 3)


def pod_failure(pod: Mapping[str, Any]) -> PodFailure | None:
    """Deprecated since 1.1 (removed in 2.0): the first of :func:`pod_failures`, or ``None``.

    Use ``pod_failures(pod)[0]`` for the first signal, or :func:`restart_trigger` for upstream's trigger.
    """
    warnings.warn(
        "lws.plugin.pod_failure is deprecated since plugin API 1.1 and goes in 2.0: use "
        "pod_failures(pod)[0], or restart_trigger(pod) for upstream's restart trigger",
        DeprecationWarning,
        stacklevel=2,
    )
    found = pod_failures(pod)
    return found[0] if found else None


__all__ = [
    "API_VERSION",
    "ErrorType",
    "ExtraObject",
    "FailureKind",
    "FieldError",
    "GroupContext",
    "GroupRestartState",
    "LeaderWorkerSet",
    "PodContext",
    "PodFailure",
    "PolicyConflict",
    "PolicyRegistry",
    "QuantityError",
    "RestartAction",
    "RestartDecision",
    "RestartEvent",
    "RestartPolicy",
    "Role",
    "Setting",
    "SettingError",
    "Settings",
    "StartupPolicy",
    "WorkerGate",
    "annotation_path",
    "container_request",
    "hookimpl",
    "parse_quantity",
    "pod_failure",
    "pod_failures",
    "restart_trigger",
]
