"""The admission webhooks as the API server calls them: upstream's names and paths, defaulting, every
validation error in one denial, and a pod webhook that cannot block pods that are not ours."""

from __future__ import annotations

import json
import ssl
import urllib.request

import pytest
import yaml
from e2e_kit import Kube, KubeError, make_lws
from operator_harness import E2E, Private

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cli.manifests import DEFAULT_FILE, packaged
from lws.cluster.resources import (
    LEADERWORKERSETS,
    MUTATING_WEBHOOK_CONFIGURATIONS,
    PODS,
    VALIDATING_WEBHOOK_CONFIGURATIONS,
)
from lws.cluster.webhooks import INSTALLED_SERVICE_ANNOTATION

pytestmark = pytest.mark.e2e

_CONFIG_RESOURCES = {
    "MutatingWebhookConfiguration": MUTATING_WEBHOOK_CONFIGURATIONS,
    "ValidatingWebhookConfiguration": VALIDATING_WEBHOOK_CONFIGURATIONS,
}
_CONFIGS = [
    (MUTATING_WEBHOOK_CONFIGURATIONS, c.MUTATING_WEBHOOK_CONFIGURATION),
    (VALIDATING_WEBHOOK_CONFIGURATIONS, c.VALIDATING_WEBHOOK_CONFIGURATION),
]


def test_configurations_carry_upstreams_webhooks(kube: Kube) -> None:
    mutating = kube.get(MUTATING_WEBHOOK_CONFIGURATIONS, None, c.MUTATING_WEBHOOK_CONFIGURATION)
    validating = kube.get(VALIDATING_WEBHOOK_CONFIGURATIONS, None, c.VALIDATING_WEBHOOK_CONFIGURATION)
    assert mutating is not None and validating is not None
    hooks = {h["name"]: h for h in mutating["webhooks"] + validating["webhooks"]}
    # Upstream's vpod.kb.io allows every pod: not registered, so no pod waits on it.
    assert set(hooks) == {
        "mleaderworkerset.kb.io",
        "mpod.kb.io",
        "vleaderworkerset.kb.io",
        d.WEBHOOK_NAME_VALIDATE,
    }
    for name, path in (
        ("mleaderworkerset.kb.io", c.WEBHOOK_PATH_MUTATE_LWS),
        ("vleaderworkerset.kb.io", c.WEBHOOK_PATH_VALIDATE_LWS),
        ("mpod.kb.io", c.WEBHOOK_PATH_MUTATE_POD),
    ):
        config = hooks[name]["clientConfig"]
        assert (config.get("url") or config["service"]["path"]).endswith(path)
        assert hooks[name]["sideEffects"] == "None"
        assert hooks[name]["failurePolicy"] == "Fail"
    assert hooks["mpod.kb.io"]["rules"][0]["operations"] == ["CREATE"]
    assert hooks["mpod.kb.io"]["objectSelector"]["matchExpressions"] == [
        {"key": c.SET_NAME_LABEL, "operator": "Exists"},
        {"key": c.TEMPLATE_ADMITTED_LABEL, "operator": "DoesNotExist"},
    ], "group pods, but not those whose template the operator admitted"


def test_the_mutating_webhook_stores_upstreams_defaults(kube: Kube, ns: str) -> None:
    manifest = make_lws("defaults", replicas=1, size=1, leaderWorkerTemplate={"restartPolicy": "Default"})
    del manifest["spec"]["replicas"]
    stored = kube.create(LEADERWORKERSETS, ns, manifest)
    spec = stored["spec"]
    assert spec["replicas"] == 1
    assert spec["leaderWorkerTemplate"]["restartPolicy"] == "None"
    assert spec["rolloutStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0, "partition": 0},
    }
    assert spec["networkConfig"] == {"subdomainPolicy": "Shared"}
    assert spec["startupPolicy"] == "LeaderCreated"


def test_every_validation_error_is_reported_in_one_denial(kube: Kube, ns: str) -> None:
    manifest = make_lws(
        "broken",
        replicas=2,
        size=0,
        rolloutStrategy={"rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": 0}},
    )
    result = kube.kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(manifest), check=False)
    assert result.returncode != 0
    message = result.stderr
    assert 'admission webhook "vleaderworkerset.kb.io" denied the request' in message
    assert 'LeaderWorkerSet.leaderworkerset.x-k8s.io "broken" is invalid' in message
    assert "spec.leaderWorkerTemplate.size: Invalid value: 0: size must be equal or greater than 1" in message
    assert "spec.rolloutStrategy.rollingUpdateConfiguration.maxUnavailable" in message
    assert kube.lws(ns, "broken") is None


