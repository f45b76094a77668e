"""Pod and node faults for the embedded cluster: what breaks in a real cluster, on demand.

API-level faults (error and latency injection, dropped watches) live in :mod:`lws.sim.apifaults`;
these act on workloads through the simulated kubelets:

* :meth:`Faults.restart_container`: the container's process dies and the kubelet restarts it
  (``restartCount`` +1, ``lastState.terminated``, Ready drops, then comes back);
* :meth:`Faults.crash_loop`: the container exits shortly after every start, restarting with
  exponential back-off (``CrashLoopBackOff``) as its pod's ``restartPolicy`` allows;
* :meth:`Faults.crash_pod`: every container dies and the pod is ``Failed`` (as an eviction);
* :meth:`Faults.delete_pod`: an ordinary (graceful) deletion;
* :meth:`Faults.fail_node` / :meth:`Faults.recover_node`: the node's kubelet stops (node ``Unknown``,
  tainted unreachable, pods NotReady, then ``Failed``/``NodeLost``), or comes back.

Every method runs on the cluster's event loop (the runner offers thread-safe wrappers) and returns a
small JSON-able summary. :meth:`Faults.run` dispatches by action name; :meth:`Faults.control_routes`
serves them over HTTP as ``POST /sim/v1/faults/pods/<action>`` (body ``{namespace, pod, container?,
...}``) and ``POST /sim/v1/faults/nodes/<fail|recover>`` (body ``{node}``); ``GET /sim/v1/faults/nodes``
lists failed nodes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from lws.sim import errors
from lws.sim.controllers import Controllers
from lws.sim.controllers import container_runtime as cr
from lws.sim.errors import APIError

PODS = ("", "v1", "pods")
NODES = ("", "v1", "nodes")


class FaultError(LookupError):
    """A fault that cannot be applied; the message says what is missing and what to do."""


class FaultUsageError(FaultError):
    """A fault asked for with an unknown action or wrong parameters."""


class Faults:
    """Inject pod and node faults into a running embedded cluster.

    :param controllers: the running workload controllers, or a callable returning them (``None`` while
        they are not running), as :class:`lws.sim.controllers.WorkloadControllers` offers.
    """

    def __init__(self, controllers: Controllers | Callable[[], Controllers | None]) -> None:
        self._controllers = controllers

    @property
    def controllers(self) -> Controllers:
        """The running controllers; raises :class:`FaultError` when there are none."""
        found = self._controllers() if callable(self._controllers) else self._controllers
        if found is None:
            raise FaultError(
                "the embedded cluster's workload controllers are not running: start the cluster first"
            )
        return found

    # -- pods ------------------------------------------------------------------------------------

    def _pod(self, namespace: str, name: str) -> dict[str, Any]:
        pod = self.controllers.kubelets.pods.get(namespace, name)
        if pod is None:
            raise FaultError(f"pod {namespace}/{name} does not exist: see 'kubectl get pods -n {namespace}'")
        return pod

    def _running(self, namespace: str, name: str) -> dict[str, Any]:
        pod = self._pod(namespace, name)
        kubelets = self.controllers.kubelets
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise FaultError(
                f"pod {namespace}/{name} is not scheduled yet, so no container runs: wait until it runs"
            )
        if node in kubelets.down:
            raise FaultError(f"pod {namespace}/{name} is on failed node {node}: recover the node first")
        if kubelets.runtime_of(pod) is None or (pod.get("status") or {}).get("phase") in (
            "Failed",
            "Succeeded",
        ):
            raise FaultError(
                f"pod {namespace}/{name} is not running (phase {(pod.get('status') or {}).get('phase')})"
            )
        return pod

    async def restart_container(
        self, namespace: str, pod: str, container: str | None = None, *, exit_code: int = 137
    ) -> dict[str, Any]:
        """Kill a container (the first one by default); the kubelet restarts it per the restart policy."""
        target = self._running(namespace, pod)

        def kill(runtime: cr.PodRuntime, now: float) -> str:
            return cr.restart_container(runtime, container, now, exit_code=exit_code)

        name = await self._apply(target, kill)
        return {
            "pod": f"{namespace}/{pod}",
            "container": name,
            "action": "restart-container",
            "exitCode": exit_code,
        }

    async def crash_loop(
        self, namespace: str, pod: str, container: str | None = None, *, enabled: bool = True
    ) -> dict[str, Any]:
        """Make a container crash after every start (or stop doing so with ``enabled=False``)."""
        target = self._running(namespace, pod)

        def toggle(runtime: cr.PodRuntime, now: float) -> str:
            return cr.set_crash_loop(runtime, container, enabled)

        name = await self._apply(target, toggle)
        return {"pod": f"{namespace}/{pod}", "container": name, "action": "crash-loop", "enabled": enabled}

    async def crash_pod(
        self, namespace: str, pod: str, *, reason: str = "Error", message: str = "", exit_code: int = 1
    ) -> dict[str, Any]:
        """Fail the whole pod: containers terminated, phase ``Failed``, whatever its restart policy."""
        target = self._pod(namespace, pod)
        kubelets = self.controllers.kubelets
        if (
            kubelets.runtime_of(target) is not None
            and (target.get("spec") or {}).get("nodeName") not in kubelets.down
        ):

            def crash(runtime: cr.PodRuntime, now: float) -> None:
                cr.crash_pod(runtime, now, reason=reason, message=message, exit_code=exit_code)

            await self._apply(target, crash)
        else:
            # Not running anywhere (pending, or on a failed node): only the phase can change.
            status: dict[str, Any] = {"phase": "Failed", "reason": reason}
            if message:
                status["message"] = message
            await self.controllers.api.patch(
                PODS, namespace, pod, {"status": status}, "application/merge-patch+json", subresource="status"
            )
        return {"pod": f"{namespace}/{pod}", "action": "crash-pod", "phase": "Failed", "reason": reason}

    async def delete_pod(
        self, namespace: str, pod: str, *, grace_period_seconds: int | None = None
    ) -> dict[str, Any]:
        """Delete a pod as ``kubectl delete pod`` does (graceful unless ``grace_period_seconds=0``)."""
        self._pod(namespace, pod)
        await self.controllers.api.delete(PODS, namespace, pod, grace_period_seconds=grace_period_seconds)
        return {"pod": f"{namespace}/{pod}", "action": "delete-pod"}

    async def _apply(self, pod: dict[str, Any], change: Callable[[cr.PodRuntime, float], Any]) -> Any:
        try:
            return await self.controllers.kubelets.apply_fault(pod, change)
        except KeyError as exc:
            meta = pod["metadata"]
            raise FaultError(f"pod {meta.get('namespace')}/{meta['name']}: {exc.args[0]}") from exc
        except LookupError as exc:
            raise FaultError(str(exc)) from exc

    # -- nodes -----------------------------------------------------------------------------------

    def _node(self, name: str) -> None:
        if self.controllers.kubelets.nodes.get("", name) is None:
            known = sorted(n["metadata"]["name"] for n in self.controllers.kubelets.nodes.items())
            hint = ", ".join(known[:5]) + (" ..." if len(known) > 5 else "")
            raise FaultError(f"node {name!r} does not exist (nodes: {hint or 'none'})")

    async def fail_node(self, node: str) -> dict[str, Any]:
        """Stop a node's kubelet; see :class:`lws.sim.controllers.kubelet.Kubelets` for what follows."""
        self._node(node)
        await self.controllers.kubelets.fail_node(node)
        pods = [p["metadata"]["name"] for p in self.controllers.kubelets.pods.by_index("node", node)]
        return {"node": node, "action": "fail-node", "pods": sorted(pods)}

    async def recover_node(self, node: str) -> dict[str, Any]:
        """Bring a failed node back: Ready, untainted, its remaining pods resume."""
        self._node(node)
        if node not in self.controllers.kubelets.down:
            raise FaultError(f"node {node!r} has not failed: nothing to recover")
        await self.controllers.kubelets.recover_node(node)
        return {"node": node, "action": "recover-node"}

    def failed_nodes(self) -> list[str]:
        """Nodes currently failed by :meth:`fail_node`."""
        return sorted(self.controllers.kubelets.down)

    # -- dispatch --------------------------------------------------------------------------------

    async def run(self, action: str, **params: Any) -> dict[str, Any]:
        """Run a fault by its action name (``restart-container``, ``crash-loop``, ``crash-pod``,
        ``delete-pod``, ``fail-node``, ``recover-node``) with keyword parameters, for control routes."""
        actions: dict[str, Callable[..., Any]] = {
            "restart-container": self.restart_container,
            "crash-loop": self.crash_loop,
            "crash-pod": self.crash_pod,
            "delete-pod": self.delete_pod,
            "fail-node": self.fail_node,
            "recover-node": self.recover_node,
        }
        method = actions.get(action)
        if method is None:
            raise FaultUsageError(f"unknown fault {action!r}: use one of {', '.join(actions)}")
        try:
            result: dict[str, Any] = await method(**params)
        except TypeError as exc:
            raise FaultUsageError(f"fault {action!r}: {exc}") from exc
        except APIError as exc:
            raise FaultError(f"fault {action!r} failed: {exc}") from exc
        return result

    # -- HTTP control routes ---------------------------------------------------------------------

    def control_routes(self) -> dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
        """``/sim/v1/faults/pods/...`` and ``/sim/v1/faults/nodes/...`` for ``lws cluster`` subcommands."""
        routes: dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            ("GET", "/sim/v1/faults/nodes"): self._get_nodes,
        }
        for action in ("restart-container", "crash-loop", "crash-pod", "delete-pod"):
            path = f"/sim/v1/faults/pods/{action.removesuffix('-pod')}"
            routes[("POST", path)] = self._handler(action)
        routes[("POST", "/sim/v1/faults/nodes/fail")] = self._handler("fail-node")
        routes[("POST", "/sim/v1/faults/nodes/recover")] = self._handler("recover-node")
        return routes

    def _handler(self, action: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise errors.bad_request(f"the fault request body is not JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise errors.bad_request("the fault request body must be a JSON object")
            params = {str(_PARAMETERS.get(key, key)): value for key, value in body.items()}
            try:
                result = await self.run(action, **params)
            except FaultUsageError as exc:
                raise errors.bad_request(str(exc)) from exc
            except FaultError as exc:
                code, reason = (404, "NotFound") if "does not exist" in str(exc) else (409, "Conflict")
                raise APIError(errors.status(code, reason, str(exc))) from exc
            return web.json_response(result, status=201)

        return handle

    async def _get_nodes(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"failed": self.failed_nodes()})


# JSON bodies use Kubernetes' camelCase; the methods take snake_case keywords.
_PARAMETERS = {"exitCode": "exit_code", "gracePeriodSeconds": "grace_period_seconds"}
