"""What the operator's end-to-end tests share: a dict-based client, manifests, waits and a pod timeline.

Everything here talks to the cluster under test over HTTP with the official client (or real kubectl), so
the same tests run against the embedded cluster and, with ``LWS_TEST_KUBECONFIG``, a real one.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from lws.api import constants as c
from lws.cluster.resources import LEADERWORKERSETS, PODS, SERVICES, STATEFULSETS, Resource
from lws.core.admission import admit
from lws.core.render import render_set
from lws.hooks.manager import make_hooks
from lws.sim.testing import wait_until
from tests.sim.kubectl_cli import kubectl_binary

KUBECTL = kubectl_binary()
#: Images the test pods run: tiny, always pullable on a real cluster, and never exiting on their own.
IMAGE = os.environ.get("LWS_TEST_IMAGE", "registry.k8s.io/pause:3.10")
OTHER_IMAGE = os.environ.get("LWS_TEST_OTHER_IMAGE", "registry.k8s.io/pause:3.9")
Obj = dict[str, Any]


class KubeError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class Kube:
    """Plain-dict REST calls through the official synchronous client."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.api = config.new_client_from_config(str(kubeconfig))
        self.core = client.CoreV1Api(self.api)

    def close(self) -> None:
        self.api.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj:
        verb, url, headers, payload, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=[(k, str(v)) for k, v in (query or {}).items() if v is not None],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(verb, url, headers, payload)
        except client.ApiException as exc:
            raise KubeError(int(exc.status or 0), str(exc.body)) from exc
        data = response.read()
        if response.status >= 400:
            raise KubeError(response.status, data.decode(errors="replace"))
        return json.loads(data) if data else {}

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj | None:
        try:
            return self.request("GET", res.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, res: Resource, namespace: str | None, selector: str | None = None) -> list[Obj]:
        return list(
            self.request("GET", res.path(namespace), query={"labelSelector": selector}).get("items") or []
        )

    def create(self, res: Resource, namespace: str | None, body: Obj) -> Obj:
        return self.request("POST", res.path(namespace), body=body)

    def patch(
        self, res: Resource, namespace: str | None, name: str, body: Any, *, subresource: str | None = None
    ) -> Obj:
        return self.request(
            "PATCH",
            res.path(namespace, name, subresource),
            body=body,
            content_type="application/merge-patch+json",
        )

    def delete(
        self, res: Resource, namespace: str | None, name: str, *, propagation: str | None = None
    ) -> None:
        body = {"propagationPolicy": propagation} if propagation else None
        try:
            self.request("DELETE", res.path(namespace, name), body=body)
        except KubeError as exc:
            if exc.status != 404:
                raise

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        result = subprocess.run(
            [KUBECTL, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    # --- LeaderWorkerSets --------------------------------------------------------------------------------

    def lws(self, namespace: str, name: str) -> Obj | None:
        return self.get(LEADERWORKERSETS, namespace, name)

    def wait_lws(
        self,
        namespace: str,
        name: str,
        predicate: Callable[[Obj], bool],
        *,
        timeout: float = 30.0,
        what: str = "",
    ) -> Obj:
        def check() -> Obj | None:
            obj = self.lws(namespace, name)
            return obj if obj is not None and predicate(obj) else None

        result: Obj = wait_until(check, timeout=timeout, what=what or f"LeaderWorkerSet {namespace}/{name}")
        return result

    def wait_available(self, namespace: str, name: str, *, timeout: float = 30.0) -> Obj:
        """Available=True for the current generation, every replica ready and updated."""
        return self.wait_lws(
            namespace, name, available, timeout=timeout, what=f"{namespace}/{name} to be Available"
        )


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def available(obj: Mapping[str, Any]) -> bool:
    status = obj.get("status") or {}
    cond = condition(obj, c.CONDITION_AVAILABLE)
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    return (
        cond is not None
        and cond.get("status") == "True"
        and status.get("observedGeneration") == obj["metadata"].get("generation")
        and status.get("readyReplicas") == replicas
        and status.get("updatedReplicas") == replicas
        and status.get("replicas") == replicas
    )


def rolled_out(updated: int, ready: int) -> Callable[[Obj], bool]:
    """A :meth:`Kube.wait_lws` predicate: the status answers the latest spec, with ``updated`` groups on
    the new revision and ``ready`` groups ready."""

    def check(obj: Obj) -> bool:
        status = obj.get("status") or {}
        return (
            status.get("updatedReplicas") == updated
            and status.get("readyReplicas") == ready
            and status.get("observedGeneration") == obj["metadata"]["generation"]
        )

    return check


def make_lws(
    name: str,
    *,
    replicas: int = 2,
    size: int = 2,
    image: str = IMAGE,
    annotations: Mapping[str, str] | None = None,
    **spec: Any,
) -> Obj:
    """A small LeaderWorkerSet (one container, modest requests); ``spec`` keys are merged into ``.spec``."""
    body: Obj = {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {
                "size": size,
                "workerTemplate": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": image,
                                "env": [{"name": "APP_MODE", "value": "serve"}],
                                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                            }
                        ]
                    },
                },
            },
        },
    }
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    for key, value in spec.items():
        if key == "leaderWorkerTemplate":
            body["spec"]["leaderWorkerTemplate"].update(copy.deepcopy(value))
        else:
            body["spec"][key] = copy.deepcopy(value)
    return body


def pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(
        cd.get("type") == "Ready" and cd.get("status") == "True" for cd in status.get("conditions") or []
    )


def labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def env_of(pod: Mapping[str, Any], container: int = 0) -> list[Obj]:
    return list(((pod.get("spec") or {}).get("containers") or [])[container].get("env") or [])


@dataclass(frozen=True)
class GroupView:
    """What a moment of the pod watch says about the groups of one set."""

    groups: int  # groups with a live leader pod
    ready: int  # groups whose leader and all size-1 workers of its revision are Running and Ready
    revisions: Mapping[int, str]  # group index -> revision of its live leader


def group_view(pods: Mapping[str, Obj], size_of: Callable[[str], int]) -> GroupView:
    """Group the pods of one set; ``size_of(revision)`` says how many pods a group of that revision has."""
    leaders: dict[int, Obj] = {}
    for pod in pods.values():
        lbl = labels(pod)
        if lbl.get(c.WORKER_INDEX_LABEL) == "0" and not pod["metadata"].get("deletionTimestamp"):
            leaders[int(lbl.get(c.GROUP_INDEX_LABEL, "-1"))] = pod
    ready = 0
    for index, leader in leaders.items():
        revision = labels(leader).get(c.REVISION_KEY, "")
        if not pod_ready(leader):
            continue
        workers = [
            p
            for p in pods.values()
            if labels(p).get(c.GROUP_INDEX_LABEL) == str(index)
            and labels(p).get(c.WORKER_INDEX_LABEL) != "0"
            and labels(p).get(c.REVISION_KEY) == revision
            and pod_ready(p)
        ]
        if len(workers) == size_of(revision) - 1:
            ready += 1
    return GroupView(len(leaders), ready, {i: labels(p).get(c.REVISION_KEY, "") for i, p in leaders.items()})


