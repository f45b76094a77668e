"""``pods/eviction``: delete a pod unless that breaks its PodDisruptionBudget, as Kubernetes' EvictionREST.

* A pod that is Pending, Succeeded, Failed or already being deleted is deleted without looking at budgets.
* A pod no budget selects is deleted. One selected by more than one gets a 500 Status (Kubernetes' own
  answer: the eviction subresource does not support it).
* Otherwise the budget decides, from its status as the disruption controller
  (:mod:`lws.sim.controllers.disruption`) keeps it: a status older than the budget's generation, or no
  disruption allowed, answers ``429 TooManyRequests`` with a ``DisruptionBudget`` cause saying why; else the
  budget's ``disruptionsAllowed`` is decremented and the pod recorded in ``disruptedPods`` (so the controller
  does not count it healthy while it goes), and the pod is deleted. A pod that is not Ready is deleted
  without spending the budget when the budget is already met (or its ``unhealthyPodEvictionPolicy`` is
  ``AlwaysAllow``), with a resourceVersion precondition so that it cannot have become Ready meanwhile.
* Before deleting, the pod gets the ``DisruptionTarget`` condition (reason ``EvictionByEvictionAPI``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lws.k8s.pods import pod_ready
from lws.sim import errors, objects
from lws.sim.causes import Cause
from lws.sim.errors import APIError
from lws.sim.selectors import SelectorError, label_selector_from_dict

if TYPE_CHECKING:
    from lws.sim.apiserver import APIServer

__all__ = ["evict"]

PODS = ("", "v1", "pods")
PDBS = ("policy", "v1", "poddisruptionbudgets")
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
_VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
_SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
_CONFLICT_RETRIES = 5


async def evict(
    api: APIServer, namespace: str, name: str, body: Mapping[str, Any], *, dry_run: bool
) -> dict[str, Any]:
    """Evict pod ``namespace/name`` as ``POST pods/<name>/eviction`` with ``body`` (a policy/v1 Eviction)."""
    body_name = (body.get("metadata") or {}).get("name")
    if body_name and body_name != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    options = body.get("deleteOptions") or {}
    dry_run = dry_run or bool(options.get("dryRun"))
    preconditions = dict(options.get("preconditions") or {})
    grace = options.get("gracePeriodSeconds")
    pod = await api.get(PODS, namespace, name)
    if _can_ignore_budgets(pod):
        if not pod["metadata"].get("deletionTimestamp") and _phase(pod) not in ("Succeeded", "Failed"):
            preconditions.setdefault("resourceVersion", pod["metadata"]["resourceVersion"])
        await _delete(api, pod, preconditions, grace, dry_run)
        return dict(_SUCCESS)
    budgets = _budgets_for(api, pod)
    if len(budgets) > 1:
        message = (
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
        )
        raise APIError(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "code": 500,
            }
        )
    pinned = "resourceVersion" in preconditions
    exempt = False
    if budgets:
        budget = budgets[0]
        status = budget.get("status") or {}
        if not pod_ready(pod):
            # An unready pod does not count as healthy: deleting it costs nothing when the budget is met
            # anyway (or says so), provided it is still unready when deleted (hence the precondition).
            policy = (budget.get("spec") or {}).get("unhealthyPodEvictionPolicy")
            desired = int(status.get("desiredHealthy") or 0)
            exempt = policy == "AlwaysAllow" or int(status.get("currentHealthy") or 0) >= desired > 0
        if exempt:
            preconditions["resourceVersion"] = pod["metadata"]["resourceVersion"]
        else:
            await _spend(api, namespace, name, budget, dry_run=dry_run)
    try:
        await _delete(api, pod, preconditions, grace, dry_run)
    except APIError as exc:
        if exc.code == 409 and exempt and not pinned:
            raise _too_many_requests(budgets[0]["metadata"]["name"]) from exc  # it changed: retry
        raise
    return dict(_SUCCESS)


def _phase(pod: Mapping[str, Any]) -> str | None:
    phase: str | None = (pod.get("status") or {}).get("phase")
    return phase


def _can_ignore_budgets(pod: Mapping[str, Any]) -> bool:
    """An eviction of a pod that is not running (or already going) disrupts nothing more."""
    return _phase(pod) in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def _budgets_for(api: APIServer, pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The PodDisruptionBudgets of the pod's namespace whose selector matches its labels."""
    namespace = pod["metadata"].get("namespace") or ""
    labels = pod["metadata"].get("labels") or {}
    found = []
    for budget in api.store.items(("policy", "poddisruptionbudgets"), namespace):
        try:
            selector = label_selector_from_dict((budget.get("spec") or {}).get("selector"))
        except SelectorError:
            continue  # an invalid selector matches no pod
        if selector.matches(labels):
            found.append(budget)
    return found


