"""Built-in defaulting and minimal validation for the kinds whose defaults clients read back or compare.

:func:`apply_builtin_defaults` returns a copy of an object with the values a real API server fills in on
create and update: the ``SetDefaults_*`` functions of ``k8s.io/kubernetes/pkg/apis/*/v1``, plus the few
admission plugins whose effect every client sees on pods (``ServiceAccount``: ``serviceAccountName: default``;
``Priority``: ``priority: 0`` and ``preemptionPolicy``; ``DefaultTolerationSeconds``: tolerations for the
``not-ready`` and ``unreachable`` taints for 300s) and the create-time status a pod or PVC starts with
(``Pending``, with the pod's ``qosClass``). Deliberately left out: the service-account token volume, ClusterIP
allocation (a controller's job; ``clusterIP: None`` stays ``None``), and zero-valued fields Kubernetes omits
from JSON (``minReadySeconds: 0``).

:func:`validate_builtin` reports the problems a real server would refuse with 422 for the fields this
project and its tests touch: object names (DNS-1123 subdomain, or label for Namespaces and Services),
label syntax, pod containers (present, named, unique, with an image), enumerations of policies, port ranges,
and a workload selector that matches its template. It is not the full Kubernetes validation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lws.k8s.names import is_dns1123_label, is_dns1123_subdomain, is_label_value, is_qualified_name
from lws.k8s.patch import json_clone
from lws.sim import causes
from lws.sim.causes import Cause
from lws.sim.selectors import SelectorError, label_selector_from_dict

__all__ = ["apply_builtin_defaults", "validate_builtin"]

Obj = dict[str, Any]

_DEFAULT_TOLERATION_SECONDS = 300


def _set(obj: Obj, key: str, value: Any) -> None:
    """Set ``key`` to a copy of ``value`` unless it holds a value already (``None`` counts as unset)."""
    if obj.get(key) is None:
        obj[key] = copy.deepcopy(value)


def _child(obj: Obj, key: str) -> Obj:
    """The dict at ``key``, created empty when missing."""
    if not isinstance(obj.get(key), dict):
        obj[key] = {}
    child: Obj = obj[key]
    return child


def _dicts(value: Any) -> Iterator[Obj]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


# --- pods and pod templates -----------------------------------------------------------------------------


def _image_pull_policy(image: str) -> str:
    # Kubernetes: Always for ":latest" or no tag at all, IfNotPresent for any other tag or a digest.
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1)):
        _set(probe, key, value)
    _set(probe, "failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        _set(probe["httpGet"], "scheme", "HTTP")
        _set(probe["httpGet"], "path", "/")


def _default_container(container: Obj, *, host_network: bool) -> None:
    _set(container, "terminationMessagePath", "/dev/termination-log")
    _set(container, "terminationMessagePolicy", "File")
    if isinstance(container.get("image"), str):
        _set(container, "imagePullPolicy", _image_pull_policy(container["image"]))
    _set(container, "resources", {})
    for port in _dicts(container.get("ports")):
        _set(port, "protocol", "TCP")
        if host_network and "containerPort" in port:
            _set(port, "hostPort", port["containerPort"])
    for env in _dicts(container.get("env")):
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            _set(field_ref, "apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(probe))


def _default_volume(volume: Obj) -> None:
    sources = [k for k in volume if k != "name"]
    if not sources:
        volume["emptyDir"] = {}
    for source in ("configMap", "secret", "downwardAPI", "projected"):
        if isinstance(volume.get(source), dict):
            _set(volume[source], "defaultMode", 0o644)


def _default_pod_spec(spec: Obj) -> None:
    """``SetDefaults_PodSpec`` and the container defaults: what every pod template gets."""
    _set(spec, "restartPolicy", "Always")
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "schedulerName", "default-scheduler")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "securityContext", {})
    _set(spec, "enableServiceLinks", True)
    host_network = bool(spec.get("hostNetwork"))
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(key)):
            _default_container(container, host_network=host_network)
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)


def _qos_class(spec: Obj) -> str:
    containers = [*_dicts(spec.get("initContainers")), *_dicts(spec.get("containers"))]
    requests_and_limits = [
        ((c.get("resources") or {}).get("requests") or {}, (c.get("resources") or {}).get("limits") or {})
        for c in containers
    ]
    if not any(req or lim for req, lim in requests_and_limits):
        return "BestEffort"
    guaranteed = all(
        all(
            lim.get(res) is not None and str(lim.get(res)) == str(req.get(res, lim.get(res)))
            for res in ("cpu", "memory")
        )
        for req, lim in requests_and_limits
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _tolerates(toleration: Obj, taint_key: str) -> bool:
    # An existing toleration of the NoExecute taint (or of everything) keeps the plugin from adding its own.
    key_matches = toleration.get("key") == taint_key or (
        not toleration.get("key") and toleration.get("operator") == "Exists"
    )
    return key_matches and toleration.get("effect") in (None, "", "NoExecute")


def _default_pod(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _default_pod_spec(spec)
    # Admission plugins every real cluster runs.
    _set(spec, "serviceAccountName", spec.get("serviceAccount") or "default")
    _set(spec, "serviceAccount", spec["serviceAccountName"])
    _set(spec, "priority", 0)
    _set(spec, "preemptionPolicy", "PreemptLowerPriority")
    _set(spec, "tolerations", [])
    tolerations = spec["tolerations"]
    if isinstance(tolerations, list):
        for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(_tolerates(t, taint) for t in _dicts(tolerations)):
                tolerations.append(
                    {
                        "key": taint,
                        "operator": "Exists",
                        "effect": "NoExecute",
                        "tolerationSeconds": _DEFAULT_TOLERATION_SECONDS,
                    }
                )
    status = _child(obj, "status")
    _set(status, "phase", "Pending")
    _set(status, "qosClass", _qos_class(spec))


def _default_template(obj: Obj, *path: str) -> None:
    current = obj
    for key in path:
        current = _child(current, key)
    _default_pod_spec(_child(current, "spec"))


# --- workloads ------------------------------------------------------------------------------------------


def _default_rolling_update(strategy: Obj, **rolling: Any) -> None:
    """A strategy is RollingUpdate unless set; only a RollingUpdate one gets ``rollingUpdate`` defaults."""
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        settings = _child(strategy, "rollingUpdate")
        for key, value in rolling.items():
            _set(settings, key, value)


def _default_statefulset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    # MaxUnavailableStatefulSet is on by default since Kubernetes 1.35.
    _default_rolling_update(_child(spec, "updateStrategy"), partition=0, maxUnavailable=1)
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _default_template(spec, "template")
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        _set(_child(claim, "spec"), "volumeMode", "Filesystem")


def _default_deployment(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _default_rolling_update(_child(spec, "strategy"), maxUnavailable="25%", maxSurge="25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _default_template(spec, "template")


def _default_daemonset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _default_rolling_update(_child(spec, "updateStrategy"), maxUnavailable=1, maxSurge=0)
    _set(spec, "revisionHistoryLimit", 10)
    _default_template(spec, "template")


def _default_replicaset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _default_template(spec, "template")


def _default_job(obj: Obj) -> None:
    spec = _child(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    _set(spec, "parallelism", 1)
    _set(spec, "backoffLimit", 6)
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    _set(spec, "manualSelector", False)
    _set(spec, "podReplacementPolicy", "TerminatingOrFailed")
    _default_template(spec, "template")


# --- core objects ---------------------------------------------------------------------------------------


def _default_service(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        _set(spec, "internalTrafficPolicy", "Cluster")
        _set(spec, "ipFamilies", ["IPv4"])
        _set(spec, "ipFamilyPolicy", "SingleStack")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)
    for port in _dicts(spec.get("ports")):
        _set(port, "protocol", "TCP")
        if "port" in port:
            _set(port, "targetPort", port["port"])
    _child(obj, "status").setdefault("loadBalancer", {})


def _default_pvc(obj: Obj) -> None:
    _set(_child(obj, "spec"), "volumeMode", "Filesystem")
    _set(_child(obj, "status"), "phase", "Pending")


def _default_namespace(obj: Obj) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if isinstance(name, str) and name:
        _child(_child(obj, "metadata"), "labels")["kubernetes.io/metadata.name"] = name
    _set(_child(obj, "spec"), "finalizers", ["kubernetes"])
    _set(_child(obj, "status"), "phase", "Active")


def _default_node(obj: Obj) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and isinstance(status.get("capacity"), dict):
        _set(status, "allocatable", status["capacity"])


def _default_webhooks(obj: Obj, *, mutating: bool) -> None:
    for hook in _dicts(obj.get("webhooks")):
        _set(hook, "failurePolicy", "Fail")
        _set(hook, "matchPolicy", "Equivalent")
        _set(hook, "namespaceSelector", {})
        _set(hook, "objectSelector", {})
        _set(hook, "timeoutSeconds", 10)
        if mutating:
            _set(hook, "reinvocationPolicy", "Never")
        for rule in _dicts(hook.get("rules")):
            _set(rule, "scope", "*")
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            _set(service, "port", 443)


def _default_crd(obj: Obj) -> None:
    spec = _child(obj, "spec")
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        _set(names, "listKind", names["kind"] + "List")
        _set(names, "singular", names["kind"].lower())
    conversion = _child(spec, "conversion")
    _set(conversion, "strategy", "None")
    service = ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service")
    if isinstance(service, dict):
        _set(service, "port", 443)


_DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("", "Pod"): _default_pod,
    ("", "PodTemplate"): lambda obj: _default_template(obj, "template"),
    ("", "ReplicationController"): _default_replicaset,
    ("", "Service"): _default_service,
    ("", "PersistentVolumeClaim"): _default_pvc,
    ("", "Namespace"): _default_namespace,
    ("", "Node"): _default_node,
    ("apps", "StatefulSet"): _default_statefulset,
    ("apps", "Deployment"): _default_deployment,
    ("apps", "DaemonSet"): _default_daemonset,
    ("apps", "ReplicaSet"): _default_replicaset,
    ("batch", "Job"): _default_job,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): lambda o: _default_webhooks(
        o, mutating=True
    ),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): lambda o: _default_webhooks(
        o, mutating=False
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _default_crd,
}


def apply_builtin_defaults(group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``obj`` with Kubernetes' defaults for the built-in ``(group, kind)`` filled in.

    Kinds without defaults (ConfigMap, Secret, Event, Lease, ...) come back as an unchanged copy. Applying
    twice gives the same result as applying once.
    """
    result: dict[str, Any] = json_clone(obj)  # JSON: a plain copy, several times quicker than deepcopy
    defaulter = _DEFAULTERS.get((group, kind))
    if defaulter is not None:
        defaulter(result)
    return result