class Follower:
    """The objects of one kind in a namespace that match a label selector, as a LIST and then a watch deliver
    them on a thread of their own. ``on_change(objects, delivered)`` runs after the listing (``delivered``
    is ``None``) and after each watch event (the object it brought), in the follower's thread."""

    def __init__(
        self,
        kube: Kube,
        resource: Resource,
        list_function: Callable[..., Any],
        namespace: str,
        selector: str,
        on_change: Callable[[dict[str, Obj], Obj | None], None],
    ) -> None:
        self.kube, self.resource, self.list_function = kube, resource, list_function
        self.namespace, self.selector, self.on_change = namespace, selector, on_change
        self.objects: dict[str, Obj] = {}
        self._stop = threading.Event()
        self._listed = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        """Start following; return once the listing is in."""
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"{self.resource.plural} follower"
        )
        self._thread.start()
        if not self._listed.wait(10):
            raise AssertionError(f"the {self.resource.plural} watch did not start")
        self._raise_error()

    def stop(self, *, catch_up: bool) -> None:
        """Stop following, first catching up with the API if ``catch_up``; a failed watch fails here."""
        try:
            if catch_up and self._error is None:
                self.catch_up()
        finally:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(15)
        self._raise_error()

    def catch_up(self, timeout: float = 30.0) -> None:
        """Wait until the watch has delivered every change made so far: it holds the objects the API lists,
        at the versions listed. A watch runs behind the writes it reports, so what it recorded is read only
        after this."""

        def same() -> bool:
            listed = self.kube.list(self.resource, self.namespace, self.selector)
            held = dict(self.objects)
            return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in listed} == {
                name: o["metadata"]["resourceVersion"] for name, o in held.items()
            }

        what = f"the {self.resource.plural} watch of {self.selector} to catch up"
        wait_until(same, timeout=timeout, what=what)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise AssertionError(f"the {self.resource.plural} watch failed: {self._error}")

    def _run(self) -> None:
        try:
            self._follow()
        except BaseException as exc:  # reported by start() or stop(), in the test's thread
            self._error = exc
            self._listed.set()

    def _follow(self) -> None:
        listing = self.kube.request(
            "GET", self.resource.path(self.namespace), query={"labelSelector": self.selector}
        )
        for obj in listing.get("items") or []:
            self.objects[obj["metadata"]["name"]] = obj
        self.on_change(self.objects, None)
        version = listing["metadata"]["resourceVersion"]
        self._listed.set()
        while not self._stop.is_set():
            stream = watch.Watch()
            for event in stream.stream(
                self.list_function,
                self.namespace,
                label_selector=self.selector,
                resource_version=version,
                timeout_seconds=1,
                allow_watch_bookmarks=True,
            ):
                obj = event["raw_object"]
                version = obj["metadata"].get("resourceVersion", version)
                if event["type"] == "BOOKMARK":
                    continue
                if event["type"] == "DELETED":
                    self.objects.pop(obj["metadata"]["name"], None)
                else:
                    self.objects[obj["metadata"]["name"]] = obj
                self.on_change(self.objects, obj)
                if self._stop.is_set():
                    stream.stop()


@dataclass
class PodTimeline:
    """Every state of one set's pods, as a watch delivered them: one snapshot after each event."""

    kube: Kube
    namespace: str
    set_name: str
    size_of: Callable[[str], int]
    views: list[GroupView] = field(default_factory=list)
    #: After each event: every live (not deleting) pod's name and whether it was Running and Ready.
    moments: list[dict[str, bool]] = field(default_factory=list)
    #: Every pod object the watch delivered (after the initial listing), in order.
    delivered: list[Obj] = field(default_factory=list)
    _follower: Follower | None = None

    @property
    def pods(self) -> dict[str, Obj]:
        """The set's pods as the watch has delivered them so far."""
        return self._follower.objects if self._follower is not None else {}

    def __enter__(self) -> PodTimeline:
        selector = f"{c.SET_NAME_LABEL}={self.set_name}"
        list_pods = self.kube.core.list_namespaced_pod
        self._follower = Follower(self.kube, PODS, list_pods, self.namespace, selector, self._record)
        self._follower.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._follower is not None:
            self._follower.stop(catch_up=exc_type is None)

    def catch_up(self, timeout: float = 30.0) -> None:
        """Wait until the watch has delivered every change made so far (leaving the ``with`` block calls
        it): the timeline is read only after this."""
        if self._follower is not None:
            self._follower.catch_up(timeout)

    def _record(self, pods: dict[str, Obj], delivered: Obj | None) -> None:
        if delivered is not None:
            self.delivered.append(delivered)
        self.views.append(group_view(pods, self.size_of))
        self.moments.append(
            {n: pod_ready(p) for n, p in pods.items() if not p["metadata"].get("deletionTimestamp")}
        )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def namespace_scope(kube: Kube) -> Iterator[str]:
    """A fresh namespace, deleted afterwards (its objects go with it)."""
    name = unique("e2e")
    kube.create(Resource("", "v1", "namespaces", "Namespace", False), None, {"metadata": {"name": name}})
    try:
        yield name
    finally:
        kube.delete(Resource("", "v1", "namespaces", "Namespace", False), None, name)


