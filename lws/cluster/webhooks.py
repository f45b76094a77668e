"""The admission webhook configurations: upstream's names, paths and rules, pointing at this operator.

``lws-mutating-webhook-configuration`` and ``lws-validating-webhook-configuration`` carry upstream's
webhooks that decide something (``mleaderworkerset.kb.io``, ``mpod.kb.io``, ``vleaderworkerset.kb.io`` and
``vdisaggregatedset.kb.io``), with upstream's paths, rules, ``failurePolicy: Fail`` and ``sideEffects: None``.
``vdisaggregatedset.kb.io`` is left out with ``lws run --no-disaggregatedset-webhook``, as upstream's Helm
chart leaves it out with ``enableDisaggregatedSet: false`` (:func:`registered_webhooks`).

``mpod.kb.io`` (pod CREATE) gets the pods labelled ``leaderworkerset.sigs.k8s.io/name`` (so an outage of
the operator never blocks unrelated pods) *that still need it*: upstream's selector, plus "no
``lws.x-k8s.io/template-admitted`` label". Pods of a template the operator admitted when it built it
(:mod:`lws.core.template_admission`: a group's one worker) carry that label and are created without an
admission call. Every other group pod is sent, leaders and upstream-made pods included.

Upstream's ``vpod.kb.io`` is not registered: it decides nothing (upstream's handler allows every pod), yet
upstream calls it on every group pod's CREATE and UPDATE with ``failurePolicy: Fail`` — a request per pod
for nothing, and no group pod could be updated while no replica answers. Its path is still served, so
configurations installed with upstream's manifests keep working until a replica takes them over (it then
writes these webhooks).

Every replica serves the webhooks with its own CA (:mod:`lws.cluster.certs`) and keeps that CA in the
``caBundle`` of both configurations, next to the CAs of the other live replicas. Where the API server sends
requests:

* in a pod: the ``lws-webhook-service`` Service of the operator's namespace, which spreads them over the
  replicas;
* outside the cluster (development, tests): ``https://127.0.0.1:<port>``, the URL of one live replica; when
  it stops cleanly it hands the URL to another live replica, and the last one puts back what it found:
  it removes configurations that replicas outside a pod created, and points configurations that were
  installed (``lws manifests``: a Service) at that Service again.

A replica only ever takes out what it put in: a replica that never registered (a start that failed
before, say, on a port already in use) leaves the configurations alone on its way out, and so does one
whose CA is no longer in them. CAs of replicas that are gone (pod deleted, or nothing listening at their
URL) or that expired are pruned by whichever replica next updates the configurations.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lws.api import constants as c
from lws.api.disaggregated import constants as d
from lws.cluster.certs import CaInfo, ServingCertificate, describe_ca, split_bundle
from lws.cluster.client import Cluster
from lws.cluster.errors import AlreadyExists, ApiError, Conflict, NotFound
from lws.cluster.resources import (
    MUTATING_WEBHOOK_CONFIGURATIONS,
    PODS,
    VALIDATING_WEBHOOK_CONFIGURATIONS,
    Resource,
)
from lws.core.applied import contains

log = logging.getLogger(__name__)

ConfigKind = Literal["mutating", "validating"]


@dataclass(frozen=True)
class WebhookSpec:
    """One webhook of upstream's configurations."""

    name: str
    path: str
    group: str
    plural: str
    operations: tuple[str, ...]
    #: Only group pods that still need admission (see the module's docstring).
    group_pods_only: bool = False
    failure_policy: str = "Fail"

    @property
    def handler_id(self) -> str:
        """The id of the handler serving it: the path without its leading slash."""
        return self.path.lstrip("/")


WEBHOOKS: dict[ConfigKind, tuple[WebhookSpec, ...]] = {
    "mutating": (
        WebhookSpec(
            "mleaderworkerset.kb.io", c.WEBHOOK_PATH_MUTATE_LWS, c.GROUP, c.PLURAL, ("CREATE", "UPDATE")
        ),
        WebhookSpec("mpod.kb.io", c.WEBHOOK_PATH_MUTATE_POD, "", "pods", ("CREATE",), group_pods_only=True),
    ),
    "validating": (
        WebhookSpec(
            "vleaderworkerset.kb.io", c.WEBHOOK_PATH_VALIDATE_LWS, c.GROUP, c.PLURAL, ("CREATE", "UPDATE")
        ),
        WebhookSpec(
            d.WEBHOOK_NAME_VALIDATE, d.WEBHOOK_PATH_VALIDATE, d.GROUP, d.PLURAL, ("CREATE", "UPDATE")
        ),
    ),
}


