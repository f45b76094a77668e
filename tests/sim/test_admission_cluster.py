"""Admission webhooks in a running embedded cluster: pods made by the StatefulSet controller are admitted,
kubectl sees webhook warnings and denials, and kopf's own webhook server works as the operator will use it.

These need the embedded cluster itself (``embedded_cluster``), so they are skipped against a real cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner
from kubectl_cli import Kubectl, config_map, statefulset
from webhook_tls import Certificates, WebhookServer, answer, make_certificates

from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import wait_until

PODS = ("", "v1", "pods")
CONFIGMAPS = ("", "v1", "configmaps")
STATEFULSETS = ("apps", "v1", "statefulsets")
MUTATING = ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
VALIDATING = ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations")


def registration(name: str, url: str, ca_bundle: str, resources: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": f"{name}.example.com",
                "clientConfig": {"url": url, "caBundle": ca_bundle},
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": resources,
                        "operations": ["CREATE"],
                    }
                ],
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                **extra,
            }
        ],
    }


async def test_pods_the_statefulset_controller_creates_go_through_the_pod_webhook(
    embedded_cluster: EmbeddedCluster, server: WebhookServer, certificates: Certificates
) -> None:
    async def label(review: dict[str, Any]) -> dict[str, Any]:
        # The controller sets the pod's name and hostname before admission, as Kubernetes' does.
        name = review["request"]["object"]["metadata"]["name"]
        patch = [{"op": "add", "path": "/metadata/labels/seen-by", "value": f"webhook-{name}"}]
        return answer(review, patch=patch)

    url = server.on("pods", label)
    selector = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    await embedded_cluster.aio.create(
        MUTATING,
        None,
        registration("pod-labeller", url, certificates.ca_bundle, ["pods"], objectSelector=selector),
    )
    await embedded_cluster.aio.create(STATEFULSETS, "default", statefulset("web"))

    async with asyncio.timeout(30):
        async for event in embedded_cluster.aio.watch(PODS, "default"):
            pod = event["object"]
            if pod["metadata"]["name"] == "web-0":
                break
    assert pod["metadata"]["labels"]["seen-by"] == "webhook-web-0"
    [review] = server.reviews["pods"]
    assert review["request"]["operation"] == "CREATE"
    assert review["request"]["object"]["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"


async def test_kubectl_prints_webhook_warnings_and_denials(
    embedded_cluster: EmbeddedCluster, server: WebhookServer, certificates: Certificates, tmp_path: Path
) -> None:
    async def judge(review: dict[str, Any]) -> dict[str, Any]:
        data = review["request"]["object"].get("data") or {}
        if "forbidden" in data:
            return answer(review, allowed=False, status={"code": 403, "message": "forbidden key"})
        return answer(review, warnings=["this config map is watched"])

    url = server.on("cm", judge)
    await embedded_cluster.aio.create(
        VALIDATING, None, registration("judge", url, certificates.ca_bundle, ["configmaps"])
    )
    kubectl = Kubectl(embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path, "default")

    # kubectl blocks; run it on a thread so this loop keeps serving the webhook.
    allowed = await asyncio.to_thread(kubectl.apply, config_map("fine", a="1"))
    assert allowed.returncode == 0, allowed.stderr
    assert "Warning: this config map is watched" in allowed.stderr
    denied = await asyncio.to_thread(kubectl.apply, config_map("bad", forbidden="1"))
    assert denied.returncode != 0
    assert 'admission webhook "judge.example.com" denied the request: forbidden key' in denied.stderr


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def kopf_environment(
    embedded_cluster: EmbeddedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmbeddedCluster]:
    monkeypatch.setenv("KUBECONFIG", str(embedded_cluster.write_kubeconfig(tmp_path / "kubeconfig")))
    yield embedded_cluster


def test_kopf_webhook_server_is_called_with_its_own_ca_bundle(
    kopf_environment: EmbeddedCluster, tmp_path: Path
) -> None:
    cluster = kopf_environment
    certificates = make_certificates(tmp_path / "kopf-tls")
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)  # type: ignore[untyped-decorator]
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)  # type: ignore[no-any-return]

    @kopf.on.mutate("configmaps", id="stamp", registry=registry)  # type: ignore[untyped-decorator]
    def stamp(patch: kopf.Patch, **_: Any) -> None:
        patch.setdefault("metadata", {}).setdefault("labels", {})["stamped-by"] = "kopf"

    @kopf.on.validate("configmaps", id="guard", registry=registry)  # type: ignore[untyped-decorator]
    def guard(body: kopf.Body, **_: Any) -> None:
        if "refuse" in (body.get("data") or {}):
            raise kopf.AdmissionError("kopf says no", code=422)

    settings = kopf.OperatorSettings()
    settings.admission.server = kopf.WebhookServer(
        addr="127.0.0.1",
        host="127.0.0.1",
        port=_free_port(),
        certfile=str(certificates.cert_file),
        pkeyfile=str(certificates.key_file),
        cadata=certificates.ca_pem,
    )
    settings.admission.managed = "lws-test.kopf.dev"
    args = ["run", "--standalone", "--all-namespaces", "--verbose"]
    with KopfRunner(args, registry=registry, settings=settings, timeout=60):
        # kopf creates its configurations, then fills in their webhooks once its server listens.
        [configuration] = wait_until(
            lambda: [c for c in cluster.sync.list(MUTATING)["items"] if c.get("webhooks")],
            timeout=30,
            what="kopf to register its mutating webhook",
        )
        assert configuration["metadata"]["name"] == "lws-test.kopf.dev"
        client_config = configuration["webhooks"][0]["clientConfig"]
        assert client_config["url"].startswith("https://127.0.0.1:")
        assert client_config["caBundle"] == certificates.ca_bundle
        wait_until(
            lambda: [c for c in cluster.sync.list(VALIDATING)["items"] if c.get("webhooks")],
            timeout=30,
            what="kopf to register its validating webhook",
        )

        created = cluster.sync.create(CONFIGMAPS, "default", copy.deepcopy(config_map("kopfed", a="1")))
        assert created["metadata"]["labels"] == {"stamped-by": "kopf"}
        with pytest.raises(Exception, match="kopf says no") as raised:
            cluster.sync.create(CONFIGMAPS, "default", config_map("refused", refuse="1"))
        assert getattr(raised.value, "code", None) == 422