# --- render parity -------------------------------------------------------------------------------------------

# Server-populated (or render stand-in) fields that are not the operator's to decide.
_IGNORED_LABELS = {c.STS_REVISION_LABEL}


def _differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Where ``have`` lacks a field of ``want`` or has another value (extra fields are server defaults)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [f"{path}: want an object, have {have!r}"]
        out: list[str] = []
        for key, value in want.items():
            if key == "uid" or (path.endswith(".labels") and key in _IGNORED_LABELS):
                continue
            if key not in have:
                if value not in ({}, [], None):
                    out.append(f"{path}.{key}: missing (want {value!r})")
                continue
            out += _differences(value, have[key], f"{path}.{key}")
        return out
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return [f"{path}: want {want!r}, have {have!r}"]
        return [
            d
            for i, (w, h) in enumerate(zip(want, have, strict=True))
            for d in _differences(w, h, f"{path}[{i}]")
        ]
    if want != have and str(want) != str(have):
        return [f"{path}: want {want!r}, have {have!r}"]
    return []


def _compare(kind: str, rendered: dict[str, Any], live: dict[str, Any] | None) -> list[str]:
    name = rendered["metadata"]["name"]
    if live is None:
        return [f"{kind} {name}: missing in the cluster"]
    if kind == "Pod":
        # Pods: identity, placement in DNS and what the webhook injected, not the kubelet's status.
        rendered = {
            "metadata": {k: rendered["metadata"].get(k) for k in ("labels", "annotations")},
            "spec": {
                "hostname": rendered["spec"].get("hostname"),
                "subdomain": rendered["spec"].get("subdomain"),
                "containers": [
                    {"name": x["name"], "env": x.get("env", [])} for x in rendered["spec"]["containers"]
                ],
            },
        }
    else:
        rendered = {k: v for k, v in rendered.items() if k in ("metadata", "spec")}
        rendered["metadata"] = {k: v for k, v in rendered["metadata"].items() if k != "namespace"}
    return [f"{kind} {name}{d}" for d in _differences(rendered, live)]


def assert_matches_render(kube: Kube, ns: str, manifest: Obj, stored: Obj) -> None:
    """The set's live objects are those `lws render` prints for ``manifest``, field for field, and no others;
    the webhooks stored the same defaults render applies."""
    hooks = make_hooks()
    defaulted, errors = admit(manifest, None, hooks, namespace=ns)
    assert not errors, [str(e) for e in errors]
    assert stored["spec"] == defaulted["spec"], "the webhooks stored the same defaults render applies"
    rendered = render_set(defaulted, hooks)[1:]
    resources = {"StatefulSet": STATEFULSETS, "Service": SERVICES, "Pod": PODS}
    problems: list[str] = []
    for obj in rendered:
        live = kube.get(resources[obj["kind"]], ns, obj["metadata"]["name"])
        problems += _compare(obj["kind"], obj, live)
    assert not problems, "\n".join(problems)
    name = manifest["metadata"]["name"]
    owned = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    for kind, res in resources.items():
        extra = {
            (kind, o["metadata"]["name"])
            for o in kube.list(res, ns, f"{c.SET_NAME_LABEL}={name}")
            if not o["metadata"].get("deletionTimestamp")
        } - owned
        assert not extra, f"objects the render does not print: {extra}"