def registered_webhooks(*, disaggregatedset: bool = True) -> dict[ConfigKind, tuple[WebhookSpec, ...]]:
    """The webhooks a replica registers: :data:`WEBHOOKS`, without ``vdisaggregatedset.kb.io`` unless
    ``disaggregatedset`` (``lws run --no-disaggregatedset-webhook``, upstream's chart with
    ``enableDisaggregatedSet: false``). Its path is served either way, so that a configuration installed
    with it keeps working while replicas switch."""
    if disaggregatedset:
        return dict(WEBHOOKS)
    return {kind: tuple(s for s in specs if s.group != d.GROUP) for kind, specs in WEBHOOKS.items()}


#: Group pods, but not those whose template was admitted already.
GROUP_PODS_TO_ADMIT: dict[str, Any] = {
    "matchExpressions": [
        {"key": c.SET_NAME_LABEL, "operator": "Exists"},
        {"key": c.TEMPLATE_ADMITTED_LABEL, "operator": "DoesNotExist"},
    ]
}
CONFIG_NAMES: dict[ConfigKind, str] = {
    "mutating": c.MUTATING_WEBHOOK_CONFIGURATION,
    "validating": c.VALIDATING_WEBHOOK_CONFIGURATION,
}
_RESOURCES: dict[ConfigKind, Resource] = {
    "mutating": MUTATING_WEBHOOK_CONFIGURATIONS,
    "validating": VALIDATING_WEBHOOK_CONFIGURATIONS,
}

#: On a configuration that a replica outside a pod created: the last such replica to leave deletes it.
CREATED_BY_ANNOTATION = "lws.x-k8s.io/webhook-created-by"
CREATED_BY_LOCAL = "lws-run-outside-a-pod"
#: On an installed configuration (pointing at a Service) that a replica outside a pod took over: the
#: Service it pointed at, as JSON, so that the last such replica to leave points it back there.
INSTALLED_SERVICE_ANNOTATION = "lws.x-k8s.io/webhook-installed-service"


@dataclass(frozen=True)
class Endpoint:
    """Where the API server reaches the webhooks: a base URL, or a Service."""

    url: str | None = None
    service_namespace: str | None = None
    service_name: str = c.WEBHOOK_SERVICE_NAME
    service_port: int = 443

    def __post_init__(self) -> None:
        if (self.url is None) == (self.service_namespace is None):
            raise ValueError("a webhook endpoint is either a URL or a Service (namespace and name)")

    def client_config(self, path: str, ca_bundle: bytes) -> dict[str, Any]:
        config: dict[str, Any]
        if self.url is not None:
            config = {"url": self.url.rstrip("/") + path}
        else:
            config = {
                "service": {
                    "namespace": self.service_namespace,
                    "name": self.service_name,
                    "path": path,
                    "port": self.service_port,
                }
            }
        config["caBundle"] = base64.b64encode(ca_bundle).decode("ascii")
        return config


def configuration(
    kind: ConfigKind,
    endpoint: Endpoint,
    ca_bundle: bytes,
    *,
    annotations: Mapping[str, str] | None = None,
    specs: Sequence[WebhookSpec] | None = None,
) -> dict[str, Any]:
    """The whole webhook configuration object of ``kind``, with ``specs`` (default: all of
    :data:`WEBHOOKS`' of that kind)."""
    webhooks: list[dict[str, Any]] = []
    for spec in WEBHOOKS[kind] if specs is None else specs:
        hook: dict[str, Any] = {
            "name": spec.name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": endpoint.client_config(spec.path, ca_bundle),
            "failurePolicy": spec.failure_policy,
            "sideEffects": "None",
            "rules": [
                {
                    "apiGroups": [spec.group],
                    "apiVersions": ["v1"],
                    "operations": list(spec.operations),
                    "resources": [spec.plural],
                }
            ],
        }
        if spec.group_pods_only:
            hook["objectSelector"] = {
                "matchExpressions": [dict(e) for e in GROUP_PODS_TO_ADMIT["matchExpressions"]]
            }
        webhooks.append(hook)
    metadata: dict[str, Any] = {"name": CONFIG_NAMES[kind], "labels": {"app.kubernetes.io/name": "lws"}}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": _RESOURCES[kind].kind,
        "metadata": metadata,
        "webhooks": webhooks,
    }


