"""What the ``LeaderWorkerSetOperator`` named ``cluster`` asks of the operator: pure decisions.

The OpenShift Leader Worker Set Operator is configured by a cluster-scoped ``LeaderWorkerSetOperator``
(``operator.openshift.io/v1``) named ``cluster``, whose spec inlines openshift/api's ``OperatorSpec``:

* ``managementState``: ``Managed`` (or empty, or ``Force``) reconciles; ``Unmanaged`` and ``Removed`` pause
  reconciling and delete nothing (the OpenShift operator keeps its operand in both);
* ``logLevel``: how much the LeaderWorkerSet controller logs (the OpenShift operator passes it to its
  operand as ``--zap-log-level``); here the ``lws`` loggers;
* ``operatorLogLevel``: how much the operator machinery logs; here kopf's and the HTTP servers' loggers.

Levels: ``Normal`` (or empty) is INFO for ``lws`` and WARNING for the machinery, ``Debug`` DEBUG and INFO,
``Trace`` and ``TraceAll`` DEBUG for both (Python has nothing finer that the libraries use), ``TraceAll``
adding the HTTP access logs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lws.api.management import KIND, NAME

MANAGED_STATES = ("", "Managed", "Force")
PAUSED_STATES = ("Unmanaged", "Removed")

#: The loggers ``logLevel`` sets (the LeaderWorkerSet controller itself).
OPERAND_LOGGERS = ("lws",)
#: The loggers ``operatorLogLevel`` sets (the machinery: kopf, the webhook and metrics servers).
MACHINERY_LOGGERS = ("kopf", "aiohttp.access", "aiohttp.server")

_OPERAND = {"": logging.INFO, "Normal": logging.INFO, "Debug": logging.DEBUG, "Trace": logging.DEBUG}
_MACHINERY = {"": logging.WARNING, "Normal": logging.WARNING, "Debug": logging.INFO, "Trace": logging.DEBUG}


@dataclass(frozen=True)
class Management:
    """The settings of the ``cluster`` object (or the defaults when there is none)."""

    management_state: str = ""
    log_level: str = ""
    operator_log_level: str = ""
    generation: int | None = None
    #: Whether a ``cluster`` object exists.
    present: bool = False

    @property
    def managed(self) -> bool:
        """Whether LeaderWorkerSets are reconciled. Unknown states pause too: doing nothing is safe."""
        return self.management_state in MANAGED_STATES

    @property
    def state(self) -> str:
        """The state's name for messages: ``Managed`` for the empty default."""
        return self.management_state or "Managed"


def management_of(obj: Mapping[str, Any] | None) -> Management:
    """The settings an object (``None``: no ``cluster`` object) asks for."""
    if obj is None:
        return Management()
    spec = obj.get("spec") or {}
    meta = obj.get("metadata") or {}
    generation = meta.get("generation")
    return Management(
        management_state=str(spec.get("managementState") or ""),
        log_level=str(spec.get("logLevel") or ""),
        operator_log_level=str(spec.get("operatorLogLevel") or ""),
        generation=int(generation) if generation is not None else None,
        present=True,
    )


def log_levels(management: Management) -> dict[str, int]:
    """Logger name -> level, for both levels of ``management``."""
    operand = _OPERAND.get(management.log_level, logging.DEBUG)
    machinery = _MACHINERY.get(management.operator_log_level, logging.DEBUG)
    levels = {name: operand for name in OPERAND_LOGGERS}
    levels.update({name: machinery for name in MACHINERY_LOGGERS})
    if management.operator_log_level != "TraceAll":
        levels["aiohttp.access"] = max(machinery, logging.WARNING)
    return levels


def admission_warnings(
    management: Management, *, operation: str | None, kind: str = "LeaderWorkerSet"
) -> list[str]:
    """Warnings for a create or update of a ``kind`` the operator reconciles (LeaderWorkerSet,
    DisaggregatedSet) while reconciling is paused (the change is admitted as ever, and kept for when it
    resumes)."""
    if management.managed or operation not in ("CREATE", "UPDATE"):
        return []
    return [
        f"{KIND} {NAME} has managementState {management.state}: this {kind} is stored but not "
        "reconciled until managementState is Managed"
    ]


def conditions(
    management: Management, *, now: str, version: str, previous: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """The status conditions to report (openshift/api ``OperatorCondition``: Available, Progressing,
    Degraded); ``lastTransitionTime`` moves only when a condition's status changes."""
    if management.managed:
        available = ("True", "AsExpected", f"lws {version} reconciles LeaderWorkerSets")
    else:
        available = (
            "False",
            management.state,
            f"managementState is {management.state}: LeaderWorkerSets and DisaggregatedSets are not "
            "reconciled and nothing is deleted; admission still defaults and validates them. Set it to "
            "Managed to resume.",
        )
    wanted = {
        "Available": available,
        "Progressing": ("False", "AsExpected", ""),
        "Degraded": ("False", "AsExpected", ""),
    }
    old = {str(c.get("type")): c for c in previous}
    out: list[dict[str, Any]] = []
    for kind, (status, reason, message) in wanted.items():
        before = old.get(kind) or {}
        since = before.get("lastTransitionTime") if before.get("status") == status else None
        out.append(
            {
                "type": kind,
                "status": status,
                "lastTransitionTime": since or now,
                "reason": reason,
                "message": message,
            }
        )
    return out


def status_patch(
    obj: Mapping[str, Any], management: Management, *, now: str, version: str
) -> dict[str, Any] | None:
    """The merge patch of the ``cluster`` object's status, or ``None`` when it already says all this."""
    status = obj.get("status") or {}
    wanted: dict[str, Any] = {
        "conditions": conditions(
            management, now=now, version=version, previous=status.get("conditions") or ()
        ),
        "version": version,
    }
    if management.generation is not None:
        wanted["observedGeneration"] = management.generation
    if all(status.get(key) == value for key, value in wanted.items()):
        return None
    return {"status": wanted}
