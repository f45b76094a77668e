"""Admission webhooks: every write through the API server is sent to the matching webhooks of the cluster's
``MutatingWebhookConfiguration`` and ``ValidatingWebhookConfiguration`` objects, as Kubernetes does.

:class:`WebhookAdmission` plugs into :class:`lws.sim.apiserver.APIServer` (its ``admission`` attribute), so
writes made by the built-in controllers (the StatefulSet controller creating pods) are admitted exactly like
client requests. For each write it reads the current configurations through the in-process API (a webhook
configuration takes effect on the very next write), picks the webhooks whose rules and selectors match (see
:mod:`lws.sim.webhooks`) and POSTs an ``admission.k8s.io/v1`` ``AdmissionReview`` to each:

* mutating webhooks first, one after another in Kubernetes' order, each seeing the previous one's changes
  (base64 ``JSONPatch`` responses); then validating webhooks, concurrently. A denial becomes the webhook's
  ``Status`` (``admission webhook "x" denied the request: ...``).
* ``clientConfig.url`` is called over HTTPS trusting exactly ``clientConfig.caBundle`` (the system trust
  store when there is none). ``clientConfig.service`` cannot be reached: Services of the embedded cluster have
  no network behind them, so the call fails as unreachable and ``failurePolicy`` decides. Serve webhooks on
  a URL (kopf's ``WebhookServer`` does) to use them here.
* ``failurePolicy`` ``Fail`` (the default) turns an unreachable, slow (``timeoutSeconds``, default 10) or
  nonsensical webhook into a 500 ``failed calling webhook``; ``Ignore`` skips it.
* ``sideEffects`` other than ``None``/``NoneOnDryRun`` refuses dry-run requests (400), without a call.
* ``reinvocationPolicy: IfNeeded`` is simplified: after all mutating webhooks ran, each ``IfNeeded`` webhook
  whose output was changed by a later one is called once more, in order (Kubernetes also reinvokes after
  built-in mutating plugins, which this server does not have).
* Warnings in responses reach the client as ``Warning`` headers (:mod:`lws.sim.clientwarnings`).

Requests carry a fixed identity (``system:admin`` in ``system:masters``): the embedded cluster does not
authenticate. A write to the ``scale`` subresource is sent as the whole object, not as an ``autoscaling/v1``
``Scale``.

The webhooks are listed once and kept until either kind of configuration changes (a store listener drops
them on the commit itself, so a new configuration still takes effect on the very next write): listing
them on every write cost more than the rest of admitting most writes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp

from lws.k8s import wire
from lws.sim import errors
from lws.sim.clientwarnings import warn
from lws.sim.errors import APIError
from lws.sim.patch import PatchError
from lws.sim.patch.jsonpatch import apply_json_patch
from lws.sim.webhooks import (
    DEFAULT_TIMEOUT_SECONDS,
    EXEMPT_GROUP_RESOURCES,
    Request,
    Verdict,
    WebhookCallError,
    denial_status,
    interpret_response,
    matching_version,
    may_match,
    ordered_webhooks,
    review_request,
    selectors_match,
)

if TYPE_CHECKING:
    from lws.sim.apiserver import AdmissionAttributes, APIServer

__all__ = ["DEFAULT_USER", "WebhookAdmission"]

DEFAULT_USER: Mapping[str, Any] = {
    "username": "system:admin",
    "groups": ["system:masters", "system:authenticated"],
}
_MUTATING = ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")
_VALIDATING = ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations")
_NAMESPACES = ("", "v1", "namespaces")
_DRY_RUN_SAFE = ("None", "NoneOnDryRun")
_JSON = {"Content-Type": "application/json"}
_CONFIGURATIONS = frozenset((group, plural) for group, _, plural in (_MUTATING, _VALIDATING))


class WebhookAdmission:
    """Admission through the cluster's webhook configurations (``APIServer.admission``).

    :param api: the API server whose configurations, namespaces and served versions are consulted.
    :param user: the ``userInfo`` sent in every review.
    """

    def __init__(self, api: APIServer, *, user: Mapping[str, Any] = DEFAULT_USER) -> None:
        self._api = api
        self._user = dict(user)
        self._session: aiohttp.ClientSession | None = None
        self._tls: dict[str, ssl.SSLContext] = {}
        self._listed: dict[tuple[str, str, str], list[tuple[str, Mapping[str, Any]]]] = {}
        self._generation = 0  # configuration changes seen: a list read across one is not kept
        api.store.add_listener(self._forget_listed)

    def _forget_listed(self, group_resource: tuple[str, str], _event: Any) -> None:
        if group_resource in _CONFIGURATIONS:
            self._generation += 1
            self._listed.clear()

    async def close(self) -> None:
        """Close the HTTP connections to webhooks (call when the cluster stops)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the Admission protocol of the API server ---------------------------------------------------------

    async def mutate(self, attrs: AdmissionAttributes, obj: dict[str, Any]) -> dict[str, Any]:
        """Run the matching mutating webhooks in order; returns the object with their patches applied.

        :raises APIError: a webhook denied the request, or failed under ``failurePolicy: Fail``.
        """
        request = self._request(attrs, obj)
        hooks = await self._wanting(_MUTATING, attrs, request)
        if not hooks:
            return obj
        namespace_labels = await self._namespace_labels(request, hooks)
        current = obj
        after: list[tuple[str, Mapping[str, Any], dict[str, Any]]] = []
        for name, webhook in hooks:
            called, current = await self._mutate_once(name, webhook, request, current, namespace_labels)
            if called:
                after.append((name, webhook, current))
        for name, webhook, seen in after:
            if webhook.get("reinvocationPolicy") == "IfNeeded" and seen != current:
                _, current = await self._mutate_once(name, webhook, request, current, namespace_labels)
        return current

    async def validate(self, attrs: AdmissionAttributes, obj: dict[str, Any]) -> None:
        """Run the matching validating webhooks concurrently; the first denial in webhook order wins.

        :raises APIError: a webhook denied the request, or failed under ``failurePolicy: Fail``.
        """
        request = self._request(attrs, obj)
        hooks = await self._wanting(_VALIDATING, attrs, request)
        if not hooks:
            return  # without awaiting a gather: a write no webhook wants costs its caller no loop turn
        namespace_labels = await self._namespace_labels(request, hooks)
        outcomes = await asyncio.gather(
            *(self._consult(name, webhook, request, namespace_labels) for name, webhook in hooks),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    # -- steps ---------------------------------------------------------------------------------------------

    async def _wanting(
        self, gvr: tuple[str, str, str], attrs: AdmissionAttributes, request: Request
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The configured webhooks some rule of which names the request's operation and resource.

        Most writes (status, bindings, other resources) are wanted by none: they return here without
        suspending, as kube-apiserver skips such webhooks before dispatching any call.
        """
        return [
            (name, webhook)
            for name, webhook in await self._webhooks(gvr, attrs)
            if may_match(webhook, request)
        ]

    async def _webhooks(
        self, gvr: tuple[str, str, str], attrs: AdmissionAttributes
    ) -> list[tuple[str, Mapping[str, Any]]]:
        if attrs.resource.group_resource in EXEMPT_GROUP_RESOURCES:
            return []
        listed = self._listed.get(gvr)
        if listed is None:
            generation = self._generation
            configurations = await self._api.list(gvr)
            listed = ordered_webhooks(configurations.get("items") or [])
            if generation == self._generation:
                self._listed[gvr] = listed
        return listed

    def _request(self, attrs: AdmissionAttributes, obj: dict[str, Any]) -> Request:
        resource = attrs.resource
        deleting = attrs.operation == "DELETE"
        return Request(
            operation=attrs.operation,
            group=resource.group,
            version=resource.version,
            kind=resource.kind,
            resource=resource.plural,
            subresource=attrs.subresource or "",
            namespaced=resource.namespaced,
            namespace=attrs.namespace or "",
            name=attrs.name or str((obj.get("metadata") or {}).get("name", "")),
            object=None if deleting else obj,
            old_object=(attrs.old or obj) if deleting else attrs.old,
            dry_run=attrs.dry_run,
        )

    async def _namespace_labels(
        self, request: Request, hooks: list[tuple[str, Mapping[str, Any]]]
    ) -> Mapping[str, str] | None:
        wanted = any(webhook.get("namespaceSelector") for _, webhook in hooks)
        if not (wanted and request.namespaced and request.namespace):
            return None
        try:
            namespace = await self._api.get(_NAMESPACES, None, request.namespace)
        except APIError:
            return None
        labels = (namespace.get("metadata") or {}).get("labels")
        return labels if isinstance(labels, Mapping) else None

    async def _mutate_once(
        self,
        name: str,
        webhook: Mapping[str, Any],
        request: Request,
        current: dict[str, Any],
        namespace_labels: Mapping[str, str] | None,
    ) -> tuple[bool, dict[str, Any]]:
        if request.object is not None:
            request = replace(request, object=current)
        verdict = await self._consult(name, webhook, request, namespace_labels)
        if verdict is None:
            return False, current
        if not verdict.patch or request.object is None:
            return True, current
        try:
            patched = apply_json_patch(current, verdict.patch)
        except PatchError as error:
            raise errors.internal(
                f'admission webhook "{name}" returned a JSON patch that does not apply: {error}'
            ) from error
        if not isinstance(patched, dict):
            raise errors.internal(
                f'admission webhook "{name}" patched the object into something not an object'
            )
        return True, patched

    async def _consult(
        self,
        name: str,
        webhook: Mapping[str, Any],
        request: Request,
        namespace_labels: Mapping[str, str] | None,
    ) -> Verdict | None:
        """Call ``webhook`` if it wants ``request``; its verdict, or ``None`` when not called or ignored."""
        if not may_match(webhook, request):
            return None  # decided without listing the resource's served versions (most requests)
        served = [
            (r.version, r.kind) for r in self._api.registry.versions_of((request.group, request.resource))
        ]
        wanted = matching_version(webhook, request, served)
        if wanted is None:
            return None
        ignore_failures = webhook.get("failurePolicy") == "Ignore"
        try:
            if not selectors_match(webhook, request, namespace_labels):
                return None
        except WebhookCallError as error:
            if ignore_failures:
                return None
            raise errors.internal(f'failed calling webhook "{name}": {error}') from error
        if request.dry_run and webhook.get("sideEffects") not in _DRY_RUN_SAFE:
            raise errors.bad_request(f'admission webhook "{name}" does not support dry run')
        uid = str(uuid.uuid4())
        version, kind = wanted
        review = review_request(request, uid=uid, version=version, kind=kind, user=self._user)
        try:
            verdict = interpret_response(await self._post(webhook, review), uid)
        except WebhookCallError as error:
            if ignore_failures:
                return None
            raise errors.internal(f'failed calling webhook "{name}": {error}') from error
        for text in verdict.warnings:
            warn(text)
        if not verdict.allowed:
            raise APIError(denial_status(name, verdict.status))
        return verdict

    # -- transport -----------------------------------------------------------------------------------------

    async def _post(self, webhook: Mapping[str, Any], review: Mapping[str, Any]) -> Any:
        client = webhook.get("clientConfig") or {}
        url = client.get("url")
        if not url:
            service = client.get("service") or {}
            where = f"{service.get('namespace', '')}/{service.get('name', '')}"
            raise WebhookCallError(
                f'failed to call webhook: service "{where}" cannot be reached from the embedded cluster, '
                "which runs no Service network; configure clientConfig.url instead"
            )
        timeout = webhook.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS
        target = f"{url}{'&' if '?' in url else '?'}timeout={timeout}s"
        tls = self._tls_context(client.get("caBundle")) if url.startswith("https:") else None
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession()
        try:
            async with session.post(
                target,
                data=wire.dumps(review),
                headers=_JSON,
                ssl=tls if tls is not None else True,
                timeout=aiohttp.ClientTimeout(total=float(timeout)),
            ) as response:
                body = await response.read()
                if response.status != 200:
                    raise WebhookCallError(
                        f'failed to call webhook: Post "{target}": the server responded with status '
                        f"{response.status}: {body[:200].decode(errors='replace')}"
                    )
        except TimeoutError as error:
            raise WebhookCallError(
                f'failed to call webhook: Post "{target}": context deadline exceeded'
            ) from error
        except aiohttp.ClientError as error:
            raise WebhookCallError(f'failed to call webhook: Post "{target}": {error}') from error
        try:
            return json.loads(body)
        except ValueError as error:
            raise WebhookCallError(f"the webhook answered with invalid JSON: {error}") from error

    def _tls_context(self, ca_bundle: Any) -> ssl.SSLContext:
        key = str(ca_bundle or "")
        context = self._tls.get(key)
        if context is None:
            if not key:
                context = ssl.create_default_context()
            else:
                try:
                    pem = base64.b64decode(key, validate=True).decode()
                    context = ssl.create_default_context(cadata=pem)
                except (binascii.Error, UnicodeDecodeError, ssl.SSLError, ValueError) as error:
                    raise WebhookCallError(
                        f"clientConfig.caBundle is not a base64 PEM bundle: {error}"
                    ) from error
            self._tls[key] = context
        return context
