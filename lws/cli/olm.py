"""The OLM bundle (``bundle/``): the installation of ``lws manifests``, as the Operator Lifecycle Manager
installs operators.

Built from the same objects ``lws manifests`` prints, never written by hand (``tools/generate.py`` writes
``bundle/``; the install tests fail when it is stale, run the operator as OLM would install it, and check
it with operator-framework's own validator). OLM makes the operator's certificates, so the bundle is the
mounted-certificate installation (``lws manifests --cert-manager``'s configuration) without cert-manager's
objects:

* the ClusterServiceVersion: the Deployment (``install.spec.deployments``), the operator's Role and
  ClusterRole rules (``permissions``, ``clusterPermissions``: OLM creates its ServiceAccount, roles and
  bindings), upstream's four webhooks (``webhookdefinitions``: OLM creates the webhook configurations and
  their Service, and mounts a serving certificate at ``/tmp/k8s-webhook-server/serving-certs``, where
  ``lws run`` reads it), and both CRDs as owned;
* next to it, what OLM installs as is: the CRDs (LeaderWorkerSet, and OpenShift's
  LeaderWorkerSetOperator), the configuration ConfigMap, the metrics Service, and the ClusterRoles for
  people and scrapers (editor, viewer, metrics reader);
* ``metadata/annotations.yaml``: package ``lws-operator``, channel ``alpha``.

The Namespace, cert-manager's Issuer and Certificates, and the webhook Service are OLM's business.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from lws import __version__
from lws.cli.manifests import (
    DEPLOYMENT_NAME,
    MANAGER_CONTAINER,
    Obj,
    manager_deployment,
)

PACKAGE = "lws-operator"
CHANNEL = "alpha"
CSV_NAME = f"{PACKAGE}.v{__version__}"
SERVICE_ACCOUNT = "lws-controller-manager"
#: The webhook server's port (``webhook.port`` of the configuration; the Deployment's ``webhook-server``).
WEBHOOK_PORT = 9443
#: Objects ``lws manifests`` prints that OLM makes itself, or that the bundle turns into the CSV.
_OLM_OWNS = {"Namespace", "ServiceAccount", "Issuer", "Certificate"}
_INTO_CSV = {
    "Deployment",
    "Role",
    "RoleBinding",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
}
#: Secret volumes of the mounted-certificate installation that OLM replaces with its own.
_CERT_SECRETS = {"lws-webhook-server-cert", "lws-metrics-server-cert"}
_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="8" '
    'fill="#326ce5"/><circle cx="32" cy="18" r="8" fill="#fff"/><circle cx="16" cy="44" r="6" fill="#fff"/>'
    '<circle cx="32" cy="46" r="6" fill="#fff"/><circle cx="48" cy="44" r="6" fill="#fff"/>'
    '<path d="M32 26 16 38M32 26v14M32 26l16 12" stroke="#fff" stroke-width="3"/></svg>'
)
_DESCRIPTION = """\
LeaderWorkerSet (`leaderworkerset.x-k8s.io/v1`) deploys a group of pods, one leader and its workers, as
one unit: a sharded model (vLLM, SGLang, TPU/JAX) spanning several nodes is scaled, rolled out, placed and
restarted as a whole. This operator is a Python implementation, drop-in compatible with
kubernetes-sigs/lws: same fields, defaults, labels, environment variables and object names.

It is configured, as OpenShift's Leader Worker Set Operator, by a `LeaderWorkerSetOperator` named
`cluster`: `logLevel` and `operatorLogLevel` apply at once; `managementState: Unmanaged` or `Removed`
pauses reconciling and deletes nothing.

Metrics are served over HTTPS on port 8443 to callers authorized for `get /metrics`: bind the
`lws-metrics-reader` ClusterRole to your Prometheus' ServiceAccount.
"""


def _by_kind(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def _rules_bound(objects: list[Obj], *, cluster: bool) -> list[dict[str, Any]]:
    """The rules of the (Cluster)Roles bound to the operator's ServiceAccount."""
    binding_kind, role_kind = ("ClusterRoleBinding", "ClusterRole") if cluster else ("RoleBinding", "Role")
    roles = {o["metadata"]["name"]: o for o in _by_kind(objects, role_kind)}
    rules: list[dict[str, Any]] = []
    for binding in _by_kind(objects, binding_kind):
        if not any(
            s.get("kind") == "ServiceAccount" and s.get("name") == SERVICE_ACCOUNT
            for s in binding["subjects"]
        ):
            continue
        rules += copy.deepcopy(roles[binding["roleRef"]["name"]]["rules"])
    return rules


def _is_operator(subject: Mapping[str, Any]) -> bool:
    return subject.get("kind") == "ServiceAccount" and subject.get("name") == SERVICE_ACCOUNT


