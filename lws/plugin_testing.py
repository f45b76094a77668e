"""Test helpers for lws plugins: hooks around your plugin, rendered manifests, and hook contexts.

Installed as a pytest plugin (the ``pytest11`` entry point ``lws``), so with ``lws-operator`` installed these
fixtures exist in every test session (``-p no:lws`` turns them off):

``lws_hooks``
    The default-enabled built-in plugins, and no third-party ones: a stable baseline.
``lws_make_hooks``
    :func:`make_test_hooks`: ``lws_make_hooks(my_plugin)`` adds plugin objects (modules, classes,
    instances) to the built-ins; ``builtins=False`` leaves them out, ``enable=("volcano",)`` turns on opt-in
    built-ins.
``lws_render``
    :func:`render` with ``lws_hooks`` unless you pass ``hooks=``: admission (defaults, then validation; a
    rejected manifest fails the test with every error) and every object ``lws render`` would print, as a
    :class:`Rendered`.

Everything is also importable for use without pytest: :func:`make_test_hooks`, :func:`render`,
:func:`admission_errors`, :func:`lws_manifest`, and the context builders :func:`pod_context`,
:func:`group_context` and :func:`restart_event` for unit tests of single hooks, :func:`installed_hooks`
to check your package loads through its entry point, and :func:`embedded_operator` (with
:func:`wait_until`) for end-to-end tests, an embedded cluster with the operator running your plugin on it.
For example::

    from lws.plugin_testing import lws_manifest, pod_context

    def test_pins_workers(lws_make_hooks, lws_render):
        hooks = lws_make_hooks(my_plugin)
        rendered = lws_render(lws_manifest(size=3, annotations={"my.lws.x-k8s.io/pool": "a"}), hooks=hooks)
        assert rendered.pod("demo-0-1")["spec"]["nodeSelector"] == {"pool": "a"}

    def test_hook_alone():
        pod = {"metadata": {}, "spec": {}}
        my_plugin.lws_mutate_pod(pod, pod_context(role="worker", annotations={"my.lws.x-k8s.io/pool": "a"}))
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lws.api import constants as c
from lws.api.model import LeaderWorkerSet
from lws.hooks.types import GroupContext, GroupRestartState, PodContext, RestartEvent, Role

if TYPE_CHECKING:
    from lws.api.errors import FieldError
    from lws.controller.in_process import InProcessOperator
    from lws.controller.settings import OperatorSettings
    from lws.hooks.manager import Hooks
    from lws.hooks.types import HookObserver
    from lws.sim.runner import EmbeddedCluster

# The operator's modules are imported where they are used: pytest imports this plugin in every session, and
# a session that tests only the embedded cluster should not depend on (or pay for) the core.

#: The distribution whose entry points are the built-in plugins.
BUILTIN_DISTRIBUTION = "lws-operator"


# --- an operator under test ------------------------------------------------------------------------------


def settings_for_tests(**changes: Any) -> OperatorSettings:
    """Settings for an in-process operator under test (:class:`lws.controller.in_process.InProcessOperator`):
    all namespaces, free ports, and a Lease that fails over in about 4 s. ``changes`` override any field,
    e.g. ``kubeconfig=``.

    The leader steps down when a renewal has not succeeded within 3 s (the renew deadline): long enough that
    a test machine busy with other work does not starve a lone replica of its Lease."""
    import dataclasses
    import uuid

    from lws.controller.settings import OperatorSettings

    base = OperatorSettings(
        identity=f"test-operator_{uuid.uuid4().hex[:8]}",
        health_host="127.0.0.1",
        health_port=0,
        lease_duration=4.0,
        renew_deadline=3.0,
        retry_period=0.5,
    )
    return dataclasses.replace(base, **changes)


# --- hooks --------------------------------------------------------------------------------------------------


def builtin_plugins(enable: Iterable[str] = ()) -> list[tuple[str, object]]:
    """The built-in plugins as (name, module): the default-enabled ones, and the opt-in ones in ``enable``."""
    from lws.hooks.manager import DEFAULT_ENABLED_ATTR, ENTRY_POINT_GROUP

    wanted = set(enable)
    found: list[tuple[str, object]] = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.dist is None or ep.dist.name != BUILTIN_DISTRIBUTION:
            continue
        module = ep.load()
        if getattr(module, DEFAULT_ENABLED_ATTR, True) or ep.name in wanted:
            found.append((ep.name, module))
    unknown = wanted - {name for name, _ in found}
    if unknown:
        raise ValueError(f"no built-in plugin named {', '.join(sorted(unknown))}")
    return found


def plugin_name(plugin: object) -> str:
    """A plugin object's name in hooks and errors: a module's or class's ``__name__``, else its type's."""
    name = getattr(plugin, "__name__", None)
    return str(name) if name else type(plugin).__name__


def installed_hooks(enable: Iterable[str] = (), disable: Iterable[str] = ()) -> Hooks:
    """The plugins installed in this environment, selected as ``lws run`` selects them (entry points,
    opt-in ones only when in ``enable``): to check that your package registers and loads."""
    from lws.hooks.manager import PluginSelection, make_hooks

    return make_hooks(PluginSelection(enable=tuple(enable), disable=tuple(disable)))


def make_test_hooks(
    *plugins: object | tuple[str, object],
    builtins: bool = True,
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
    observer: HookObserver | None = None,
) -> Hooks:
    """Hooks over the given plugin objects, without reading third-party entry points.

    :param plugins: modules, classes or instances implementing ``lws_*`` hooks, or ``(name, object)`` pairs;
        they register after the built-ins, so (pluggy's LIFO) they run before them.
    :param builtins: include the default-enabled built-in plugins (without them no ``startupPolicy`` or
        ``restartPolicy`` value is registered, so admission rejects every manifest).
    :param enable: opt-in built-ins to include, e.g. ``("volcano",)``.
    :param disable: built-ins to leave out.
    """
    from lws.hooks.manager import PluginSelection, make_hooks

    extra = builtin_plugins(enable) if builtins else []
    skipped = set(disable)
    extra = [(name, p) for name, p in extra if name not in skipped]
    for plugin in plugins:
        extra.append(plugin if isinstance(plugin, tuple) else (plugin_name(plugin), plugin))
    return make_hooks(PluginSelection(load_entrypoints=False, extra=tuple(extra)), observer=observer)


# --- manifests and rendering --------------------------------------------------------------------------------


def lws_manifest(
    name: str = "demo",
    *,
    replicas: int = 1,
    size: int = 2,
    annotations: Mapping[str, str] | None = None,
    namespace: str | None = None,
    containers: Sequence[Mapping[str, Any]] | None = None,
    leader_containers: Sequence[Mapping[str, Any]] | None = None,
    startup_policy: str | None = None,
    restart_policy: str | None = None,
) -> dict[str, Any]:
    """A small LeaderWorkerSet: ``replicas`` groups of ``size`` pods running ``containers`` (default: one
    busybox container named ``main``), with a leader template only when ``leader_containers`` is given."""
    worker = {"spec": {"containers": [dict(x) for x in containers or [{"name": "main", "image": "busybox"}]]}}
    template: dict[str, Any] = {"size": size, "workerTemplate": worker}
    if leader_containers is not None:
        template["leaderTemplate"] = {"spec": {"containers": [dict(x) for x in leader_containers]}}
    if restart_policy is not None:
        template["restartPolicy"] = restart_policy
    spec: dict[str, Any] = {"replicas": replicas, "leaderWorkerTemplate": template}
    if startup_policy is not None:
        spec["startupPolicy"] = startup_policy
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": c.API_VERSION, "kind": c.KIND, "metadata": metadata, "spec": spec}


class AdmissionRejected(AssertionError):
    """A manifest a test expected to be admitted was rejected; the message lists every error."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  {e} (from {e.origin})" for e in errors)
        super().__init__(f"the LeaderWorkerSet was rejected at admission:\n{lines}")


