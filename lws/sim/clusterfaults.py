"""One thread-safe fault API for a running :class:`~lws.sim.runner.EmbeddedCluster` (``cluster.faults``).

It gathers the API faults of :mod:`lws.sim.apifaults` (errors, latency, dropped watches, compaction) and the
pod and node faults of :mod:`lws.sim.faults` (container restarts, crashes, node failures). Both act on
state owned by the cluster's event loop, so every call is run there and waited for; call these from test
code on any other thread. Coroutines already on the cluster's loop use :attr:`ClusterFaults.api` and
:attr:`ClusterFaults.pods` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from lws.sim.apifaults import APIFaults, FaultRule
from lws.sim.faults import Faults

T = TypeVar("T")

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
"""Runs a coroutine on the cluster's loop and returns its result (``EmbeddedCluster.call``)."""


class ClusterFaults:
    """Fault injection for one cluster, callable from any thread but the cluster's own."""

    def __init__(self, run: Runner, api: APIFaults, pods: Faults) -> None:
        self._run = run
        self.api = api
        """The API fault rules (use only on the cluster's loop)."""
        self.pods = pods
        """The pod and node faults (use only on the cluster's loop)."""

    def _call(self, function: Callable[[], T]) -> T:
        async def on_loop() -> T:
            return function()

        result: T = self._run(on_loop())
        return result

    # -- API faults ------------------------------------------------------------------------------

    def inject_error(
        self,
        code: int,
        *,
        verbs: Iterable[str] = (),
        resources: Iterable[str] = (),
        namespace: str | None = None,
        times: int | None = 1,
        probability: float = 1.0,
        message: str | None = None,
    ) -> FaultRule:
        """Answer matching HTTP requests with ``code`` (see :meth:`APIFaults.inject_error`)."""
        verbs, resources = tuple(verbs), tuple(resources)
        return self._call(
            lambda: self.api.inject_error(
                code,
                verbs=verbs,
                resources=resources,
                namespace=namespace,
                times=times,
                probability=probability,
                message=message,
            )
        )

    def inject_latency(
        self,
        seconds: float,
        *,
        verbs: Iterable[str] = (),
        resources: Iterable[str] = (),
        namespace: str | None = None,
        times: int | None = None,
        probability: float = 1.0,
    ) -> FaultRule:
        """Delay matching HTTP requests (see :meth:`APIFaults.inject_latency`)."""
        verbs, resources = tuple(verbs), tuple(resources)
        return self._call(
            lambda: self.api.inject_latency(
                seconds,
                verbs=verbs,
                resources=resources,
                namespace=namespace,
                times=times,
                probability=probability,
            )
        )

    def clear(self, rule_id: str | None = None) -> None:
        """Remove one API fault rule, or all of them."""
        self._call(lambda: self.api.clear(rule_id))

    def rules(self) -> list[FaultRule]:
        """The API fault rules still active."""
        return self._call(self.api.rules)

    def drop_watches(self) -> None:
        """End every open watch stream now (clients must resume)."""
        self._call(self.api.drop_watches)

    def compact(self, resource: str | None = None) -> None:
        """Forget watch history so the next resume from an older resourceVersion gets 410 Gone."""
        self._call(lambda: self.api.compact(resource))

    # -- pod and node faults ---------------------------------------------------------------------

    def restart_container(
        self, namespace: str, pod: str, container: str | None = None, *, exit_code: int = 137
    ) -> dict[str, Any]:
        """Kill a container; the kubelet restarts it (see :meth:`Faults.restart_container`)."""
        result: dict[str, Any] = self._run(
            self.pods.restart_container(namespace, pod, container, exit_code=exit_code)
        )
        return result

    def crash_loop(
        self, namespace: str, pod: str, container: str | None = None, *, enabled: bool = True
    ) -> dict[str, Any]:
        """Make a container crash after every start, or stop that (see :meth:`Faults.crash_loop`)."""
        result: dict[str, Any] = self._run(self.pods.crash_loop(namespace, pod, container, enabled=enabled))
        return result

    def crash_pod(
        self, namespace: str, pod: str, *, reason: str = "Error", message: str = "", exit_code: int = 1
    ) -> dict[str, Any]:
        """Fail a whole pod (see :meth:`Faults.crash_pod`)."""
        result: dict[str, Any] = self._run(
            self.pods.crash_pod(namespace, pod, reason=reason, message=message, exit_code=exit_code)
        )
        return result

    def delete_pod(
        self, namespace: str, pod: str, *, grace_period_seconds: int | None = None
    ) -> dict[str, Any]:
        """Delete a pod as ``kubectl delete pod`` does (see :meth:`Faults.delete_pod`)."""
        result: dict[str, Any] = self._run(
            self.pods.delete_pod(namespace, pod, grace_period_seconds=grace_period_seconds)
        )
        return result

    def fail_node(self, node: str) -> dict[str, Any]:
        """Stop a node's kubelet (see :meth:`Faults.fail_node`)."""
        result: dict[str, Any] = self._run(self.pods.fail_node(node))
        return result

    def recover_node(self, node: str) -> dict[str, Any]:
        """Bring a failed node back (see :meth:`Faults.recover_node`)."""
        result: dict[str, Any] = self._run(self.pods.recover_node(node))
        return result

    def failed_nodes(self) -> list[str]:
        """Nodes currently failed."""
        return self._call(self.pods.failed_nodes)
