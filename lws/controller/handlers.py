"""kopf wiring: the admission webhooks and the login. Nothing else.

kopf serves the admission webhooks only; it watches nothing. The LeaderWorkerSet and DisaggregatedSet
webhooks are kopf handlers; the two pod webhooks, called for every group pod that needs admission, are
answered in front of kopf's admission engine (:func:`direct_pod_webhooks`), on the same server.
LeaderWorkerSets are cached by the operator's own informer (:mod:`lws.cluster.informer`), which relists
and reports what a watch gap hid, deletions included — kopf's relist does not — and is synced before any
reconcile runs. Handlers are thin: they turn admission requests into calls to
:mod:`lws.controller.admission`. kopf never writes to a LeaderWorkerSet, so it adds no progress
annotations and no finalizers: deletion is garbage collection, as upstream.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cluster.client import ConnectionDetails
from lws.controller import admission
from lws.hooks.manager import Hooks


def build_registry(
    *,
    hooks: Hooks,
    connection: Callable[[], Awaitable[ConnectionDetails]],
    webhooks: bool = True,
    warnings: Callable[[str | None, str], list[str]] = lambda _operation, _kind: [],
) -> kopf.OperatorRegistry:
    """A fresh registry with the operator's handlers (one per operator; nothing registered at import).

    :param warnings: admission warnings for an operation on a kind the operator reconciles, by kind
        (reconciling paused, see :mod:`lws.controller.management`), sent with the validation's answer.
    """
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        details = await connection()
        return kopf.ConnectionInfo(
            server=details.server,
            ca_path=details.ca_path,
            insecure=details.insecure,
            token=details.token,
            certificate_path=details.certificate_path,
            private_key_path=details.private_key_path,
            default_namespace=details.default_namespace,
        )

    if not webhooks:
        return registry

    @kopf.on.mutate(
        c.GROUP,
        c.VERSION,
        c.PLURAL,
        id=c.WEBHOOK_PATH_MUTATE_LWS.lstrip("/"),
        operations=["CREATE", "UPDATE"],
        registry=registry,
    )
    async def default_leaderworkerset(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        result = _admit(lambda: admission.default_set(body, hooks, namespace=body.metadata.namespace))
        _replace_with(patch, result.obj)

    @kopf.on.validate(
        c.GROUP,
        c.VERSION,
        c.PLURAL,
        id=c.WEBHOOK_PATH_VALIDATE_LWS.lstrip("/"),
        operations=["CREATE", "UPDATE"],
        registry=registry,
    )
    async def validate_leaderworkerset(body: kopf.Body, **kwargs: Any) -> None:
        old = kwargs.get("old")
        previous = dict(old) if old is not None and kwargs.get("operation") == "UPDATE" else None
        _admit(lambda: admission.validate_set(body, previous, hooks))
        kwargs["warnings"].extend(warnings(kwargs.get("operation"), c.KIND))

    @kopf.on.validate(
        d.GROUP,
        d.VERSION,
        d.PLURAL,
        id=d.WEBHOOK_PATH_VALIDATE.lstrip("/"),
        operations=["CREATE", "UPDATE"],
        registry=registry,
    )
    async def validate_disaggregatedset(body: kopf.Body, **kwargs: Any) -> None:
        namespace = body.metadata.namespace
        found = _admit(lambda: admission.validate_disaggregated_set(body, hooks, namespace=namespace))
        kwargs["warnings"].extend([*found, *warnings(kwargs.get("operation"), d.KIND)])

    return registry


WebhookFn = Callable[..., Awaitable[Any]]
"""kopf's admission entry point: ``(review, *, webhook, headers, sslpeer) -> response``."""


def direct_pod_webhooks(fn: WebhookFn, hooks: Hooks) -> WebhookFn:
    """Answer the two pod webhooks directly, and hand every other request to kopf's ``fn``.

    kopf's admission engine wraps each request in bodies, diffs and handler bookkeeping, then diffs deep
    copies of the object to find the patch: milliseconds per pod, for each of a group's pods that the
    StatefulSet controller creates. The pod mutation is answered with the patch it makes
    (:func:`lws.controller.admission.review_group_pod`); the pod validation, upstream's allow-all, with
    an allowance.
    """
    mutate_pod = c.WEBHOOK_PATH_MUTATE_POD.lstrip("/")
    validate_pod = c.WEBHOOK_PATH_VALIDATE_POD.lstrip("/")

    async def serve(review: Any, **kwargs: Any) -> Any:
        webhook = kwargs.get("webhook")
        if webhook == mutate_pod:
            return admission.review_group_pod(review, hooks)
        if webhook == validate_pod:
            return admission.review_allowed(review)
        return await fn(review, **kwargs)

    return serve


def _admit(decide: Callable[[], Any]) -> Any:
    try:
        return decide()
    except admission.Denied as exc:
        raise kopf.AdmissionError(str(exc), code=exc.code) from None


def _replace_with(patch: kopf.Patch, target: dict[str, Any]) -> None:
    """Make kopf answer with the JSON patch that turns the request's object into ``target``."""

    def transform(body: Any) -> None:
        body.clear()
        body.update(target)

    patch.fns.append(transform)


def configure(settings: kopf.OperatorSettings, *, server: Any | None) -> None:
    """kopf settings for an operator that only serves webhooks.

    * no peering: leader election on upstream's Lease decides who reconciles, and every replica serves
      webhooks and keeps its caches warm;
    * no scanning of CRDs and namespaces (no RBAC for it, no extra watches): the resources are known;
    * no Kubernetes events for kopf's own log lines: our recorder writes upstream's events;
    * webhook configurations are ours (:mod:`lws.cluster.webhooks`), not kopf's managed ones.
    """
    settings.peering.standalone = True
    settings.scanning.disabled = True
    settings.posting.enabled = False
    settings.admission.server = server
    settings.admission.managed = None
    settings.networking.request_timeout = 60
    objects = logging.getLogger("kopf.objects")
    objects.setLevel(logging.WARNING)
    if not any(isinstance(f, _DenialsAreNotErrors) for f in objects.filters):
        objects.addFilter(_DenialsAreNotErrors())


class _DenialsAreNotErrors(logging.Filter):
    """kopf logs every refused admission request as an ERROR; refusing bad input is our job, not a fault.
    The denial still reaches the user, in the API server's answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Webhook '") and "failed permanently" in message)