async def _spend(
    api: APIServer, namespace: str, pod_name: str, budget: dict[str, Any], *, dry_run: bool
) -> None:
    """Take one disruption from ``budget`` (``checkAndDecrement``), retrying conflicts; 429 if none left."""
    name = budget["metadata"]["name"]
    for _ in range(_CONFLICT_RETRIES):
        status = dict(budget.get("status") or {})
        if int(status.get("observedGeneration") or 0) < int(budget["metadata"].get("generation") or 0):
            raise _too_many_requests(name)
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            message = (
                f"The disruption budget {name} does not allow evicting pods currently: "
                "pdb disruptions allowed is negative"
            )
            raise errors.forbidden(
                "poddisruptionbudget",
                "policy",
                name,
                "pdb disruptions allowed is negative",
                [Cause("", DISRUPTION_BUDGET_CAUSE, message)],
            )
        if allowed == 0:
            raise _no_disruption_allowed(name, status)
        status["disruptionsAllowed"] = allowed - 1
        if allowed - 1 == 0:
            status["conditions"] = _with_condition(status.get("conditions") or [], budget, allowed=False)
        status["disruptedPods"] = {**(status.get("disruptedPods") or {}), pod_name: objects.now()}
        if dry_run:
            return
        try:
            await api.update(PDBS, namespace, name, {**budget, "status": status}, subresource="status")
            return
        except APIError as exc:
            if exc.code != 409:
                raise
        budget = await api.get(PDBS, namespace, name)
    raise errors.timeout(f'couldn\'t update PodDisruptionBudget "{name}" due to conflicts', retry_after=10)


async def _delete(
    api: APIServer, pod: dict[str, Any], preconditions: dict[str, Any], grace: Any, dry_run: bool
) -> None:
    """Mark the pod as a disruption target, then delete it (``addConditionAndDeletePod``)."""
    meta = pod["metadata"]
    namespace, name = meta.get("namespace"), meta["name"]
    if not dry_run:
        current = await api.get(PODS, namespace, name)
        _check(current, preconditions)
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
            "lastTransitionTime": objects.now(),
        }
        conditions = [
            c
            for c in (current.get("status") or {}).get("conditions") or []
            if c.get("type") != "DisruptionTarget"
        ]
        status = {**(current.get("status") or {}), "conditions": [*conditions, condition]}
        updated = await api.update(PODS, namespace, name, {**current, "status": status}, subresource="status")
        if "resourceVersion" in preconditions:
            # The condition was this eviction's own write: the precondition now means "nothing else since".
            preconditions = {**preconditions, "resourceVersion": updated["metadata"]["resourceVersion"]}
    await api.delete(
        PODS,
        namespace,
        name,
        grace_period_seconds=grace if isinstance(grace, int) else None,
        preconditions=preconditions or None,
        dry_run=dry_run,
    )


def _check(pod: Mapping[str, Any], preconditions: Mapping[str, Any]) -> None:
    meta = pod["metadata"]
    uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
    if uid and uid != meta.get("uid"):
        raise errors.conflict(
            "Pod",
            "",
            meta["name"],
            f"the UID in the precondition ({uid}) does not match the UID in record ({meta.get('uid')}). "
            "The object might have been deleted and then recreated",
        )
    if rv and rv != meta.get("resourceVersion"):
        raise errors.conflict(
            "Pod",
            "",
            meta["name"],
            f"the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record "
            f"({meta.get('resourceVersion')}). The object might have been modified",
        )


def _too_many_requests(name: str) -> APIError:
    message = f"The disruption budget {name} is still being processed by the server."
    error = errors.too_many_requests(_VIOLATION, retry_after=10)
    error.status["details"]["causes"] = [Cause("", DISRUPTION_BUDGET_CAUSE, message).to_status_cause()]
    return error


def _no_disruption_allowed(name: str, status: Mapping[str, Any]) -> APIError:
    condition = next(
        (c for c in status.get("conditions") or () if c.get("type") == "DisruptionAllowed"), None
    )
    desired, current = int(status.get("desiredHealthy") or 0), int(status.get("currentHealthy") or 0)
    failed = condition is not None and condition.get("status") == "False" and condition.get("message")
    refused = f"The disruption budget {name} does not allow evicting pods currently"
    if failed and condition is not None and condition.get("reason") == "SyncFailed":
        message = f"{refused} because it failed sync: {condition['message']}"
    elif current <= desired:
        message = f"The disruption budget {name} needs {desired} healthy pods and has {current} currently"
    elif failed and condition is not None:
        message = f"{refused} ({condition.get('reason')}): {condition['message']}"
    else:
        message = refused
    # Kubernetes asks for no particular wait here (retryAfterSeconds 0, left out of the Status).
    error = APIError(errors.status(429, "TooManyRequests", _VIOLATION))
    error.status["details"] = {"causes": [Cause("", DISRUPTION_BUDGET_CAUSE, message).to_status_cause()]}
    return error


def _with_condition(conditions: list[Any], budget: Mapping[str, Any], *, allowed: bool) -> list[Any]:
    """``conditions`` with ``DisruptionAllowed`` set as ``UpdateDisruptionAllowedCondition`` sets it."""
    observed = int((budget.get("status") or {}).get("observedGeneration") or 0)
    return disruption_condition(conditions, observed, allowed=allowed)


def disruption_condition(conditions: list[Any], observed_generation: int, *, allowed: bool) -> list[Any]:
    """``conditions`` with ``DisruptionAllowed`` set (``SufficientPods`` or ``InsufficientPods``); the
    transition time moves only when the status does (``meta.SetStatusCondition``)."""
    status = "True" if allowed else "False"
    wanted = {
        "type": "DisruptionAllowed",
        "status": status,
        "reason": "SufficientPods" if allowed else "InsufficientPods",
        "message": "",
        "observedGeneration": observed_generation,
    }
    result = []
    found = False
    for condition in conditions:
        if condition.get("type") == "DisruptionAllowed":
            found = True
            same = condition.get("status") == status
            when = condition.get("lastTransitionTime") if same else objects.now()
            result.append({**wanted, "lastTransitionTime": when or objects.now()})
        else:
            result.append(condition)
    if not found:
        result.append({**wanted, "lastTransitionTime": objects.now()})
    return result