@dataclass(frozen=True)
class Rendered:
    """What ``lws render`` prints for one LeaderWorkerSet, with lookups for assertions."""

    objects: list[dict[str, Any]] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)

    @property
    def lws(self) -> dict[str, Any]:
        """The admitted (defaulted) LeaderWorkerSet."""
        return self.objects[0]

    def names(self, kind: str | None = None) -> list[tuple[str, str]]:
        """``(kind, name)`` of every object, in render order (only ``kind``'s when given)."""
        return [(o["kind"], o["metadata"]["name"]) for o in self.objects if kind in (None, o["kind"])]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The object of that kind and name; ``KeyError`` listing what there is."""
        for obj in self.objects:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"no {kind} {name!r}; rendered: {self.names()}")

    def pod(self, name: str) -> dict[str, Any]:
        return self.get("Pod", name)

    def pods(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == "Pod"]

    def container(self, pod: str, name: str | None = None) -> dict[str, Any]:
        """A container of a pod: the named one, or the first."""
        containers: list[dict[str, Any]] = self.pod(pod)["spec"]["containers"]
        if name is None:
            return containers[0]
        for container in containers:
            if container["name"] == name:
                return container
        raise KeyError(f"pod {pod} has no container {name!r}: {[x['name'] for x in containers]}")

    def env(self, pod: str, container: str | None = None) -> dict[str, str]:
        """A container's env as name -> value (``valueFrom`` entries show as empty strings)."""
        return {e["name"]: e.get("value", "") for e in self.container(pod, container).get("env") or []}