# --- validation -----------------------------------------------------------------------------------------

_LABEL_NAMED_KINDS = frozenset({("", "Namespace"), ("", "Service")})
_RESTART_POLICIES = ("Always", "OnFailure", "Never")
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_WORKLOAD_TEMPLATES: dict[tuple[str, str], str] = {
    ("apps", "StatefulSet"): "spec.template",
    ("apps", "Deployment"): "spec.template",
    ("apps", "DaemonSet"): "spec.template",
    ("apps", "ReplicaSet"): "spec.template",
    ("batch", "Job"): "spec.template",
    ("", "ReplicationController"): "spec.template",
    ("", "PodTemplate"): "template",
}


def _get(obj: Mapping[str, Any], dotted: str) -> Any:
    current: Any = obj
    for key in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _validate_metadata(group: str, kind: str, obj: Mapping[str, Any]) -> Iterator[Cause]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        if not meta.get("generateName"):
            yield causes.required("metadata.name", "name or generateName is required")
    elif isinstance(name, str) and kind != "Event":
        check = is_dns1123_label if (group, kind) in _LABEL_NAMED_KINDS else is_dns1123_subdomain
        for problem in check(name):
            yield causes.invalid("metadata.name", name, problem)
    yield from _validate_labels(meta.get("labels"), "metadata.labels")