def current_bundle(config: Mapping[str, Any] | None) -> list[bytes]:
    """The certificates in the first webhook's ``caBundle`` (all webhooks carry the same one)."""
    for hook in (config or {}).get("webhooks") or []:
        encoded = (hook.get("clientConfig") or {}).get("caBundle")
        if encoded:
            try:
                return split_bundle(base64.b64decode(encoded))
            except ValueError:
                return []
    return []


def current_service(config: Mapping[str, Any] | None) -> Endpoint | None:
    """The Service the configuration points at (the first webhook's), if it points at one."""
    for hook in (config or {}).get("webhooks") or []:
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, Mapping) and service.get("namespace") and service.get("name"):
            return Endpoint(
                service_namespace=str(service["namespace"]),
                service_name=str(service["name"]),
                service_port=int(service.get("port") or 443),
            )
    return None


def installed_service(config: Mapping[str, Any] | None) -> Endpoint | None:
    """The Service an installed configuration pointed at before a replica outside a pod took it over."""
    annotations = ((config or {}).get("metadata") or {}).get("annotations") or {}
    try:
        saved = json.loads(annotations.get(INSTALLED_SERVICE_ANNOTATION) or "null")
        if not isinstance(saved, dict):
            return None
        return Endpoint(
            service_namespace=str(saved["namespace"]),
            service_name=str(saved["name"]),
            service_port=int(saved.get("port") or 443),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _service_annotation(endpoint: Endpoint) -> str:
    return json.dumps(
        {
            "namespace": endpoint.service_namespace,
            "name": endpoint.service_name,
            "port": endpoint.service_port,
        },
        sort_keys=True,
    )


def current_url(config: Mapping[str, Any] | None) -> str | None:
    """The base URL the configuration points at (the first webhook's URL without its path)."""
    for hook in (config or {}).get("webhooks") or []:
        url = (hook.get("clientConfig") or {}).get("url")
        if url:
            parts = urllib.parse.urlsplit(str(url))
            return f"{parts.scheme}://{parts.netloc}"
    return None


@dataclass(frozen=True)
class Registration:
    """What the configurations should say: the CAs to trust and where to send requests."""

    bundle: tuple[bytes, ...]
    endpoint: Endpoint

    @property
    def ca_bundle(self) -> bytes:
        return b"".join(self.bundle)


def plan_registration(
    existing: Sequence[bytes],
    existing_url: str | None,
    *,
    own: CaInfo,
    own_endpoint: Endpoint,
    alive: Collection[str],
    now: datetime,
) -> Registration:
    """Join this replica: keep live, unexpired CAs of other replicas (and foreign certificates), add ours.

    :param alive: identities of the other replicas known to be running.

    With a URL endpoint, requests keep going to the current URL while the replica owning it is alive;
    otherwise they come to us.
    """
    kept: list[bytes] = []
    url_owner_alive = False
    for pem in existing:
        info = describe_ca(pem)
        if info is None:
            kept.append(pem)  # not ours (e.g. injected for the Go controller): leave it be
            continue
        if info.pem.strip() == own.pem.strip() or info.expired(now) or info.identity not in alive:
            continue
        kept.append(pem)
        if own_endpoint.url is not None and info.url is not None and info.url == existing_url:
            url_owner_alive = True
    kept.append(own.pem)
    endpoint = own_endpoint
    if own_endpoint.url is not None and url_owner_alive and existing_url is not None:
        endpoint = Endpoint(url=existing_url)
    return Registration(tuple(kept), endpoint)


def plan_departure(
    existing: Sequence[bytes],
    existing_url: str | None,
    *,
    own: CaInfo,
    own_endpoint: Endpoint,
    now: datetime,
    installed: Endpoint | None = None,
) -> Registration | None:
    """Leave: drop our CA; hand the URL to another replica. ``None``: remove the configurations.

    In a pod (Service endpoint) the configurations stay even when no CA is left: they are part of the
    installation, and the next replica to start adds its CA.

    :param installed: the Service an installed configuration pointed at before replicas outside a pod
        took it over: the last of them to leave points it back there instead of removing it.
    """
    others = [pem for pem in existing if pem.strip() != own.pem.strip()]
    if own_endpoint.url is None:
        return Registration(tuple(others), own_endpoint)
    infos = [describe_ca(pem) for pem in others]
    live = [i for i in infos if i is not None and i.url and not i.expired(now)]
    if existing_url is not None and existing_url != own.url and others:
        return Registration(tuple(others), Endpoint(url=existing_url))
    if not live:
        if installed is not None:
            # In-pod replicas' CAs and foreign certificates stay; the Service gets the requests again.
            kept = [pem for pem, info in zip(others, infos, strict=True) if info is None or info.url is None]
            return Registration(tuple(kept), installed)
        return None
    successor = live[0].url
    assert successor is not None
    return Registration(tuple(others), Endpoint(url=successor))


async def reachable(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``url``'s host and port."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class WebhookRegistrar:
    """Keeps both configurations pointing at live replicas and trusting their CAs.

    :param certificate: this replica's CA and serving certificate.
    :param endpoint: where the API server reaches this replica (URL or Service).
    :param operator_namespace: where replica pods live, to check that a CA's owner still exists.
    :param webhooks: the webhooks to register (:func:`registered_webhooks`); any other webhook in the
        configurations is taken out when this replica joins them.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        certificate: ServingCertificate,
        endpoint: Endpoint,
        operator_namespace: str | None = None,
        webhooks: Mapping[ConfigKind, Sequence[WebhookSpec]] = WEBHOOKS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        own = describe_ca(certificate.ca_pem)
        if own is None:
            raise ValueError("the serving certificate's CA is not an lws webhook CA")
        self.cluster = cluster
        self.own = own
        self.endpoint = endpoint
        self.operator_namespace = operator_namespace
        self.webhooks = webhooks
        self._now = now
        self.registered = asyncio.Event()
        #: The configurations this replica has put its CA into (and so may have to take it out of).
        self.joined: set[ConfigKind] = set()

    async def register(self) -> None:
        """Create or update both configurations so they include this replica."""
        for kind in WEBHOOKS:
            await self._update(kind, joining=True)
        self.registered.set()

    async def unregister(self) -> None:
        """Take this replica out of the configurations it joined (see :func:`plan_departure`); never raises.

        A replica that never joined one leaves it alone: a start that failed early must not remove what
        other replicas, or the installation, put there.
        """
        self.registered.clear()
        for kind in WEBHOOKS:
            if kind not in self.joined:
                continue
            try:
                await self._update(kind, joining=False)
            except ApiError as exc:
                log.warning("could not remove this replica from %s: %s", CONFIG_NAMES[kind], exc)
            else:
                self.joined.discard(kind)

    async def run(self, *, resync: float = 300.0, max_backoff: float = 30.0) -> None:
        """Stay registered: re-check on every change to the configurations and every ``resync`` seconds.

        Transient failures (the client already retried them a few times) are retried here for as long as
        they last, with backoff; at start-up, one the API server would give again (403: the RBAC lacks a
        permission) ends the run, so that the operator stops saying why.
        """
        backoff = 1.0
        first = True
        while True:
            try:
                await self.register()
                first = False
                await self._watch_both(resync)
                backoff = 1.0
            except ApiError as exc:
                if first and not exc.retryable:
                    raise
                log.warning("webhook configurations: %s; retrying in %.0fs", exc, backoff)
                await asyncio.sleep(backoff * (1 + random.random() / 5))
                backoff = min(backoff * 2, max_backoff)

    async def _watch_both(self, resync: float) -> None:
        changed = asyncio.Event()

        async def watch(kind: ConfigKind) -> None:
            selector = f"metadata.name={CONFIG_NAMES[kind]}"
            async with contextlib.aclosing(
                self.cluster.watch(_RESOURCES[kind], field_selector=selector, timeout_seconds=int(resync))
            ) as events:
                async for event in events:
                    if event.get("type") in ("MODIFIED", "DELETED") and not self._includes_us(
                        event.get("object")
                    ):
                        changed.set()
                        return
            changed.set()

        tasks = [asyncio.create_task(watch(kind)) for kind in WEBHOOKS]
        try:
            await changed.wait()
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, ApiError):
                raise result

    def _includes_us(self, config: Mapping[str, Any] | None) -> bool:
        return any(pem.strip() == self.own.pem.strip() for pem in current_bundle(config))

    async def _alive(self, infos: Iterable[CaInfo]) -> set[str]:
        alive: set[str] = set()
        for info in infos:
            if info.identity == self.own.identity:
                continue
            if info.url is not None:
                if await reachable(info.url):
                    alive.add(info.identity)
            elif info.identity.startswith("pod/"):
                _, namespace, name = [*info.identity.split("/", 2), "", ""][:3]
                try:
                    await self.cluster.get(PODS, namespace or self.operator_namespace, name)
                    alive.add(info.identity)
                except NotFound:
                    pass
                except ApiError:
                    alive.add(info.identity)  # cannot tell: keep it
            else:
                alive.add(info.identity)
        return alive

    async def _update(self, kind: ConfigKind, *, joining: bool) -> None:
        res = _RESOURCES[kind]
        name = CONFIG_NAMES[kind]
        for _attempt in range(5):
            try:
                live: dict[str, Any] | None = await self.cluster.get(res, None, name)
            except NotFound:
                live = None
            existing = current_bundle(live)
            url = current_url(live)
            now = self._now()
            plan: Registration | None
            if joining:
                infos = [i for i in (describe_ca(p) for p in existing) if i is not None]
                alive = await self._alive(infos)
                plan = plan_registration(
                    existing,
                    url,
                    own=self.own,
                    own_endpoint=self.endpoint,
                    alive=alive,
                    now=now,
                )
            else:
                if live is None or not self._includes_us(live):
                    return  # nothing of ours left in it: someone else's to manage
                plan = plan_departure(
                    existing,
                    url,
                    own=self.own,
                    own_endpoint=self.endpoint,
                    now=now,
                    installed=installed_service(live),
                )
            try:
                if plan is None:
                    assert live is not None
                    uid = (live.get("metadata") or {}).get("uid")
                    await self.cluster.delete(res, None, name, preconditions={"uid": uid} if uid else None)
                    log.info("removed %s (last replica serving it)", name)
                    return
                annotations = self._annotations(live, plan)
                desired = configuration(
                    kind, plan.endpoint, plan.ca_bundle, annotations=annotations, specs=self.webhooks[kind]
                )
                if live is None:
                    await self.cluster.create(res, None, desired)
                    log.info("registered %s", name)
                    self._joined_now(kind, joining)
                    return
                live_annotations = (live.get("metadata") or {}).get("annotations") or {}
                if (
                    contains(live, {"webhooks": desired["webhooks"]})
                    and len(live.get("webhooks") or []) == len(desired["webhooks"])
                    and live_annotations == (annotations or {})
                ):
                    self._joined_now(kind, joining)
                    return
                metadata = {**(live.get("metadata") or {}), "annotations": annotations}
                body = {**live, "metadata": metadata, "webhooks": desired["webhooks"]}
                await self.cluster.replace(res, None, name, body)
                log.info("updated %s (%d CA(s))", name, len(plan.bundle))
                self._joined_now(kind, joining)
                return
            except (Conflict, AlreadyExists, NotFound):
                continue  # someone else changed it meanwhile: read again
        raise ApiError(f"could not update {name}: it kept changing under us (5 attempts)")

    def _joined_now(self, kind: ConfigKind, joining: bool) -> None:
        if joining:
            self.joined.add(kind)

    def _annotations(self, live: Mapping[str, Any] | None, plan: Registration) -> dict[str, str]:
        """The configuration's annotations after ``plan``: who may delete it, and what to restore.

        Created by a replica outside a pod: marked so, and the last such replica out deletes it. Installed
        (pointing at a Service) and taken over by a replica outside a pod: the Service is remembered, so
        that it gets the requests again when the last such replica leaves.
        """
        annotations = dict(((live or {}).get("metadata") or {}).get("annotations") or {})
        if plan.endpoint.url is None:
            annotations.pop(INSTALLED_SERVICE_ANNOTATION, None)
            return annotations
        if live is None:
            annotations[CREATED_BY_ANNOTATION] = CREATED_BY_LOCAL
            return annotations
        service = current_service(live)
        if (
            service is not None
            and INSTALLED_SERVICE_ANNOTATION not in annotations
            and CREATED_BY_ANNOTATION not in annotations
        ):
            annotations[INSTALLED_SERVICE_ANNOTATION] = _service_annotation(service)
        return annotations
