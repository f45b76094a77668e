"""The admission webhook configurations: upstream's names, paths and rules, pointing at this operator.

``lws-mutating-webhook-configuration`` and ``lws-validating-webhook-configuration`` carry upstream's four
webhooks (``mleaderworkerset.kb.io``, ``mpod.kb.io``, ``vleaderworkerset.kb.io``, ``vpod.kb.io``), with
``failurePolicy: Fail``, ``sideEffects: None`` and, for pods, CREATE only (mutation) and the objectSelector
"has the ``leaderworkerset.sigs.k8s.io/name`` label", so an outage of the operator never blocks unrelated
pods.

Every replica serves the webhooks with its own CA (:mod:`lws.cluster.certs`) and keeps that CA in the
``caBundle`` of both configurations, next to the CAs of the other live replicas. Where the API server sends
requests:

* in a pod: the ``lws-webhook-service`` Service of the operator's namespace, which spreads them over the
  replicas;
* outside the cluster (development, tests): ``https://127.0.0.1:<port>``, the URL of one live replica; when
  it stops cleanly it hands the URL to another live replica, and the last one removes both
  configurations.

CAs of replicas that are gone (pod deleted, or nothing listening at their URL) or that expired are pruned
by whichever replica next updates the configurations.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lws.api import constants as c
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
    #: Only objects carrying the ``leaderworkerset.sigs.k8s.io/name`` label (the pod webhooks).
    group_pods_only: bool = False

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
            "vpod.kb.io", c.WEBHOOK_PATH_VALIDATE_POD, "", "pods", ("CREATE", "UPDATE"), group_pods_only=True
        ),
    ),
}
CONFIG_NAMES: dict[ConfigKind, str] = {
    "mutating": c.MUTATING_WEBHOOK_CONFIGURATION,
    "validating": c.VALIDATING_WEBHOOK_CONFIGURATION,
}
_RESOURCES: dict[ConfigKind, Resource] = {
    "mutating": MUTATING_WEBHOOK_CONFIGURATIONS,
    "validating": VALIDATING_WEBHOOK_CONFIGURATIONS,
}


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


def configuration(kind: ConfigKind, endpoint: Endpoint, ca_bundle: bytes) -> dict[str, Any]:
    """The whole webhook configuration object of ``kind``."""
    webhooks: list[dict[str, Any]] = []
    for spec in WEBHOOKS[kind]:
        hook: dict[str, Any] = {
            "name": spec.name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": endpoint.client_config(spec.path, ca_bundle),
            "failurePolicy": "Fail",
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
            hook["objectSelector"] = {"matchExpressions": [{"key": c.SET_NAME_LABEL, "operator": "Exists"}]}
        webhooks.append(hook)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": _RESOURCES[kind].kind,
        "metadata": {"name": CONFIG_NAMES[kind], "labels": {"app.kubernetes.io/name": "lws"}},
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
    existing: Sequence[bytes], existing_url: str | None, *, own: CaInfo, own_endpoint: Endpoint, now: datetime
) -> Registration | None:
    """Leave: drop our CA; hand the URL to another replica. ``None``: remove the configurations.

    In a pod (Service endpoint) the configurations stay even when no CA is left: they are part of the
    installation, and the next replica to start adds its CA.
    """
    others = [pem for pem in existing if pem.strip() != own.pem.strip()]
    if own_endpoint.url is None:
        return Registration(tuple(others), own_endpoint)
    infos = [describe_ca(pem) for pem in others]
    live = [i for i in infos if i is not None and i.url and not i.expired(now)]
    if existing_url is not None and existing_url != own.url:
        return Registration(tuple(others), Endpoint(url=existing_url)) if others else None
    if not live:
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
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        certificate: ServingCertificate,
        endpoint: Endpoint,
        operator_namespace: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        own = describe_ca(certificate.ca_pem)
        if own is None:
            raise ValueError("the serving certificate's CA is not an lws webhook CA")
        self.cluster = cluster
        self.own = own
        self.endpoint = endpoint
        self.operator_namespace = operator_namespace
        self._now = now
        self.registered = asyncio.Event()

    async def register(self) -> None:
        """Create or update both configurations so they include this replica."""
        for kind in WEBHOOKS:
            await self._update(kind, joining=True)
        self.registered.set()

    async def unregister(self) -> None:
        """Take this replica out (see :func:`plan_departure`); never raises."""
        self.registered.clear()
        for kind in WEBHOOKS:
            try:
                await self._update(kind, joining=False)
            except ApiError as exc:
                log.warning("could not remove this replica from %s: %s", CONFIG_NAMES[kind], exc)

    async def run(self, *, resync: float = 300.0) -> None:
        """Stay registered: re-check on every change to the configurations and every ``resync`` seconds."""
        await self.register()
        while True:
            try:
                await self._watch_both(resync)
                await self.register()
            except ApiError as exc:
                log.warning("webhook configurations: %s; retrying", exc)
                await asyncio.sleep(2.0)

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
                if live is None:
                    return
                plan = plan_departure(existing, url, own=self.own, own_endpoint=self.endpoint, now=now)
            try:
                if plan is None:
                    assert live is not None
                    uid = (live.get("metadata") or {}).get("uid")
                    await self.cluster.delete(res, None, name, preconditions={"uid": uid} if uid else None)
                    log.info("removed %s (last replica serving it)", name)
                    return
                desired = configuration(kind, plan.endpoint, plan.ca_bundle)
                if live is None:
                    await self.cluster.create(res, None, desired)
                    log.info("registered %s", name)
                    return
                if contains(live, {"webhooks": desired["webhooks"]}) and len(
                    live.get("webhooks") or []
                ) == len(desired["webhooks"]):
                    return
                body = {**live, "webhooks": desired["webhooks"]}
                await self.cluster.replace(res, None, name, body)
                log.info("updated %s (%d CA(s))", name, len(plan.bundle))
                return
            except (Conflict, AlreadyExists, NotFound):
                continue  # someone else changed it meanwhile: read again
        raise ApiError(f"could not update {name}: it kept changing under us (5 attempts)")