def _validate_labels(labels: Any, path: str) -> Iterator[Cause]:
    if not isinstance(labels, Mapping):
        return
    for key, value in labels.items():
        for problem in is_qualified_name(str(key)):
            yield causes.invalid(path, key, problem)
        if not isinstance(value, str):
            yield causes.type_invalid(f"{path}.{key}", value, "must be a string")
            continue
        for problem in is_label_value(value):
            yield causes.invalid(path, value, problem)


def _validate_port(port: Any, path: str) -> Iterator[Cause]:
    if port is None:
        yield causes.required(path)
    elif not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        yield causes.invalid(path, port, "must be between 1 and 65535, inclusive")


def _validate_containers(spec: Mapping[str, Any], path: str) -> Iterator[Cause]:
    containers = spec.get("containers")
    if not containers:
        yield causes.required(f"{path}.containers")
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(key) or []):
            where = f"{path}.{key}[{i}]"
            if not isinstance(container, Mapping):
                yield causes.type_invalid(where, container, "must be an object")
                continue
            name = container.get("name")
            if not name:
                yield causes.required(f"{where}.name")
            elif isinstance(name, str):
                for problem in is_dns1123_label(name):
                    yield causes.invalid(f"{where}.name", name, problem)
                if name in seen:
                    yield causes.duplicate(f"{where}.name", name)
                seen.add(name)
            if not container.get("image"):
                yield causes.required(f"{where}.image")
            policy = container.get("imagePullPolicy")
            if policy is not None and policy not in _PULL_POLICIES:
                yield causes.not_supported(f"{where}.imagePullPolicy", policy, _PULL_POLICIES)
            for j, port in enumerate(container.get("ports") or []):
                if isinstance(port, Mapping):
                    yield from _validate_port(port.get("containerPort"), f"{where}.ports[{j}].containerPort")
                    protocol = port.get("protocol")
                    if protocol is not None and protocol not in _PROTOCOLS:
                        yield causes.not_supported(f"{where}.ports[{j}].protocol", protocol, _PROTOCOLS)


