"""Admission webhooks called over HTTPS by the embedded API server (lws.sim.admission).

Webhook servers here are real aiohttp HTTPS servers with certificates made for the test; the API server runs
on the test's loop, so its webhook calls go over TCP to a server on the same loop.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from webhook_tls import Certificates, WebhookServer, answer, make_certificates

from lws.sim.admission import WebhookAdmission
from lws.sim.apiserver import APIServer
from lws.sim.clientwarnings import collecting_warnings
from lws.sim.errors import APIError

PODS = ("", "v1", "pods")
CONFIGMAPS = ("", "v1", "configmaps")
NAMESPACES = ("", "v1", "namespaces")
MUTATING = ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
VALIDATING = ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations")


@pytest.fixture
async def api() -> AsyncIterator[APIServer]:
    server = APIServer()
    server.bootstrap()
    admission = WebhookAdmission(server)
    server.admission = admission
    yield server
    await admission.close()


def webhook(name: str, url: str | None, ca_bundle: str | None, **fields: Any) -> dict[str, Any]:
    client: dict[str, Any] = {"url": url} if url else {"service": {"namespace": "x", "name": "svc"}}
    if ca_bundle:
        client["caBundle"] = ca_bundle
    rules = fields.pop(
        "rules",
        [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "operations": ["CREATE", "UPDATE"],
            }
        ],
    )
    return {
        "name": name,
        "clientConfig": client,
        "rules": rules,
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **fields,
    }


async def configure(api: APIServer, gvr: tuple[str, str, str], name: str, *webhooks: dict[str, Any]) -> None:
    await api.create(gvr, None, {"metadata": {"name": name}, "webhooks": list(webhooks)})


def pod(name: str = "p", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


async def test_mutating_webhook_patches_the_object_and_gets_a_full_review(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def add_label(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review, patch=[{"op": "add", "path": "/metadata/labels/injected", "value": "yes"}])

    url = server.on("mutate", add_label)
    await configure(api, MUTATING, "injector", webhook("inject.example.com", url, certificates.ca_bundle))
    created = await api.create(PODS, "default", pod(app="web"))
    assert created["metadata"]["labels"] == {"app": "web", "injected": "yes"}
    assert (await api.get(PODS, "default", "p"))["metadata"]["labels"]["injected"] == "yes"

    [review] = server.reviews["mutate"]
    request = review["request"]
    assert review["apiVersion"] == "admission.k8s.io/v1"
    assert review["kind"] == "AdmissionReview"
    assert request["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert request["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert request["requestKind"] == request["kind"]
    assert request["requestResource"] == request["resource"]
    assert (request["operation"], request["name"], request["namespace"]) == ("CREATE", "p", "default")
    assert request["object"]["metadata"]["labels"] == {"app": "web"}
    assert request["oldObject"] is None
    assert request["dryRun"] is False
    assert request["options"] == {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    assert request["userInfo"]["username"] == "system:admin"
    assert "subResource" not in request
    assert len(request["uid"]) == 36


async def test_validating_denial_becomes_the_webhooks_status(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def deny(review: dict[str, Any]) -> dict[str, Any]:
        return answer(
            review, allowed=False, status={"code": 403, "reason": "Forbidden", "message": "no pods today"}
        )

    url = server.on("deny", deny)
    await configure(api, VALIDATING, "guard", webhook("deny.example.com", url, certificates.ca_bundle))
    with pytest.raises(APIError) as raised:
        await api.create(PODS, "default", pod())
    assert raised.value.code == 403
    assert raised.value.reason == "Forbidden"
    assert (
        raised.value.status["message"]
        == 'admission webhook "deny.example.com" denied the request: no pods today'
    )
    with pytest.raises(APIError):
        await api.get(PODS, "default", "p")
    # Other kinds are not covered by the rule and go through.
    await api.create(CONFIGMAPS, "default", {"metadata": {"name": "cm"}})


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (None, 400, 'admission webhook "w.example.com" denied the request without explanation'),
        ({"code": 200, "reason": "Nope"}, 400, 'admission webhook "w.example.com" denied the request: Nope'),
        ({"code": 422, "message": "bad"}, 422, 'admission webhook "w.example.com" denied the request: bad'),
    ],
)
async def test_denials_are_mapped_like_kubernetes(
    api: APIServer, server: WebhookServer, certificates: Certificates, status: Any, code: int, message: str
) -> None:
    async def deny(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review, allowed=False, **({"status": status} if status is not None else {}))

    await configure(
        api, VALIDATING, "v", webhook("w.example.com", server.on("d", deny), certificates.ca_bundle)
    )
    with pytest.raises(APIError) as raised:
        await api.create(PODS, "default", pod())
    assert (raised.value.code, raised.value.status["message"]) == (code, message)


async def test_selectors_pick_objects_and_namespaces(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def allow(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review)

    url = server.on("seen", allow)
    await api.create(NAMESPACES, None, {"metadata": {"name": "watched", "labels": {"webhooks": "on"}}})
    # What kube-controller-manager adds to a new namespace (no controller runs here); pods need it.
    await api.create(("", "v1", "serviceaccounts"), "watched", {"metadata": {"name": "default"}})
    await configure(
        api,
        VALIDATING,
        "selective",
        webhook(
            "selective.example.com",
            url,
            certificates.ca_bundle,
            namespaceSelector={"matchLabels": {"webhooks": "on"}},
            objectSelector={"matchExpressions": [{"key": "lws", "operator": "Exists"}]},
        ),
    )
    await api.create(PODS, "watched", pod("labelled", lws="x"))
    await api.create(PODS, "watched", pod("plain"))
    await api.create(PODS, "default", pod("elsewhere", lws="x"))
    assert [r["request"]["name"] for r in server.reviews["seen"]] == ["labelled"]

    # objectSelector matches the old object too: removing the label is still seen.
    current = await api.get(PODS, "watched", "labelled")
    unlabelled = copy.deepcopy(current)
    del unlabelled["metadata"]["labels"]["lws"]
    await api.update(PODS, "watched", "labelled", unlabelled)
    assert [r["request"]["operation"] for r in server.reviews["seen"]] == ["CREATE", "UPDATE"]
    assert server.reviews["seen"][-1]["request"]["oldObject"]["metadata"]["labels"] == {"lws": "x"}


async def test_subresource_rules_and_operations(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def allow(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review)

    rules = [
        {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods/status"], "operations": ["UPDATE"]}
    ]
    await configure(
        api,
        VALIDATING,
        "status-only",
        webhook("status.example.com", server.on("status", allow), certificates.ca_bundle, rules=rules),
    )
    created = await api.create(PODS, "default", pod())
    assert "status" not in server.reviews
    created["status"] = {"phase": "Running"}
    await api.update(PODS, "default", "p", created, subresource="status")
    [review] = server.reviews["status"]
    assert review["request"]["subResource"] == "status"
    assert review["request"]["options"]["kind"] == "UpdateOptions"


async def test_a_write_no_webhook_wants_completes_without_giving_up_the_loop(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    """Webhooks for pod creates only: a status write or a binding is wanted by none, and finishes in one
    step of its coroutine. Awaiting a gather of nothing would cost the caller a whole loop turn per write,
    which held the embedded scheduler to one binding per turn of a busy loop."""

    async def allow(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review)

    rules = [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}]
    url = server.on("creates", allow)
    await configure(
        api, MUTATING, "creates", webhook("m.example.com", url, certificates.ca_bundle, rules=rules)
    )
    await configure(
        api, VALIDATING, "creates", webhook("v.example.com", url, certificates.ca_bundle, rules=rules)
    )
    created = await api.create(PODS, "default", pod())
    assert len(server.reviews["creates"]) == 2

    def in_one_step(write: Any) -> Any:
        with pytest.raises(StopIteration) as finished:
            write.send(None)
        return finished.value.value

    created["status"] = {"phase": "Pending", "message": "waiting"}
    in_one_step(api.update(PODS, "default", "p", created, subresource="status"))
    binding = {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}}
    in_one_step(api.create(PODS, "default", binding, subresource="binding", name="p"))
    bound = await api.get(PODS, "default", "p")
    assert bound["spec"]["nodeName"] == "node-1"
    assert bound["status"]["message"] == "waiting"
    assert len(server.reviews["creates"]) == 2


async def test_delete_is_admitted_with_the_old_object(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def keep(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review, allowed=False, status={"message": "keep it"})

    rules = [
        {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["DELETE"]}
    ]
    await api.create(CONFIGMAPS, "default", {"metadata": {"name": "precious"}, "data": {"a": "1"}})
    await configure(
        api,
        VALIDATING,
        "keeper",
        webhook("keep.example.com", server.on("k", keep), certificates.ca_bundle, rules=rules),
    )
    with pytest.raises(APIError, match="keep it"):
        await api.delete(CONFIGMAPS, "default", "precious")
    [review] = server.reviews["k"]
    assert review["request"]["object"] is None
    assert review["request"]["oldObject"]["data"] == {"a": "1"}
    assert review["request"]["options"]["kind"] == "DeleteOptions"
    assert (await api.get(CONFIGMAPS, "default", "precious"))["data"] == {"a": "1"}


async def test_webhook_configurations_are_never_sent_to_webhooks(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def deny(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review, allowed=False)

    everything = [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"], "operations": ["*"]}]
    await configure(
        api,
        VALIDATING,
        "deny-all",
        webhook("all.example.com", server.on("all", deny), certificates.ca_bundle, rules=everything),
    )
    with pytest.raises(APIError):
        await api.create(CONFIGMAPS, "default", {"metadata": {"name": "x"}})
    await api.delete(VALIDATING, None, "deny-all")
    await api.create(CONFIGMAPS, "default", {"metadata": {"name": "x"}})


@pytest.mark.parametrize(
    ("make_url", "ca", "fragment"),
    [
        (lambda server: "https://127.0.0.1:9/unused", "good", "failed to call webhook"),
        (lambda server: server.url("any"), "wrong", "CERTIFICATE_VERIFY_FAILED"),
        (lambda server: None, "good", 'service "x/svc" cannot be reached'),
        (lambda server: server.url("missing"), "good", "the server responded with status 404"),
    ],
)
async def test_failure_policy_decides_what_a_broken_webhook_means(
    api: APIServer,
    server: WebhookServer,
    certificates: Certificates,
    tmp_path: Path,
    make_url: Any,
    ca: str,
    fragment: str,
) -> None:
    bundle = (
        certificates.ca_bundle if ca == "good" else make_certificates(tmp_path, ca_name="other").ca_bundle
    )
    url = make_url(server)
    await configure(api, VALIDATING, "strict", webhook("strict.example.com", url, bundle))
    with pytest.raises(APIError) as raised:
        await api.create(PODS, "default", pod("refused"))
    assert raised.value.code == 500
    assert raised.value.status["message"].startswith(
        'Internal error occurred: failed calling webhook "strict.example.com"'
    )
    assert fragment in raised.value.status["message"]

    await api.delete(VALIDATING, None, "strict")
    await configure(
        api, VALIDATING, "lenient", webhook("lenient.example.com", url, bundle, failurePolicy="Ignore")
    )
    assert (await api.create(PODS, "default", pod("admitted")))["metadata"]["name"] == "admitted"


async def test_a_webhook_slower_than_its_timeout_fails_the_call(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    url = server.on("slow", server.hang)
    await configure(
        api, VALIDATING, "slow", webhook("slow.example.com", url, certificates.ca_bundle, timeoutSeconds=1)
    )
    with pytest.raises(APIError, match="context deadline exceeded") as raised:
        await api.create(PODS, "default", pod())
    assert raised.value.code == 500


async def test_dry_run_needs_side_effect_free_webhooks(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def allow(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review)

    await configure(
        api, VALIDATING, "pure", webhook("pure.example.com", server.on("pure", allow), certificates.ca_bundle)
    )
    await api.create(PODS, "default", pod("dry"), dry_run=True)
    [review] = server.reviews["pure"]
    assert review["request"]["dryRun"] is True
    assert review["request"]["options"]["dryRun"] == ["All"]

    await configure(
        api,
        VALIDATING,
        "impure",
        webhook("impure.example.com", server.on("impure", allow), certificates.ca_bundle, sideEffects="Some"),
    )
    with pytest.raises(
        APIError, match=r'admission webhook "impure\.example\.com" does not support dry run'
    ) as raised:
        await api.create(PODS, "default", pod("dry"), dry_run=True)
    assert raised.value.code == 400
    assert "impure" not in server.reviews


async def test_mutations_chain_in_order_and_if_needed_webhooks_are_reinvoked(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def first(review: dict[str, Any]) -> dict[str, Any]:
        labels = review["request"]["object"]["metadata"]["labels"]
        return answer(
            review, patch=[{"op": "add", "path": "/metadata/labels/seen-by-first", "value": str(len(labels))}]
        )

    async def second(review: dict[str, Any]) -> dict[str, Any]:
        assert "seen-by-first" in review["request"]["object"]["metadata"]["labels"]
        return answer(review, patch=[{"op": "add", "path": "/metadata/labels/second", "value": "x"}])

    await configure(
        api,
        MUTATING,
        "b-second",
        webhook("second.example.com", server.on("second", second), certificates.ca_bundle),
    )
    await configure(
        api,
        MUTATING,
        "a-first",
        webhook(
            "first.example.com",
            server.on("first", first),
            certificates.ca_bundle,
            reinvocationPolicy="IfNeeded",
        ),
    )
    created = await api.create(PODS, "default", pod(app="web"))
    # "a-first" sorts first; the second webhook's change makes the first run again and see two more labels.
    assert len(server.reviews["first"]) == 2
    assert len(server.reviews["second"]) == 1
    assert created["metadata"]["labels"] == {"app": "web", "seen-by-first": "3", "second": "x"}


async def test_warnings_are_collected_for_the_client(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def warn(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review, warnings=["image has no tag"])

    await configure(
        api,
        VALIDATING,
        "warner",
        webhook("warn.example.com", server.on("warn", warn), certificates.ca_bundle),
    )
    with collecting_warnings() as warnings:
        await api.create(PODS, "default", pod())
    assert warnings == ["image has no tag"]


async def test_responses_for_another_request_are_a_failed_call(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    async def confused(review: dict[str, Any]) -> dict[str, Any]:
        reply = answer(review)
        reply["response"]["uid"] = "someone-else"
        return reply

    await configure(
        api,
        VALIDATING,
        "confused",
        webhook("confused.example.com", server.on("c", confused), certificates.ca_bundle),
    )
    with pytest.raises(APIError, match=r"expected response\.uid"):
        await api.create(PODS, "default", pod())


async def test_generated_names_and_pod_preparation_come_after_mutating_admission(
    api: APIServer, server: WebhookServer, certificates: Certificates
) -> None:
    # kube-apiserver runs mutating admission before rest.BeforeCreate: a generateName pod has no name and
    # no uid yet when mutating webhooks see it (a ReplicaSet's pods), the pod strategy's PrepareForCreate
    # then sees the gates a webhook added, and validating webhooks see the generated name.
    async def add_gate(review: dict[str, Any]) -> dict[str, Any]:
        return answer(
            review, patch=[{"op": "add", "path": "/spec/schedulingGates", "value": [{"name": "g"}]}]
        )

    async def allow(review: dict[str, Any]) -> dict[str, Any]:
        return answer(review)

    await configure(
        api,
        MUTATING,
        "gate",
        webhook("gate.example.com", server.on("gate", add_gate), certificates.ca_bundle),
    )
    await configure(
        api, VALIDATING, "look", webhook("look.example.com", server.on("look", allow), certificates.ca_bundle)
    )
    body = pod()
    body["metadata"] = {"generateName": "rs-"}
    created = await api.create(PODS, "default", body)

    name = created["metadata"]["name"]
    assert name.startswith("rs-") and len(name) == len("rs-") + 5
    [mutating] = server.reviews["gate"]
    assert mutating["request"]["name"] == ""
    assert "name" not in mutating["request"]["object"]["metadata"]
    assert "uid" not in mutating["request"]["object"]["metadata"]
    [validating] = server.reviews["look"]
    assert validating["request"]["name"] == name
    assert validating["request"]["object"]["metadata"]["name"] == name
    assert created["spec"]["schedulingGates"] == [{"name": "g"}]
    scheduled = [c for c in created["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert [(c["status"], c["reason"]) for c in scheduled] == [("False", "SchedulingGated")]