def admission_errors(
    manifest: Mapping[str, Any], hooks: Hooks, *, old: Mapping[str, Any] | None = None
) -> list[FieldError]:
    """The errors admission finds (defaults first, as the webhooks run); empty when it is admitted."""
    from lws.core.admission import admit

    defaulted_old = admit(copy.deepcopy(dict(old)), None, hooks)[0] if old is not None else None
    return admit(copy.deepcopy(dict(manifest)), defaulted_old, hooks)[1]


def render(manifest: Mapping[str, Any], hooks: Hooks) -> Rendered:
    """Admit the manifest (raising :class:`AdmissionRejected`) and render every object it leads to."""
    from lws.core.admission import admit
    from lws.core.render import render_set

    defaulted, errors = admit(copy.deepcopy(dict(manifest)), None, hooks)
    if errors:
        raise AdmissionRejected(errors)
    return Rendered(render_set(defaulted, hooks))


# --- hook contexts for unit tests ---------------------------------------------------------------------------


def pod_context(
    *,
    set_name: str = "demo",
    namespace: str = "default",
    role: Role | None = None,
    group_index: int = 0,
    worker_index: int | None = None,
    size: int = 2,
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    subdomain: str | None = None,
    revision: str = "rev",
) -> PodContext:
    """What ``lws_mutate_pod`` receives for one group pod, with consistent names, labels and address.

    Give ``role`` or ``worker_index`` (a worker is index 1 unless said otherwise); labels default to those
    the operator stamps (name, group and worker index, group key, revision) and ``labels`` are added.
    """
    from lws.core.keys import group_key

    if worker_index is None:
        worker_index = 1 if role == "worker" else 0
    if role is None:
        role = "leader" if worker_index == 0 else "worker"
    if (role == "leader") != (worker_index == 0):
        raise ValueError(f"a {role} cannot have worker index {worker_index}: the leader is index 0")
    leader = f"{set_name}-{group_index}"
    subdomain = subdomain or set_name
    key = group_key(namespace, leader)
    stamped = {
        c.SET_NAME_LABEL: set_name,
        c.GROUP_INDEX_LABEL: str(group_index),
        c.WORKER_INDEX_LABEL: str(worker_index),
        c.GROUP_UNIQUE_HASH_LABEL: key,
        c.REVISION_KEY: revision,
        **(labels or {}),
    }
    return PodContext(
        namespace=namespace,
        pod_name=leader if worker_index == 0 else f"{leader}-{worker_index}",
        set_name=set_name,
        role=role,
        group_index=group_index,
        worker_index=worker_index,
        group_size=size,
        leader_name=leader,
        subdomain=subdomain,
        leader_address=f"{leader}.{subdomain}.{namespace}",
        group_key=key,
        annotations={c.SIZE_ANNOTATION: str(size), **(annotations or {})},
        labels=stamped,
    )


def _as_lws(manifest: Mapping[str, Any] | LeaderWorkerSet) -> LeaderWorkerSet:
    from lws.api.defaulting import default_lws

    if isinstance(manifest, LeaderWorkerSet):
        return manifest
    return LeaderWorkerSet(default_lws(manifest))


def group_context(
    manifest: Mapping[str, Any] | LeaderWorkerSet,
    *,
    group_index: int = 0,
    revision: str = "rev",
    leader_pod: Mapping[str, Any] | None = None,
    leader_node_labels: Mapping[str, str] | None = None,
) -> GroupContext:
    """What the group hooks receive for one group of ``manifest`` (upstream's defaults applied)."""
    return GroupContext(
        lws=_as_lws(manifest),
        group_index=group_index,
        revision=revision,
        leader_pod=leader_pod,
        leader_node_labels=leader_node_labels,
    )


def group_pod(
    name: str, *, phase: str = "Running", restarts: int = 0, deleting: bool = False, ready: bool = True
) -> dict[str, Any]:
    """A live group pod as the restart hooks see it: phase, readiness and a container's restart count."""
    metadata: dict[str, Any] = {"name": name}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": metadata,
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "main", "restartCount": restarts}],
        },
    }