def _validate_pod_spec(spec: Any, path: str) -> Iterator[Cause]:
    if not isinstance(spec, Mapping):
        yield causes.required(path)
        return
    yield from _validate_containers(spec, path)
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in _RESTART_POLICIES:
        yield causes.not_supported(f"{path}.restartPolicy", policy, _RESTART_POLICIES)


def _validate_workload(group: str, kind: str, obj: Mapping[str, Any]) -> Iterator[Cause]:
    template_path = _WORKLOAD_TEMPLATES[(group, kind)]
    yield from _validate_labels(
        _get(obj, f"{template_path}.metadata.labels"), f"{template_path}.metadata.labels"
    )
    yield from _validate_pod_spec(_get(obj, f"{template_path}.spec"), f"{template_path}.spec")
    replicas = _get(obj, "spec.replicas")
    if isinstance(replicas, int) and replicas < 0:
        yield causes.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
    # The Job selector is generated by the server; PodTemplates and RCs have no LabelSelector.
    if kind in ("PodTemplate", "ReplicationController", "Job"):
        return
    selector = _get(obj, "spec.selector")
    if selector is None:
        yield causes.required("spec.selector")
        return
    try:
        parsed = label_selector_from_dict(selector)
    except SelectorError as err:
        yield causes.invalid("spec.selector", selector, str(err))
        return
    if parsed.is_empty():
        yield causes.invalid("spec.selector", selector, f"empty selector is invalid for {kind.lower()}")
    labels = _get(obj, f"{template_path}.metadata.labels") or {}
    if not parsed.matches(labels):
        yield causes.invalid(
            f"{template_path}.metadata.labels", labels, "`selector` does not match template `labels`"
        )
    if kind == "StatefulSet":
        yield from _validate_statefulset_policies(obj)


def _validate_statefulset_policies(obj: Mapping[str, Any]) -> Iterator[Cause]:
    policy = _get(obj, "spec.podManagementPolicy")
    if policy is not None and policy not in ("OrderedReady", "Parallel"):
        yield causes.not_supported("spec.podManagementPolicy", policy, ("OrderedReady", "Parallel"))
    strategy = _get(obj, "spec.updateStrategy.type")
    if strategy is not None and strategy not in ("RollingUpdate", "OnDelete"):
        yield causes.not_supported("spec.updateStrategy.type", strategy, ("RollingUpdate", "OnDelete"))


def _validate_service(obj: Mapping[str, Any]) -> Iterator[Cause]:
    spec = obj.get("spec") or {}
    service_type = spec.get("type", "ClusterIP")
    types = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
    if service_type not in types:
        yield causes.not_supported("spec.type", service_type, types)
    ports = spec.get("ports") or []
    if not ports and spec.get("clusterIP") != "None" and service_type != "ExternalName":
        yield causes.required("spec.ports")
    for i, port in enumerate(ports):
        if isinstance(port, Mapping):
            yield from _validate_port(port.get("port"), f"spec.ports[{i}].port")
            if len(ports) > 1 and not port.get("name"):
                yield causes.required(f"spec.ports[{i}].name")


def validate_builtin(group: str, kind: str, obj: Mapping[str, Any]) -> list[Cause]:
    """Problems a real API server would reject ``obj`` for (a minimal subset); empty when acceptable.

    Call it after :func:`apply_builtin_defaults`, as the server validates defaulted objects.
    """
    found = list(_validate_metadata(group, kind, obj))
    if (group, kind) == ("", "Pod"):
        found.extend(_validate_pod_spec(obj.get("spec"), "spec"))
    elif (group, kind) in _WORKLOAD_TEMPLATES:
        found.extend(_validate_workload(group, kind, obj))
    elif (group, kind) == ("", "Service"):
        found.extend(_validate_service(obj))
    return found