def test_updates_are_validated_against_the_stored_object(kube: Kube, ns: str) -> None:
    kube.create(
        LEADERWORKERSETS,
        ns,
        make_lws("sub", replicas=1, size=4, leaderWorkerTemplate={"subGroupPolicy": {"subGroupSize": 2}}),
    )
    with pytest.raises(KubeError) as denied:
        kube.patch(
            LEADERWORKERSETS,
            ns,
            "sub",
            {"spec": {"leaderWorkerTemplate": {"subGroupPolicy": {"subGroupSize": 4}}}},
        )
    assert denied.value.status == 422
    assert "field is immutable" in denied.value.body


def test_a_pod_webhook_outage_never_blocks_pods_that_are_not_ours(private: Private) -> None:
    kube = private.kube
    operator = private.start_operator()
    operator.stop(clean=False)  # the configurations now point at a replica that does not answer
    pod = {"metadata": {"name": "plain"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    kube.create(PODS, "default", pod)
    ours = {
        "metadata": {"name": "ours-0", "labels": {c.SET_NAME_LABEL: "ours", c.WORKER_INDEX_LABEL: "0"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    with pytest.raises(KubeError) as refused:
        kube.create(PODS, "default", ours)
    assert "mpod.kb.io" in refused.value.body, "group pods are refused while their webhook is down (Fail)"


def test_group_pods_can_be_updated_while_no_replica_answers(private: Private) -> None:
    """Issue 10, bug 7: the no-op pod validating webhook matched UPDATE with failurePolicy Fail, so while the
    operator was down no group pod could be updated, not even to remove its finalizers."""
    kube = private.kube
    operator = private.start_operator()
    pod = {
        "metadata": {
            "name": "group-0",
            "labels": {c.SET_NAME_LABEL: "group", c.WORKER_INDEX_LABEL: "0"},
            "annotations": {c.SIZE_ANNOTATION: "1"},
            "finalizers": ["example.com/hold"],
        },
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    kube.create(PODS, "default", pod)
    operator.stop(clean=False)  # the configurations now point at a replica that does not answer
    kube.patch(PODS, "default", "group-0", {"metadata": {"finalizers": None, "labels": {"touched": "yes"}}})
    updated = kube.get(PODS, "default", "group-0")
    assert updated is not None and updated["metadata"]["labels"]["touched"] == "yes"
    assert not updated["metadata"].get("finalizers")


def test_a_replica_outside_a_pod_gives_installed_configurations_back_to_their_service(
    private: Private,
) -> None:
    """Issue 10, bug 4: the last replica outside a pod to leave deleted configurations that `lws manifests`
    had installed; it now points them at the installed Service again, as it found them."""
    kube = private.kube
    for obj in packaged(DEFAULT_FILE):
        res = _CONFIG_RESOURCES.get(obj["kind"])
        if res is not None:
            kube.create(res, None, obj)
    operator = private.start_operator()
    for res, name in _CONFIGS:
        config = kube.get(res, None, name)
        assert config is not None
        assert config["webhooks"][0]["clientConfig"]["url"].startswith("https://127.0.0.1:"), "taken over"
    operator.stop()
    for res, name in _CONFIGS:
        config = kube.get(res, None, name)
        assert config is not None, f"{name} was installed: it must outlive the replicas"
        for hook in config["webhooks"]:
            client = hook["clientConfig"]
            assert "url" not in client and not client.get("caBundle"), client
            assert client["service"] == {
                "namespace": "lws-system",
                "name": c.WEBHOOK_SERVICE_NAME,
                "path": client["service"]["path"],
                "port": 443,
            }
        assert INSTALLED_SERVICE_ANNOTATION not in (config["metadata"].get("annotations") or {})


def test_configurations_created_outside_a_pod_are_removed_by_the_last_replica(private: Private) -> None:
    kube = private.kube
    first = private.start_operator()
    second = private.start_operator()
    first.stop()
    assert all(kube.get(res, None, name) is not None for res, name in _CONFIGS), "second still serves"
    second.stop()
    assert all(kube.get(res, None, name) is None for res, name in _CONFIGS)


def _deep_review(depth: int, uid: str) -> bytes:
    """An AdmissionReview of a LeaderWorkerSet whose pod template nests ``depth`` objects under ``x``
    (written out by hand: json.dumps itself recurses)."""
    head = (
        '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"' + uid + '",'
        '"kind":{"group":"leaderworkerset.x-k8s.io","version":"v1","kind":"LeaderWorkerSet"},'
        '"resource":{"group":"leaderworkerset.x-k8s.io","version":"v1","resource":"leaderworkersets"},'
        '"namespace":"default","operation":"CREATE","userInfo":{"username":"test"},'
        '"object":{"apiVersion":"leaderworkerset.x-k8s.io/v1","kind":"LeaderWorkerSet",'
        '"metadata":{"name":"deep","namespace":"default"},"spec":{"leaderWorkerTemplate":{"workerTemplate":'
        '{"spec":{"containers":[{"name":"c","image":"i"}],"x":'
    )
    return (head + '{"a":' * depth + "{}" + "}" * depth + "}}}}}}}").encode()


@pytest.mark.sim_only
@pytest.mark.parametrize("depth", [150, 2_000, 20_000])
@pytest.mark.parametrize("path", [c.WEBHOOK_PATH_MUTATE_LWS, c.WEBHOOK_PATH_VALIDATE_LWS])
def test_the_webhooks_deny_deep_nesting_naming_the_field_never_a_500(e2e: E2E, depth: int, path: str) -> None:
    """Issue 10, bug 7: the mutating webhook failed with RecursionError (a 500) at about 480 levels."""
    operator = e2e.require_operator().running_operator
    assert operator.registrar is not None and operator.webhook_url is not None
    context = ssl.create_default_context(cadata=operator.registrar.own.pem.decode())
    request = urllib.request.Request(
        operator.webhook_url + path,
        data=_deep_review(depth, f"uid-{depth}"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        assert answer.status == 200
        review = json.loads(answer.read())
    response = review["response"]
    assert response["uid"] == f"uid-{depth}" and response["allowed"] is False
    assert response["status"]["code"] == 422
    assert "spec.leaderWorkerTemplate.workerTemplate.spec.x.a" in response["status"]["message"]
    assert "nests more than 100 objects and arrays deep" in response["status"]["message"]


#: Pod-template shapes upstream's CRD refuses at admission (its schema embeds the PodTemplateSpec), each with
#: the path the refusal must name (under spec.leaderWorkerTemplate.workerTemplate.spec) and what to set there.
_REFUSED_TEMPLATES: list[tuple[str, tuple[str | int, ...], object]] = [
    ("containers", ("containers",), {"name": "app", "image": "i"}),
    ("containers[0].ports[0].containerPort", ("containers", 0, "ports"), [{"containerPort": "http"}]),
    ("containers[0].ports[1]", ("containers", 0, "ports"), [{"containerPort": 1}, {"containerPort": 1}]),
    ("containers[0].resources.limits.cpu", ("containers", 0, "resources", "limits"), {"cpu": "lots"}),
    (
        "containers[0].env[0].valueFrom.fieldRef.fieldPath",
        ("containers", 0, "env", 0, "valueFrom"),
        {"fieldRef": {"apiVersion": "v1"}},
    ),
    ("containers[0].image", ("containers", 0, "image"), {"a": 1}),
    ("restartPolicy", ("restartPolicy",), ["Always"]),
    ("tolerations[0].tolerationSeconds", ("tolerations",), [{"key": "k", "tolerationSeconds": "x"}]),
    ("nodeSelector.pool", ("nodeSelector",), {"pool": 7}),
    ("volumes[0].emptyDir", ("volumes",), [{"name": "v", "emptyDir": []}]),
]


@pytest.mark.parametrize(
    ("field", "at", "value"), _REFUSED_TEMPLATES, ids=[f for f, _, _ in _REFUSED_TEMPLATES]
)
def test_pod_templates_upstream_refuses_at_admission_are_refused_naming_the_field(
    kube: Kube, ns: str, field: str, at: tuple[str | int, ...], value: object
) -> None:
    """Issue 10, bug 7: such sets were admitted, then every StatefulSet made from them was refused, for
    ever. The CRD's pod-template schema (the published PodTemplateSpec, as upstream's) refuses them first."""
    body = make_lws("bad-template", replicas=1, size=2)
    target = body["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    for key in at[:-1]:
        target = target[key]
    target[at[-1]] = value
    with pytest.raises(KubeError) as refused:
        kube.create(LEADERWORKERSETS, ns, body)
    assert refused.value.status == 422, refused.value.body
    assert f"spec.leaderWorkerTemplate.workerTemplate.spec.{field}" in refused.value.body
    assert kube.lws(ns, "bad-template") is None