def _bound_role_names(objects: list[Obj]) -> set[str]:
    return {
        b["roleRef"]["name"]
        for b in [*_by_kind(objects, "ClusterRoleBinding"), *_by_kind(objects, "RoleBinding")]
        if any(_is_operator(s) for s in b["subjects"])
    }


def operator_deployment(objects: list[Obj]) -> dict[str, Any]:
    """The Deployment's spec, with the certificate volumes OLM provides left out."""
    deployment = copy.deepcopy(manager_deployment(objects))
    pod = deployment["spec"]["template"]["spec"]
    dropped = {
        v["name"]
        for v in pod.get("volumes") or []
        if (v.get("secret") or {}).get("secretName") in _CERT_SECRETS
    }
    pod["volumes"] = [v for v in pod.get("volumes") or [] if v["name"] not in dropped]
    for container in pod["containers"]:
        container["volumeMounts"] = [
            m for m in container.get("volumeMounts") or [] if m["name"] not in dropped
        ]
    return {
        "name": DEPLOYMENT_NAME,
        "label": dict(deployment["metadata"].get("labels") or {}),
        "spec": deployment["spec"],
    }


def webhook_definitions(objects: list[Obj]) -> list[dict[str, Any]]:
    """Upstream's webhooks as OLM's ``webhookdefinitions`` (OLM makes the configurations and their CA)."""
    out: list[dict[str, Any]] = []
    for kind, olm_type in (
        ("MutatingWebhookConfiguration", "MutatingAdmissionWebhook"),
        ("ValidatingWebhookConfiguration", "ValidatingAdmissionWebhook"),
    ):
        for config in _by_kind(objects, kind):
            for webhook in config["webhooks"]:
                definition: dict[str, Any] = {
                    "type": olm_type,
                    "generateName": webhook["name"],
                    "deploymentName": DEPLOYMENT_NAME,
                    "containerPort": 443,
                    "targetPort": WEBHOOK_PORT,
                    "webhookPath": webhook["clientConfig"]["service"]["path"],
                    "admissionReviewVersions": list(webhook["admissionReviewVersions"]),
                    "failurePolicy": webhook["failurePolicy"],
                    "sideEffects": webhook["sideEffects"],
                    "rules": copy.deepcopy(webhook["rules"]),
                }
                if "objectSelector" in webhook:
                    definition["objectSelector"] = copy.deepcopy(webhook["objectSelector"])
                out.append(definition)
    return out


def _file_name(obj: Obj) -> str:
    """operator-sdk's names: ``<group>_<plural>.yaml`` for a CRD, ``<name>_<group>_<version>_<kind>.yaml``."""
    if obj["kind"] == "CustomResourceDefinition":
        return f"{obj['spec']['group']}_{obj['spec']['names']['plural']}.yaml"
    group, _, version = obj["apiVersion"].rpartition("/")
    return "_".join(p for p in (obj["metadata"]["name"], group, version, obj["kind"].lower()) if p) + ".yaml"


def _unnamespaced(obj: Obj) -> Obj:
    """A bundle manifest: OLM puts namespaced objects in the namespace the operator is installed in."""
    out = copy.deepcopy(obj)
    out["metadata"].pop("namespace", None)
    return out


def _disaggregated_examples() -> list[dict[str, Any]]:
    """A prefill/decode DisaggregatedSet whose decode role is scaled through its RoleScaler, and that scaler
    (the controller creates it; shown so the console can describe the kind)."""
    roles = [
        {
            "name": name,
            **({"scaling": {"mode": "External"}} if name == "decode" else {}),
            "spec": {
                "replicas": 1,
                "leaderWorkerTemplate": {
                    "size": size,
                    "workerTemplate": {
                        "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.11.0"}]}
                    },
                },
            },
        }
        for name, size in (("prefill", 2), ("decode", 1))
    ]
    return [
        {
            "apiVersion": "disaggregatedset.x-k8s.io/v1",
            "kind": "DisaggregatedSet",
            "metadata": {"name": "pd"},
            "spec": {"roles": roles},
        },
        {
            "apiVersion": "disaggregatedset.x-k8s.io/v1",
            "kind": "DisaggregatedSetRoleScaler",
            "metadata": {"name": "pd-decode"},
            "spec": {"replicas": 1},
        },
    ]


def _examples(crds: list[Obj], sample: Mapping[str, Any]) -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = [dict(sample)]
    if any(c["spec"]["names"]["kind"] == "DisaggregatedSet" for c in crds):
        examples += _disaggregated_examples()
    if any(c["spec"]["names"]["kind"] == "LeaderWorkerSetOperator" for c in crds):
        examples.append(
            {
                "apiVersion": "operator.openshift.io/v1",
                "kind": "LeaderWorkerSetOperator",
                "metadata": {"name": "cluster"},
                "spec": {"managementState": "Managed", "logLevel": "Normal", "operatorLogLevel": "Normal"},
            }
        )
    return examples


