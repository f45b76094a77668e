"""What an admission webhook configuration means, as pure decisions: which requests a webhook gets, the
``AdmissionReview`` it is sent, and what its answer does.

:mod:`lws.sim.admission` does the I/O (reading configurations, calling webhooks over HTTPS); everything it
decides is decided here, on plain dicts, following the ``admissionregistration.k8s.io/v1`` API:

* ``rules``: ``apiGroups``, ``apiVersions``, ``resources`` and ``operations`` each match a value or ``*``;
  ``resources`` names a resource (``pods``: not its subresources), a subresource (``pods/status``), all
  subresources of one resource (``pods/*``), one subresource of all resources (``*/scale``), all resources
  (``*``: not subresources) or everything (``*/*``); ``scope`` is ``*``, ``Cluster`` or ``Namespaced``.
* ``matchPolicy: Equivalent`` (the default) also matches a request made through another served version of
  the same resource; the webhook then gets the object in the version its rule names.
* ``namespaceSelector`` is evaluated on the labels of the object's namespace (of the Namespace itself when
  the object is one; cluster-scoped objects always match), ``objectSelector`` on the labels of the new or
  the old object (either matching is enough).
* ``matchConditions`` (CEL expressions) are not evaluated: a webhook that has them is called as if they all
  held, which is the safe side for ``failurePolicy: Fail`` webhooks (they see more, never less).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lws.sim.selectors import SelectorError, label_selector_from_dict

__all__ = [
    "ADMISSION_REVIEW_VERSION",
    "DEFAULT_TIMEOUT_SECONDS",
    "Request",
    "Verdict",
    "WebhookCallError",
    "denial_status",
    "interpret_response",
    "matching_version",
    "may_match",
    "ordered_webhooks",
    "review_request",
    "rule_matches",
    "selectors_match",
]

ADMISSION_REVIEW_VERSION = "admission.k8s.io/v1"
DEFAULT_TIMEOUT_SECONDS = 10
# Kubernetes never sends these to webhooks, so a broken webhook cannot lock its own configuration in.
EXEMPT_GROUP_RESOURCES = frozenset(
    {
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    }
)

_OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


@dataclass(frozen=True)
class Request:
    """One write, as admission sees it (the fields of ``AdmissionReview.request`` that describe it)."""

    operation: str  # CREATE, UPDATE, DELETE, CONNECT
    group: str
    version: str
    kind: str
    resource: str  # plural
    subresource: str  # "" for the main resource
    namespaced: bool
    namespace: str  # "" when cluster-scoped
    name: str
    object: Mapping[str, Any] | None
    old_object: Mapping[str, Any] | None
    dry_run: bool = False


class WebhookCallError(Exception):
    """A webhook could not be called or answered nonsense; ``failurePolicy`` decides what that means."""


def _matches(values: Sequence[str] | None, value: str) -> bool:
    return values is not None and ("*" in values or value in values)


def _resource_matches(patterns: Sequence[str] | None, resource: str, subresource: str) -> bool:
    for pattern in patterns or ():
        if pattern == "*/*":
            return True
        name, _, sub = pattern.partition("/")
        if not sub:
            if not subresource and name in ("*", resource):
                return True
        elif subresource and (name in ("*", resource)) and (sub in ("*", subresource)):
            return True
    return False


def rule_matches(
    rule: Mapping[str, Any],
    *,
    operation: str,
    group: str,
    version: str,
    resource: str,
    subresource: str,
    namespaced: bool,
) -> bool:
    """Whether one ``RuleWithOperations`` covers a request for ``group/version/resource[/subresource]``."""
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and namespaced:
        return False
    if scope == "Namespaced" and not namespaced:
        return False
    return (
        _matches(rule.get("operations"), operation)
        and _matches(rule.get("apiGroups"), group)
        and _matches(rule.get("apiVersions"), version)
        and _resource_matches(rule.get("resources"), resource, subresource)
    )


def may_match(webhook: Mapping[str, Any], request: Request) -> bool:
    """Whether some rule of ``webhook`` names the request's operation, group and resource, whatever the
    version: a quick test before :func:`matching_version` (which may need every served version)."""
    return any(
        _matches(rule.get("operations"), request.operation)
        and _matches(rule.get("apiGroups"), request.group)
        and _resource_matches(rule.get("resources"), request.resource, request.subresource)
        for rule in webhook.get("rules") or ()
    )


def matching_version(
    webhook: Mapping[str, Any], request: Request, served_versions: Sequence[tuple[str, str]]
) -> tuple[str, str] | None:
    """The ``(version, kind)`` in which ``webhook`` wants ``request``, or ``None`` if it does not want it.

    :param served_versions: ``(version, kind)`` of every served version of the request's group-resource, in
        preference order; consulted for ``matchPolicy: Equivalent`` when no rule names the request's own.
    """

    def covered(version: str) -> bool:
        return any(
            rule_matches(
                rule,
                operation=request.operation,
                group=request.group,
                version=version,
                resource=request.resource,
                subresource=request.subresource,
                namespaced=request.namespaced,
            )
            for rule in webhook.get("rules") or ()
        )

    if covered(request.version):
        return (request.version, request.kind)
    if (webhook.get("matchPolicy") or "Equivalent") == "Equivalent":
        for version, kind in served_versions:
            if version != request.version and covered(version):
                return (version, kind)
    return None


def selectors_match(
    webhook: Mapping[str, Any], request: Request, namespace_labels: Mapping[str, str] | None
) -> bool:
    """Whether ``namespaceSelector`` and ``objectSelector`` let ``request`` through.

    :param namespace_labels: labels of the request's namespace (ignored for cluster-scoped objects other than
        Namespaces, whose own labels are used).
    :raises WebhookCallError: a selector is malformed (Kubernetes fails the request the same way).
    """
    try:
        namespace_selector = label_selector_from_dict(webhook.get("namespaceSelector") or {})
        object_selector = label_selector_from_dict(webhook.get("objectSelector") or {})
    except SelectorError as error:
        raise WebhookCallError(f"invalid selector: {error}") from error
    if request.group == "" and request.resource == "namespaces":
        own = request.object or request.old_object or {}
        if not namespace_selector.matches((own.get("metadata") or {}).get("labels")):
            return False
    elif request.namespaced and not namespace_selector.matches(namespace_labels):
        return False
    if object_selector.is_empty():
        return True
    return any(
        object_selector.matches((obj.get("metadata") or {}).get("labels"))
        for obj in (request.object, request.old_object)
        if obj is not None
    )


def _in_version(obj: Mapping[str, Any] | None, group: str, version: str) -> dict[str, Any] | None:
    if obj is None:
        return None
    converted = dict(obj)
    converted["apiVersion"] = f"{group}/{version}" if group else version
    return converted


def review_request(
    request: Request,
    *,
    uid: str,
    version: str,
    kind: str,
    user: Mapping[str, Any],
    field_manager: str | None = None,
) -> dict[str, Any]:
    """The ``AdmissionReview`` (admission.k8s.io/v1) sent to a webhook that wants ``request`` as ``version``.

    Objects are sent in ``version`` (only ``apiVersion`` changes: the served versions of a resource share one
    schema here, as with ``conversion: None``); ``requestKind``/``requestResource`` keep what the client used.
    """
    options: dict[str, Any] | None = None
    if request.operation in _OPTIONS_KIND:
        options = {"apiVersion": "meta.k8s.io/v1", "kind": _OPTIONS_KIND[request.operation]}
        if request.dry_run:
            options["dryRun"] = ["All"]
        if field_manager and request.operation != "DELETE":
            options["fieldManager"] = field_manager
    body: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": request.group, "version": version, "kind": kind},
        "resource": {"group": request.group, "version": version, "resource": request.resource},
        "requestKind": {"group": request.group, "version": request.version, "kind": request.kind},
        "requestResource": {"group": request.group, "version": request.version, "resource": request.resource},
        "name": request.name,
        "operation": request.operation,
        "userInfo": dict(user),
        "object": _in_version(request.object, request.group, version),
        "oldObject": _in_version(request.old_object, request.group, version),
        "dryRun": request.dry_run,
        "options": options,
    }
    if request.subresource:
        body["subResource"] = request.subresource
        body["requestSubResource"] = request.subresource
    if request.namespace:
        body["namespace"] = request.namespace
    return {"apiVersion": ADMISSION_REVIEW_VERSION, "kind": "AdmissionReview", "request": body}


@dataclass(frozen=True)
class Verdict:
    """What a webhook answered: allowed or not, the patch to apply (if any), and warnings for the client."""

    allowed: bool
    status: Mapping[str, Any] | None
    patch: list[dict[str, Any]] | None
    warnings: tuple[str, ...]


def interpret_response(answer: Any, uid: str) -> Verdict:
    """Read a webhook's ``AdmissionReview`` answer to the request ``uid``.

    :raises WebhookCallError: the answer is not an ``admission.k8s.io/v1`` ``AdmissionReview`` for ``uid``, or
        its patch is not a base64 ``JSONPatch`` (Kubernetes treats all of these as a failed call).
    """
    if not isinstance(answer, Mapping):
        raise WebhookCallError("the webhook answered something other than a JSON object")
    if answer.get("apiVersion") != ADMISSION_REVIEW_VERSION or answer.get("kind") != "AdmissionReview":
        raise WebhookCallError(
            f"expected webhook response of {ADMISSION_REVIEW_VERSION}, Kind=AdmissionReview, got "
            f"{answer.get('apiVersion')}, Kind={answer.get('kind')}"
        )
    response = answer.get("response")
    if not isinstance(response, Mapping):
        raise WebhookCallError("webhook response was absent")
    if response.get("uid") != uid:
        raise WebhookCallError(f"expected response.uid={uid!r}, got {response.get('uid')!r}")
    patch: list[dict[str, Any]] | None = None
    if response.get("patch"):
        if response.get("patchType") != "JSONPatch":
            raise WebhookCallError(
                f"webhook returned a patch with patchType {response.get('patchType')!r}; "
                'only "JSONPatch" is supported'
            )
        try:
            decoded = json.loads(base64.b64decode(response["patch"], validate=True))
        except (binascii.Error, ValueError, TypeError) as error:
            raise WebhookCallError(f"webhook returned a patch that is not base64 JSON: {error}") from error
        if not isinstance(decoded, list):
            raise WebhookCallError("webhook returned a JSONPatch that is not a list of operations")
        patch = decoded
    status = response.get("status")
    warnings = tuple(str(w) for w in response.get("warnings") or () if isinstance(w, str))
    return Verdict(
        bool(response.get("allowed")), status if isinstance(status, Mapping) else None, patch, warnings
    )


def denial_status(webhook_name: str, status: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``Status`` a client gets when ``webhook_name`` denies a request, built as Kubernetes builds it.

    The webhook's code is kept when it is an error code (below 400 becomes 400), its reason is kept, and the
    message reads ``admission webhook "<name>" denied the request: <message>``.
    """
    given = dict(status or {})
    code = given.get("code")
    code = code if isinstance(code, int) and code >= 400 else 400
    denied_by = f'admission webhook "{webhook_name}" denied the request'
    message, reason = given.get("message") or "", given.get("reason") or ""
    if message:
        text = f"{denied_by}: {message}"
    elif reason:
        text = f"{denied_by}: {reason}"
    else:
        text = f"{denied_by} without explanation"
    result: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": text,
        "code": code,
    }
    if reason:
        result["reason"] = reason
    if isinstance(given.get("details"), Mapping):
        result["details"] = dict(given["details"])
    return result


def ordered_webhooks(configurations: Sequence[Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """Every webhook of ``configurations`` with its name, in the order Kubernetes calls them.

    Configurations are taken by name, then each configuration's webhooks in their order.
    """

    def key(configuration: Mapping[str, Any]) -> str:
        return str((configuration.get("metadata") or {}).get("name", ""))

    return [
        (str(webhook.get("name", "")), webhook)
        for configuration in sorted(configurations, key=key)
        for webhook in configuration.get("webhooks") or ()
        if isinstance(webhook, Mapping)
    ]
