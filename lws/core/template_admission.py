"""Pod admission done once, in the template, where every pod of a StatefulSet would be admitted alike.

The pod webhook adds to each group pod what only its name tells (group and worker index, group key, the
``LWS_*`` variables, subgroup labels, the plugins' share): an HTTPS call from the API server per pod. A
worker StatefulSet of one replica (a group of two) makes exactly one pod, whose name is known when the
StatefulSet is built, so its admission can be done then, on the pod the StatefulSet controller will make,
and written into the template. Such a template is labelled :data:`~lws.api.constants.TEMPLATE_ADMITTED_LABEL`,
and the pod webhook's objectSelector leaves its pods out.

Only when it is exact: the template is taken as admitted if, and only if, the pod it makes is the pod the
webhook would have made (upstream's labels, annotations, env and spec, the stand-in revision-hash label
aside) *and* the webhook would not change that pod again. Anything else, a plugin whose mutation is not
idempotent included, keeps the template as it was, and its pods go through the webhook as before. Pods of
templates made before (this program's earlier versions, or upstream's controller being taken over) carry
no such label and are admitted by the webhook; worker StatefulSets are never updated, so nothing rolls.

Labels cannot come from the downward API, and a worker StatefulSet of more replicas makes pods whose
``worker-index`` label differs: those, and every leader, still need the webhook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.api import constants as c
from lws.core.pod_mutation import PodAdmissionError, mutate_pod
from lws.core.statefulset_pods import statefulset_pod
from lws.hooks.manager import Hooks, PluginError
from lws.k8s.patch import json_clone

#: Labels the StatefulSet controller puts on each pod (not the template's to carry).
_CONTROLLER_LABELS = (c.STS_REVISION_LABEL, c.STS_POD_NAME_LABEL, c.STS_POD_INDEX_LABEL)
#: Pod fields the StatefulSet controller sets from its own spec.
_CONTROLLER_SPEC = ("hostname", "subdomain")


def admit_in_template(statefulset: dict[str, Any], hooks: Hooks) -> bool:
    """Write the admission of the StatefulSet's one pod into its template, when that is exact (see the
    module's docstring). Returns whether it did; the StatefulSet is changed only then."""
    spec = statefulset["spec"]
    if spec.get("replicas") != 1:
        return False  # pods that differ by name are admitted one by one
    ordinal = int((spec.get("ordinals") or {}).get("start") or 0)
    namespace = str(statefulset["metadata"].get("namespace") or "default")
    before = statefulset_pod(statefulset, ordinal)
    try:
        admitted = mutate_pod(before, namespace=namespace, hooks=hooks)
    except (PodAdmissionError, PluginError):
        return False  # the webhook will say what is wrong, on the pod
    claims = {
        str((claim.get("metadata") or {}).get("name")) for claim in spec.get("volumeClaimTemplates") or []
    }
    template = _template_of(admitted, spec["template"], claims)
    template["metadata"]["labels"][c.TEMPLATE_ADMITTED_LABEL] = "true"
    trial = {**statefulset, "spec": {**spec, "template": template}}
    made = statefulset_pod(trial, ordinal)
    try:
        again = mutate_pod(made, namespace=namespace, hooks=hooks)
    except (PodAdmissionError, PluginError):
        return False
    if again != made or _comparable(made) != _comparable(admitted):
        return False
    spec["template"] = template
    return True


def _template_of(pod: Mapping[str, Any], original: Mapping[str, Any], claims: set[str]) -> dict[str, Any]:
    """The pod template that makes ``pod``: what the StatefulSet controller adds taken out again (its
    labels, hostname and subdomain, the volumes of the pod's claims)."""
    template: dict[str, Any] = json_clone(dict(original))
    meta = template.setdefault("metadata", {})
    had = meta.get("labels") or {}
    pod_meta = pod.get("metadata") or {}
    meta["labels"] = {
        k: v for k, v in (pod_meta.get("labels") or {}).items() if k not in _CONTROLLER_LABELS or k in had
    }
    if pod_meta.get("annotations") or "annotations" in meta:
        meta["annotations"] = dict(pod_meta.get("annotations") or {})
    pod_spec = json_clone(dict(pod.get("spec") or {}))
    template_spec = original.get("spec") or {}
    for key in _CONTROLLER_SPEC:
        if key in template_spec:
            pod_spec[key] = template_spec[key]
        else:
            pod_spec.pop(key, None)
    if claims:
        volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") not in claims]
        if volumes or "volumes" in template_spec:
            pod_spec["volumes"] = volumes
        else:
            pod_spec.pop("volumes", None)
    template["spec"] = pod_spec
    return template


def _comparable(pod: Mapping[str, Any]) -> dict[str, Any]:
    """A pod without what differs between a template and its admitted copy by construction: the marker
    label and the StatefulSet controller's hash of the template."""
    meta = dict(pod.get("metadata") or {})
    meta["labels"] = {
        k: v
        for k, v in (meta.get("labels") or {}).items()
        if k not in (c.TEMPLATE_ADMITTED_LABEL, c.STS_REVISION_LABEL)
    }
    return {**pod, "metadata": meta}