def _owned(crd: Obj) -> dict[str, Any]:
    names = crd["spec"]["names"]
    (version,) = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
    descriptions = {
        "LeaderWorkerSet": "A group of pods, one leader and its workers, deployed, scaled, rolled out and "
        "restarted as one unit.",
        "LeaderWorkerSetOperator": "The operator's configuration: one object, named cluster (log levels, "
        "managementState).",
        "DisaggregatedSet": "Prefill, decode and other roles, each a LeaderWorkerSet per slice, rolled out "
        "in lockstep so the capacity ratio between roles holds.",
        "DisaggregatedSetRoleScaler": "The scale subresource of one externally scaled role of a "
        "DisaggregatedSet, for kubectl scale, HPA or KEDA.",
    }
    return {
        "name": crd["metadata"]["name"],
        "version": version,
        "kind": names["kind"],
        "displayName": names["kind"],
        "description": descriptions.get(names["kind"], names["kind"]),
    }


def csv(objects: list[Obj], *, sample: Mapping[str, Any]) -> Obj:
    """The ClusterServiceVersion of the mounted-certificate installation ``objects``."""
    deployment = operator_deployment(objects)
    (manager,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == MANAGER_CONTAINER
    ]
    image = manager["image"]
    crds = _by_kind(objects, "CustomResourceDefinition")
    return {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {
            "name": CSV_NAME,
            "annotations": {
                "alm-examples": json.dumps(_examples(crds, sample), indent=2),
                "capabilities": "Basic Install",
                "categories": "AI/Machine Learning",
                "containerImage": image,
                "description": "Groups of pods (a leader, its workers) as one unit, for multi-node inference",
                "operatorframework.io/suggested-namespace": "lws-system",
                "features.operators.openshift.io/disconnected": "true",
                "features.operators.openshift.io/proxy-aware": "false",
            },
        },
        "spec": {
            "displayName": "LeaderWorkerSet",
            "description": _DESCRIPTION,
            "version": __version__,
            "maturity": "alpha",
            "minKubeVersion": "1.30.0",
            "keywords": ["leaderworkerset", "lws", "inference", "multi-node", "gang"],
            "provider": {"name": "lws-operator maintainers"},
            "maintainers": [
                {"name": "lws-operator maintainers", "email": "maintainers@lws-operator.invalid"}
            ],
            "links": [{"name": "Upstream LeaderWorkerSet", "url": "https://github.com/kubernetes-sigs/lws"}],
            "icon": [{"base64data": base64.b64encode(_ICON.encode()).decode(), "mediatype": "image/svg+xml"}],
            # The operator serves LeaderWorkerSets in every namespace, and its webhooks see every group pod.
            "installModes": [
                {"type": "OwnNamespace", "supported": False},
                {"type": "SingleNamespace", "supported": False},
                {"type": "MultiNamespace", "supported": False},
                {"type": "AllNamespaces", "supported": True},
            ],
            "customresourcedefinitions": {"owned": [_owned(c) for c in crds]},
            "install": {
                "strategy": "deployment",
                "spec": {
                    "clusterPermissions": [
                        {"serviceAccountName": SERVICE_ACCOUNT, "rules": _rules_bound(objects, cluster=True)}
                    ],
                    "permissions": [
                        {"serviceAccountName": SERVICE_ACCOUNT, "rules": _rules_bound(objects, cluster=False)}
                    ],
                    "deployments": [deployment],
                },
            },
            "webhookdefinitions": webhook_definitions(objects),
            "relatedImages": [{"name": "lws-operator", "image": image}],
        },
    }


def bundle(objects: list[Obj], *, sample: Mapping[str, Any]) -> dict[str, Obj]:
    """``bundle/``: path -> object, from the mounted-certificate installation ``objects`` (what
    ``lws manifests --cert-manager`` prints) and an example LeaderWorkerSet for the console."""
    bound = _bound_role_names(objects)
    files: dict[str, Obj] = {f"manifests/{PACKAGE}.clusterserviceversion.yaml": csv(objects, sample=sample)}
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in _OLM_OWNS or kind in _INTO_CSV:
            continue
        if kind == "ClusterRole" and name in bound:
            continue  # the operator's own: clusterPermissions
        if kind == "Service" and name == "lws-webhook-service":
            continue  # OLM makes the webhooks' Service
        files[f"manifests/{_file_name(obj)}"] = _unnamespaced(obj)
    files["metadata/annotations.yaml"] = {
        "annotations": {
            "operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
            "operators.operatorframework.io.bundle.manifests.v1": "manifests/",
            "operators.operatorframework.io.bundle.metadata.v1": "metadata/",
            "operators.operatorframework.io.bundle.package.v1": PACKAGE,
            "operators.operatorframework.io.bundle.channels.v1": CHANNEL,
            "operators.operatorframework.io.bundle.channel.default.v1": CHANNEL,
        }
    }
    return files
