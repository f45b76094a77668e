"""What the admission webhooks decide, without the web server around them.

The handlers in :mod:`lws.controller.handlers` only translate between kopf and these functions.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lws.api import constants as c
from lws.api.errors import FieldError
from lws.api.validation import nesting_error
from lws.core import admission
from lws.core.disaggregated import admission as ds_admission
from lws.core.pod_mutation import PodAdmissionError, mutate_pod
from lws.hooks.manager import Hooks, PluginError
from lws.k8s.json_types import format_path, too_deep_in_text
from lws.k8s.patch import json_patch


class Denied(Exception):
    """The request must be refused; ``code`` is the HTTP status the API server reports."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Mutation:
    """The object as it should be stored."""

    obj: dict[str, Any]


def invalid_message(obj: Mapping[str, Any], errors: Sequence[FieldError]) -> str:
    """apimachinery's ``NewInvalid`` text: ``<Kind>.<group> "<name>" is invalid: [<error>, ...]``.

    An error raised by a plugin's rule says which plugin (``(plugin vllm)``), as ``lws validate`` does.
    """
    name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName") or ""
    lines = [e.described() for e in errors]
    listed = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    return f'{c.KIND}.{c.GROUP} "{name}" is invalid: {listed}'


def _refuse_too_deep(obj: Mapping[str, Any]) -> None:
    """Over-deep input is refused before anything recurses into it (a RecursionError would be a 500)."""
    error = nesting_error(obj)
    if error is not None:
        raise Denied(invalid_message(obj, [error]), 422)


def default_set(obj: Mapping[str, Any], hooks: Hooks, *, namespace: str | None) -> Mutation:
    """The mutating LeaderWorkerSet webhook: upstream's defaults, then the plugins'."""
    _refuse_too_deep(obj)
    try:
        return Mutation(admission.default(obj, hooks, namespace=namespace))
    except PluginError as exc:
        raise Denied(str(exc), 500) from exc


def validate_set(obj: Mapping[str, Any], old: Mapping[str, Any] | None, hooks: Hooks) -> None:
    """The validating LeaderWorkerSet webhook: every broken rule in one 422 denial."""
    _refuse_too_deep(obj)
    try:
        errors = admission.validate(obj, old, hooks)
    except PluginError as exc:
        raise Denied(str(exc), 500) from exc
    if errors:
        raise Denied(invalid_message(obj, errors), 422)


def mutate_group_pod(pod: Mapping[str, Any], hooks: Hooks, *, namespace: str) -> Mutation:
    """The pod mutating webhook (CREATE of pods labelled with a set name)."""
    try:
        return Mutation(mutate_pod(pod, namespace=namespace, hooks=hooks))
    except PodAdmissionError as exc:
        raise Denied(str(exc), 400) from exc
    except PluginError as exc:
        raise Denied(str(exc), 500) from exc


_REVIEW_UID = re.compile(r'"uid"\s*:\s*"((?:[^"\\]|\\.)*)"')
_REVIEW_VERSION = re.compile(r'"apiVersion"\s*:\s*"(admission\.k8s\.io/[^"]+)"')


def refuse_too_deep_review(text: str) -> dict[str, Any] | None:
    """The AdmissionReview answer refusing a request whose object nests deeper than any of ours, or
    ``None``. Judged on the raw text, before it is parsed: parsing such a body may itself exhaust the stack.

    The API server sends ``request.uid`` first (Go's field order), so the first ``uid`` is the request's.
    """
    path = too_deep_in_text(text, c.MAX_NESTING + 2)  # + the review's own levels: request.object
    if path is None:
        return None
    uid = _REVIEW_UID.search(text)
    version = _REVIEW_VERSION.search(text)
    where = path[2:] if path[:1] == ["request"] and len(path) > 2 else path
    message = (
        f"the object is invalid: {format_path(where) or '(root)'}: Invalid value: nests more than "
        f"{c.MAX_NESTING} objects and arrays deep; no LeaderWorkerSet field goes that deep: remove what is "
        "nested under it"
    )
    return {
        "apiVersion": version.group(1) if version else "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": uid.group(1) if uid else "",
            "allowed": False,
            "status": {"code": 422, "reason": "Invalid", "message": message},
        },
    }


def validate_disaggregated_set(obj: Mapping[str, Any], hooks: Hooks, *, namespace: str | None) -> list[str]:
    """The validating DisaggregatedSet webhook: its warnings, or a denial naming every broken rule.

    Upstream's validator returns its ``field.ErrorList`` as an aggregate error, which controller-runtime
    answers as a 403 denial whose message is the errors' text (one, or ``[a, b]``); so does this.
    """
    try:
        _, verdict = ds_admission.admit(obj, hooks, namespace=namespace)
    except PluginError as exc:
        raise Denied(str(exc), 500) from exc
    if verdict.errors:
        lines = [e.described() for e in verdict.errors]
        raise Denied(lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]", 403)
    return list(verdict.warnings)


def review_group_pod(review: Mapping[str, Any], hooks: Hooks) -> dict[str, Any]:
    """The answer to the pod mutating webhook's ``AdmissionReview``, built without kopf's admission engine.

    Every group pod that still needs admission comes here, so it is kept cheap: the pod as sent is mutated
    (:func:`mutate_group_pod`) and answered with the JSON patch between the two (:func:`json_patch`), not
    with a diff of deep copies. A denial answers ``allowed: false`` with the code and message of
    :class:`Denied`, as kopf would.
    """
    request = review.get("request") or {}
    pod = request.get("object") or {}
    namespace = str(request.get("namespace") or (pod.get("metadata") or {}).get("namespace") or "default")
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": True}
    try:
        mutated = mutate_group_pod(pod, hooks, namespace=namespace).obj
    except Denied as exc:
        response.update(allowed=False, status={"message": str(exc), "code": exc.code})
    else:
        ops = json_patch(pod, mutated)
        if ops:
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode("ascii")
            response["patchType"] = "JSONPatch"
    return {
        "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
        "kind": review.get("kind", "AdmissionReview"),
        "response": response,
    }


def review_allowed(review: Mapping[str, Any]) -> dict[str, Any]:
    """The answer of a webhook that allows everything (upstream's pod validating webhook)."""
    request = review.get("request") or {}
    return {
        "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
        "kind": review.get("kind", "AdmissionReview"),
        "response": {"uid": request.get("uid", ""), "allowed": True},
    }
