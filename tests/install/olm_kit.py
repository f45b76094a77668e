"""What the Operator Lifecycle Manager does with ``bundle/``, for the install tests (no OLM runs here).

:func:`olm_install` turns the bundle into the objects OLM creates when the operator is installed into a
namespace with an AllNamespaces OperatorGroup (OLM's ``install/deployment`` strategy and its webhook and
certificate handling): the bundle's plain manifests in that namespace; the ServiceAccount and, per
``permissions`` / ``clusterPermissions`` entry, a Role or ClusterRole and its binding; the Deployment,
with OLM's serving certificate Secret mounted at ``/tmp/k8s-webhook-server/serving-certs`` (and
``/apiserver.local.config/certificates``); and per ``webhookdefinitions`` entry a webhook configuration of
one webhook, reaching the Deployment through a Service OLM makes. :class:`OlmCertificates` plays OLM's
certificate authority: it issues that Secret and puts its CA into every webhook configuration it created.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml
from deploy_kit import CertManager

from lws.cli.manifests import Obj

#: Labels OLM puts on what it creates for a CSV.
OWNER_LABELS = {"olm.owner.kind": "ClusterServiceVersion"}
NAMESPACED = {"ConfigMap", "Service", "ServiceMonitor", "Role", "RoleBinding", "Secret", "ServiceAccount"}
WEBHOOK_CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"
APISERVICE_CERT_DIR = "/apiserver.local.config/certificates"


def read_bundle(directory: Path) -> tuple[Obj, list[Obj], dict[str, Any]]:
    """(the ClusterServiceVersion, the other manifests, the metadata annotations) of a bundle directory."""
    csv: Obj | None = None
    others: list[Obj] = []
    for path in sorted((directory / "manifests").glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if obj["kind"] == "ClusterServiceVersion":
            assert csv is None, "two ClusterServiceVersions in one bundle"
            csv = obj
        else:
            others.append(obj)
    assert csv is not None, f"{directory}/manifests holds no ClusterServiceVersion"
    annotations = yaml.safe_load((directory / "metadata" / "annotations.yaml").read_text())["annotations"]
    return csv, others, annotations


def _owned(name: str, csv: Obj, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**OWNER_LABELS, "olm.owner": csv["metadata"]["name"]}}
    if namespace is not None:
        meta["namespace"] = namespace
        meta["labels"]["olm.owner.namespace"] = namespace
    return meta


def service_name(deployment: str) -> str:
    return f"{deployment}-service"


def cert_secret(deployment: str) -> str:
    return f"{service_name(deployment)}-cert"


def olm_install(directory: Path, namespace: str) -> list[Obj]:
    """The objects OLM creates for ``bundle/`` installed into ``namespace`` (AllNamespaces)."""
    csv, manifests, _ = read_bundle(directory)
    spec = csv["spec"]["install"]["spec"]
    objects: list[Obj] = []
    for obj in manifests:
        placed = copy.deepcopy(obj)
        if obj["kind"] in NAMESPACED:
            placed["metadata"]["namespace"] = namespace
        objects.append(placed)
    accounts = {
        p["serviceAccountName"] for p in [*spec.get("permissions", []), *spec.get("clusterPermissions", [])]
    }
    for account in sorted(accounts):
        objects.append(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _owned(account, csv, namespace)}
        )
    for cluster, entries in (
        (False, spec.get("permissions", [])),
        (True, spec.get("clusterPermissions", [])),
    ):
        for index, entry in enumerate(entries):
            kind = "ClusterRole" if cluster else "Role"
            name = f"{csv['metadata']['name']}-{entry['serviceAccountName']}-{index}"
            scope = None if cluster else namespace
            objects.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": kind,
                    "metadata": _owned(name, csv, scope),
                    "rules": copy.deepcopy(entry["rules"]),
                }
            )
            objects.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": f"{kind}Binding",
                    "metadata": _owned(name, csv, scope),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "name": entry["serviceAccountName"],
                            "namespace": namespace,
                        }
                    ],
                }
            )
    webhook_deployments = {d["deploymentName"] for d in csv["spec"].get("webhookdefinitions", [])}
    for deployment in spec["deployments"]:
        body = copy.deepcopy(deployment["spec"])
        meta = _owned(deployment["name"], csv, namespace)
        meta["labels"].update(deployment.get("label") or {})
        if deployment["name"] in webhook_deployments:
            _mount_olm_certificate(body, deployment["name"])
            objects.append(_webhook_service(deployment, body, csv, namespace))
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": body})
    for definition in csv["spec"].get("webhookdefinitions", []):
        objects.append(_webhook_configuration(definition, csv, namespace))
    return objects


def _mount_olm_certificate(spec: dict[str, Any], deployment: str) -> None:
    pod = spec["template"]["spec"]
    secret = {
        "secretName": cert_secret(deployment),
        "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
    }
    apiservice = {
        "secretName": cert_secret(deployment),
        "items": [{"key": "tls.crt", "path": "apiserver.crt"}, {"key": "tls.key", "path": "apiserver.key"}],
    }
    names = {v["name"] for v in pod.get("volumes") or []}
    assert not names & {"webhook-cert", "apiservice-cert"}, (
        f"the Deployment's volumes collide with OLM's: {names}"
    )
    pod.setdefault("volumes", []).extend(
        [{"name": "apiservice-cert", "secret": apiservice}, {"name": "webhook-cert", "secret": secret}]
    )
    for container in pod["containers"]:
        mounts = container.setdefault("volumeMounts", [])
        paths = {m["mountPath"] for m in mounts}
        assert WEBHOOK_CERT_DIR not in paths, (
            "the Deployment mounts something where OLM mounts its certificate"
        )
        mounts.extend(
            [
                {"name": "apiservice-cert", "mountPath": APISERVICE_CERT_DIR},
                {"name": "webhook-cert", "mountPath": WEBHOOK_CERT_DIR},
            ]
        )


def _webhook_service(deployment: Obj, spec: dict[str, Any], csv: Obj, namespace: str) -> Obj:
    ports = sorted(
        {
            (d.get("containerPort", 443), d.get("targetPort"))
            for d in csv["spec"]["webhookdefinitions"]
            if d["deploymentName"] == deployment["name"]
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _owned(service_name(deployment["name"]), csv, namespace),
        "spec": {
            "selector": dict(spec["selector"]["matchLabels"]),
            "ports": [{"name": str(port), "port": port, "targetPort": target} for port, target in ports],
        },
    }


def _webhook_configuration(definition: dict[str, Any], csv: Obj, namespace: str) -> Obj:
    kind = {
        "MutatingAdmissionWebhook": "MutatingWebhookConfiguration",
        "ValidatingAdmissionWebhook": "ValidatingWebhookConfiguration",
    }[definition["type"]]
    webhook: dict[str, Any] = {
        "name": definition["generateName"],
        "admissionReviewVersions": definition["admissionReviewVersions"],
        "clientConfig": {
            "service": {
                "namespace": namespace,
                "name": service_name(definition["deploymentName"]),
                "path": definition["webhookPath"],
                "port": definition.get("containerPort", 443),
            }
        },
        "failurePolicy": definition["failurePolicy"],
        "sideEffects": definition["sideEffects"],
        "rules": copy.deepcopy(definition["rules"]),
    }
    if "objectSelector" in definition:
        webhook["objectSelector"] = copy.deepcopy(definition["objectSelector"])
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": _owned(f"{definition['generateName']}-olm", csv, None),
        "webhooks": [webhook],
    }


class OlmCertificates(CertManager):
    """OLM's certificate authority: the serving certificate of each webhook Deployment's Service, in the
    Secret OLM mounts, and its CA in every webhook configuration OLM made."""

    def __init__(self, objects: list[Obj], *, extra_ips: tuple[str, ...] = ("127.0.0.1",)) -> None:
        services = [
            o
            for o in objects
            if o["kind"] == "Service"
            and o["metadata"]["name"].endswith("-service")
            and "olm.owner" in o["metadata"].get("labels", {})
        ]
        self.certificates = {
            service["metadata"]["name"]: {
                "metadata": {
                    "name": service["metadata"]["name"],
                    "namespace": service["metadata"]["namespace"],
                },
                "spec": {
                    "dnsNames": [
                        f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc",
                        f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local",
                    ],
                    "secretName": f"{service['metadata']['name']}-cert",
                },
            }
            for service in services
        }
        self.extra_ips = extra_ips
        self.issued = {}

    def inject(self, obj: Obj) -> Obj:
        if "olm.owner" not in (obj["metadata"].get("labels") or {}):
            return obj
        injected = copy.deepcopy(obj)
        for webhook in injected.get("webhooks") or []:
            service = webhook["clientConfig"].get("service") or {}
            issued = self.issued[service["name"]] if service else next(iter(self.issued.values()))
            webhook["clientConfig"]["caBundle"] = base64.b64encode(issued.cert_pem).decode()
        return injected