def restart_event(
    manifest: Mapping[str, Any] | LeaderWorkerSet,
    *,
    group_index: int = 0,
    worker_index: int = 1,
    restarts: int = 1,
    state: GroupRestartState | None = None,
    now: datetime | None = None,
) -> RestartEvent:
    """A group pod whose container restarted, as ``lws_review_restart`` and restart policies receive it.

    The group is complete and running (no pod Pending), so upstream's "still starting" rule does not apply;
    the failing pod is ``worker_index`` (0: the leader) with ``restarts`` container restarts.
    """
    lws = _as_lws(manifest)
    leader = lws.leader_pod_name(group_index)
    pods = [group_pod(leader)] + [group_pod(lws.worker_pod_name(group_index, j)) for j in range(1, lws.size)]
    failing = pods[worker_index]
    failing["status"]["containerStatuses"][0]["restartCount"] = restarts
    return RestartEvent(
        lws=lws,
        pod=failing,
        role="leader" if worker_index == 0 else "worker",
        group_index=group_index,
        leader_pod=pods[0],
        group_pods=pods,
        state=state or GroupRestartState(),
        now=now or datetime(2026, 1, 1, tzinfo=UTC),
    )


# --- end to end -------------------------------------------------------------------------------------------

#: The CRD resource, as the embedded cluster's API names resources: (group, version, plural).
_CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")


@dataclass(frozen=True)
class EmbeddedOperator:
    """An embedded cluster with the operator running on it, as :func:`embedded_operator` yields it.

    :ivar cluster: the embedded cluster (:class:`lws.sim.runner.EmbeddedCluster`). ``cluster.sync`` is its
        API (``create``, ``get``, ``list``, ``patch``, ``delete``, resources named ``(group, version,
        plural)``; every write passes the admission webhooks); ``cluster.faults`` acts through the
        kubelets (``restart_container``, ``crash_pod``, ``crash_loop``, ``delete_pod``, ``fail_node``,
        ``recover_node``).
    :ivar operator: the operator as ``lws run`` runs it
        (:class:`lws.controller.in_process.InProcessOperator`); ``operator.settle(resource_version)`` returns
        once it has seen that version and has nothing left to do about it.
    :ivar kubeconfig: a kubeconfig for the cluster (the ``kubernetes`` client and ``kubectl`` read it).
    """

    cluster: EmbeddedCluster
    operator: InProcessOperator
    kubeconfig: Path


@contextlib.contextmanager
def embedded_operator(
    *plugins: object,
    topology: str | Path = "tiny",
    enable: Iterable[str] = (),
    hooks: Hooks | None = None,
) -> Iterator[EmbeddedOperator]:
    """An embedded cluster of ``topology`` (a shipped topology's name or a YAML file) with the CRD the
    plugins define installed and the operator running your ``plugins`` next to the default built-ins (and
    the opt-in ones in ``enable``), or exactly ``hooks``. Starting both takes about a second: share them per
    module. Everything stops when the block ends.

    Watch bookmarks come every 0.2 s, so that ``operator.settle`` sees how far the operator has got.
    """
    import tempfile

    from lws.api.crd import build_crd
    from lws.cluster.kube import connect
    from lws.controller.in_process import InProcessOperator
    from lws.sim.runner import EmbeddedCluster

    hooks = hooks if hooks is not None else make_test_hooks(*plugins, enable=enable)
    with (
        tempfile.TemporaryDirectory(prefix="lws-e2e-") as tmp,
        EmbeddedCluster(topology=topology, bookmark_interval=0.2) as cluster,
    ):
        crd = build_crd(startup_policies=hooks.startup_values, restart_policies=hooks.restart_values)
        cluster.sync.create(_CRDS, None, crd)
        kubeconfig = cluster.write_kubeconfig(Path(tmp) / "kubeconfig")
        settings = settings_for_tests(kubeconfig=str(kubeconfig))
        # Entering returns once the operator's webhooks are registered in the cluster.
        with InProcessOperator(settings, hooks, connect=connect) as operator:
            yield EmbeddedOperator(cluster, operator, kubeconfig)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition") -> Any:
    """Call ``predicate`` until it returns something truthy, and return that; fail naming ``what`` after
    ``timeout`` seconds. Wait on a condition with it, never with ``sleep``."""
    from lws.sim.testing import wait_until as wait

    return wait(predicate, timeout=timeout, what=what)


# --- pytest fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lws_hooks() -> Hooks:
    """The default-enabled built-in plugins, without third-party entry points."""
    return make_test_hooks()


@pytest.fixture
def lws_make_hooks() -> Callable[..., Hooks]:
    """:func:`make_test_hooks`, as a fixture."""
    return make_test_hooks


@pytest.fixture
def lws_render(lws_hooks: Hooks) -> Callable[..., Rendered]:
    """Render: ``lws_render(manifest)`` with the built-ins, or ``lws_render(manifest, hooks=h)``."""

    def _render(manifest: Mapping[str, Any], hooks: Hooks | None = None) -> Rendered:
        return render(manifest, hooks or lws_hooks)

    return _render
