"""Built-in defaults clients read back, and the minimal validation a real API server would apply."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lws.sim.defaults import apply_builtin_defaults, validate_builtin


def _container(name: str = "main", image: str = "nginx:1.27", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p-0"}, "spec": {"containers": [_container()], **spec}}


def _sts(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [_container()]}},
            **spec,
        },
    }


# --- pods ---------------------------------------------------------------------------------------------------


def test_pod_spec_defaults() -> None:
    spec = apply_builtin_defaults("", "Pod", _pod())["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    assert spec["priority"] == 0
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"


def test_pod_gets_default_toleration_seconds_once() -> None:
    pod = apply_builtin_defaults("", "Pod", _pod())
    keys = [(t["key"], t["tolerationSeconds"]) for t in pod["spec"]["tolerations"]]
    assert keys == [("node.kubernetes.io/not-ready", 300), ("node.kubernetes.io/unreachable", 300)]
    assert apply_builtin_defaults("", "Pod", pod) == pod


def test_existing_tolerations_are_kept_and_not_duplicated() -> None:
    own = {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 5,
    }
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    tolerations = apply_builtin_defaults("", "Pod", _pod(tolerations=[own, gpu]))["spec"]["tolerations"]
    assert tolerations[:2] == [own, gpu]
    assert [t["key"] for t in tolerations[2:]] == ["node.kubernetes.io/unreachable"]
    everything = {"operator": "Exists"}
    assert apply_builtin_defaults("", "Pod", _pod(tolerations=[everything]))["spec"]["tolerations"] == [
        everything
    ]


def test_explicit_values_win() -> None:
    spec = apply_builtin_defaults(
        "", "Pod", _pod(restartPolicy="Never", serviceAccountName="robot", terminationGracePeriodSeconds=0)
    )["spec"]
    assert (spec["restartPolicy"], spec["serviceAccountName"], spec["terminationGracePeriodSeconds"]) == (
        "Never",
        "robot",
        0,
    )


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry.local:5000/team/app", "Always"),
        ("registry.local:5000/team/app:v1", "IfNotPresent"),
        ("app@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    pod = apply_builtin_defaults("", "Pod", {"spec": {"containers": [_container(image=image)]}})
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_container_defaults() -> None:
    probe = {"httpGet": {"port": 8080}}
    env = [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    pod = _pod(initContainers=[_container("init")])
    pod["spec"]["containers"] = [_container(ports=[{"containerPort": 80}], readinessProbe=probe, env=env)]
    spec = apply_builtin_defaults("", "Pod", pod)["spec"]
    main = spec["containers"][0]
    assert main["terminationMessagePath"] == "/dev/termination-log"
    assert main["terminationMessagePolicy"] == "File"
    assert main["resources"] == {}
    assert main["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert main["readinessProbe"] == {
        "httpGet": {"port": 8080, "scheme": "HTTP", "path": "/"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert main["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert spec["initContainers"][0]["terminationMessagePolicy"] == "File"


def test_host_network_ports_get_host_port() -> None:
    pod = _pod(hostNetwork=True)
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 9000}]
    port = apply_builtin_defaults("", "Pod", pod)["spec"]["containers"][0]["ports"][0]
    assert port == {"containerPort": 9000, "protocol": "TCP", "hostPort": 9000}


def test_volume_defaults() -> None:
    volumes = [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}}, {"name": "s", "secret": {}}]
    spec = apply_builtin_defaults("", "Pod", _pod(volumes=volumes))["spec"]
    assert spec["volumes"] == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
        {"name": "s", "secret": {"defaultMode": 420}},
    ]


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "1"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        (
            {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
            "Burstable",
        ),
    ],
)
def test_pod_status_on_create(resources: dict[str, Any], qos: str) -> None:
    pod = _pod()
    pod["spec"]["containers"][0]["resources"] = resources
    status = apply_builtin_defaults("", "Pod", pod)["status"]
    assert status == {"phase": "Pending", "qosClass": qos}


def test_defaulting_does_not_touch_its_input() -> None:
    pod = _pod()
    before = copy.deepcopy(pod)
    apply_builtin_defaults("", "Pod", pod)
    assert pod == before


# --- workloads ----------------------------------------------------------------------------------------------


def test_statefulset_defaults() -> None:
    sts = apply_builtin_defaults(
        "apps", "StatefulSet", _sts(volumeClaimTemplates=[{"metadata": {"name": "d"}}])
    )
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0, "maxUnavailable": 1},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert "minReadySeconds" not in spec  # zero is omitted from JSON, as by Kubernetes
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    template = spec["template"]["spec"]
    assert template["restartPolicy"] == "Always"
    assert template["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    # Admission-plugin values belong to pods, not to templates.
    assert "tolerations" not in template
    assert "serviceAccountName" not in template


def test_statefulset_on_delete_strategy_has_no_rolling_update() -> None:
    spec = apply_builtin_defaults("apps", "StatefulSet", _sts(updateStrategy={"type": "OnDelete"}))["spec"]
    assert spec["updateStrategy"] == {"type": "OnDelete"}


def test_deployment_defaults() -> None:
    spec = apply_builtin_defaults("apps", "Deployment", _sts())["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_job_defaults() -> None:
    spec = apply_builtin_defaults(
        "batch", "Job", {"spec": {"template": {"spec": {"containers": [_container()]}}}}
    )["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"


# --- core objects -------------------------------------------------------------------------------------------


def test_service_defaults() -> None:
    svc = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    spec = apply_builtin_defaults("", "Service", svc)["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"], spec["internalTrafficPolicy"]) == (
        ["IPv4"],
        "SingleStack",
        "Cluster",
    )
    assert "clusterIP" not in spec  # allocated by a controller


def test_headless_service_keeps_cluster_ip_none() -> None:
    svc = {"spec": {"clusterIP": "None", "ports": [{"port": 80, "targetPort": "http"}]}}
    spec = apply_builtin_defaults("", "Service", svc)["spec"]
    assert spec["clusterIP"] == "None"
    assert spec["ports"][0]["targetPort"] == "http"


def test_load_balancer_service_defaults() -> None:
    spec = apply_builtin_defaults("", "Service", {"spec": {"type": "LoadBalancer", "ports": [{"port": 1}]}})[
        "spec"
    ]
    assert (spec["externalTrafficPolicy"], spec["allocateLoadBalancerNodePorts"]) == ("Cluster", True)


def test_namespace_defaults() -> None:
    ns = apply_builtin_defaults("", "Namespace", {"metadata": {"name": "team-a"}})
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}


def test_pvc_and_node_defaults() -> None:
    pvc = apply_builtin_defaults("", "PersistentVolumeClaim", {"spec": {}})
    assert (pvc["spec"]["volumeMode"], pvc["status"]["phase"]) == ("Filesystem", "Pending")
    node = apply_builtin_defaults("", "Node", {"status": {"capacity": {"cpu": "8"}}})
    assert node["status"]["allocatable"] == {"cpu": "8"}


def test_webhook_configuration_defaults() -> None:
    hook = {
        "name": "pods.example.com",
        "clientConfig": {"service": {"name": "s", "namespace": "n"}},
        "rules": [
            {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    mutating = apply_builtin_defaults(
        "admissionregistration.k8s.io", "MutatingWebhookConfiguration", {"webhooks": [hook]}
    )
    (result,) = mutating["webhooks"]
    assert result["failurePolicy"] == "Fail"
    assert result["matchPolicy"] == "Equivalent"
    assert result["namespaceSelector"] == result["objectSelector"] == {}
    assert result["timeoutSeconds"] == 10
    assert result["reinvocationPolicy"] == "Never"
    assert result["rules"][0]["scope"] == "*"
    assert result["clientConfig"]["service"]["port"] == 443
    validating = apply_builtin_defaults(
        "admissionregistration.k8s.io", "ValidatingWebhookConfiguration", {"webhooks": [hook]}
    )
    assert "reinvocationPolicy" not in validating["webhooks"][0]


def test_crd_defaults() -> None:
    crd = {"spec": {"names": {"kind": "Widget", "plural": "widgets"}}}
    spec = apply_builtin_defaults("apiextensions.k8s.io", "CustomResourceDefinition", crd)["spec"]
    assert spec["conversion"] == {"strategy": "None"}
    assert (spec["names"]["listKind"], spec["names"]["singular"]) == ("WidgetList", "widget")


@pytest.mark.parametrize(
    ("group", "kind"), [("", "ConfigMap"), ("", "Secret"), ("coordination.k8s.io", "Lease")]
)
def test_kinds_without_defaults_come_back_unchanged(group: str, kind: str) -> None:
    obj = {"metadata": {"name": "x"}, "data": {"a": "b"}}
    assert apply_builtin_defaults(group, kind, obj) == obj


_KINDS = [
    ("", "Pod", _pod()),
    ("apps", "StatefulSet", _sts()),
    ("apps", "Deployment", _sts()),
    ("", "Service", {"spec": {"ports": [{"port": 80}]}}),
    ("", "Namespace", {"metadata": {"name": "n"}}),
]


@pytest.mark.parametrize(("group", "kind", "obj"), _KINDS)
def test_defaulting_is_idempotent(group: str, kind: str, obj: dict[str, Any]) -> None:
    once = apply_builtin_defaults(group, kind, obj)
    assert apply_builtin_defaults(group, kind, once) == once


@given(
    st.lists(
        st.sampled_from(["nginx", "nginx:1", "nginx:latest", "a/b@sha256:00"]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    st.sampled_from([None, "Always", "Never", "OnFailure"]),
)
def test_defaulted_pods_validate_and_stay_fixed(images: list[str], restart: str | None) -> None:
    spec: dict[str, Any] = {"containers": [_container(f"c{i}", image) for i, image in enumerate(images)]}
    if restart:
        spec["restartPolicy"] = restart
    pod = {"metadata": {"name": "p"}, "spec": spec}
    once = apply_builtin_defaults("", "Pod", pod)
    assert validate_builtin("", "Pod", once) == []
    assert apply_builtin_defaults("", "Pod", once) == once


# --- validation ---------------------------------------------------------------------------------------------


def _fields(group: str, kind: str, obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.field, c.reason) for c in validate_builtin(group, kind, obj)]


def test_valid_objects_have_no_causes() -> None:
    assert validate_builtin("", "Pod", _pod()) == []
    assert validate_builtin("apps", "StatefulSet", _sts()) == []
    assert (
        validate_builtin("", "Service", {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
        == []
    )


@pytest.mark.parametrize(
    ("kind", "name", "ok"),
    [
        (("", "Pod"), "web-0", True),
        (("", "Pod"), "web.0", True),
        (("", "Pod"), "Web", False),
        (("", "Pod"), "-web", False),
        (("", "Pod"), "a" * 254, False),
        (("", "Service"), "web.0", False),
        (("", "Namespace"), "team.a", False),
        (("", "Namespace"), "team-a", True),
    ],
)
def test_name_syntax(kind: tuple[str, str], name: str, ok: bool) -> None:
    obj = {"metadata": {"name": name}, "spec": {"containers": [_container()], "ports": [{"port": 1}]}}
    found = [c for c in validate_builtin(*kind, obj) if c.field == "metadata.name"]
    assert (found == []) is ok
    assert all(c.reason == "FieldValueInvalid" for c in found)


def test_name_message_matches_kubernetes() -> None:
    (cause,) = validate_builtin(
        "", "Pod", {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [_container()]}}
    )
    assert str(cause).startswith(
        'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case'
    )


def test_name_or_generate_name_is_required() -> None:
    assert _fields("", "Pod", {"metadata": {}, "spec": {"containers": [_container()]}}) == [
        ("metadata.name", "FieldValueRequired")
    ]
    assert (
        _fields("", "Pod", {"metadata": {"generateName": "p-"}, "spec": {"containers": [_container()]}}) == []
    )


def test_bad_labels() -> None:
    pod = _pod()
    pod["metadata"]["labels"] = {"bad key": "v", "ok": "bad value!"}
    assert _fields("", "Pod", pod) == [("metadata.labels", "FieldValueInvalid")] * 2


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"containers": []}, [("spec.containers", "FieldValueRequired")]),
        ({"containers": [{"image": "x"}]}, [("spec.containers[0].name", "FieldValueRequired")]),
        ({"containers": [{"name": "c"}]}, [("spec.containers[0].image", "FieldValueRequired")]),
        ({"containers": [{"name": "C_1", "image": "x"}]}, [("spec.containers[0].name", "FieldValueInvalid")]),
        (
            {"containers": [{"name": "c", "image": "x"}], "initContainers": [{"name": "c", "image": "y"}]},
            [("spec.containers[0].name", "FieldValueDuplicate")],
        ),
        (
            {"containers": [_container()], "restartPolicy": "Sometimes"},
            [("spec.restartPolicy", "FieldValueNotSupported")],
        ),
        (
            {"containers": [_container(ports=[{"containerPort": 70000}])]},
            [("spec.containers[0].ports[0].containerPort", "FieldValueInvalid")],
        ),
        (
            {"containers": [_container(imagePullPolicy="Sometimes")]},
            [("spec.containers[0].imagePullPolicy", "FieldValueNotSupported")],
        ),
    ],
)
def test_pod_spec_validation(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert _fields("", "Pod", {"metadata": {"name": "p"}, "spec": spec}) == expected


def test_statefulset_validation() -> None:
    mismatched = _sts()
    mismatched["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    causes = validate_builtin("apps", "StatefulSet", mismatched)
    assert [(c.field, c.message.rsplit(": ", 1)[-1]) for c in causes] == [
        ("spec.template.metadata.labels", "`selector` does not match template `labels`")
    ]
    no_selector = _sts()
    del no_selector["spec"]["selector"]
    assert _fields("apps", "StatefulSet", no_selector) == [("spec.selector", "FieldValueRequired")]
    assert _fields("apps", "StatefulSet", _sts(selector={})) == [("spec.selector", "FieldValueInvalid")]
    assert _fields("apps", "StatefulSet", _sts(replicas=-1)) == [("spec.replicas", "FieldValueInvalid")]
    assert _fields("apps", "StatefulSet", _sts(podManagementPolicy="Random")) == [
        ("spec.podManagementPolicy", "FieldValueNotSupported")
    ]
    no_containers = _sts()
    no_containers["spec"]["template"]["spec"]["containers"] = []
    assert _fields("apps", "StatefulSet", no_containers) == [
        ("spec.template.spec.containers", "FieldValueRequired")
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, [("spec.ports", "FieldValueRequired")]),
        ({"clusterIP": "None"}, []),
        ({"ports": [{"port": 0}]}, [("spec.ports[0].port", "FieldValueInvalid")]),
        (
            {"ports": [{"port": 1}, {"port": 2}]},
            [("spec.ports[0].name", "FieldValueRequired"), ("spec.ports[1].name", "FieldValueRequired")],
        ),
        ({"type": "Magic", "ports": [{"port": 1}]}, [("spec.type", "FieldValueNotSupported")]),
    ],
)
def test_service_validation(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert _fields("", "Service", {"metadata": {"name": "svc"}, "spec": spec}) == expected
