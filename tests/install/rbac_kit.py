"""Kubernetes RBAC, for the least-privilege test: request attributes, rule matching, and an HTTP front that
authorizes every request to the embedded cluster the way a real API server with RBAC would.

The embedded cluster has no authorizer of its own (every client is an administrator), so the operator under
test talks to it through :class:`RbacProxy`: each request is turned into Kubernetes' request attributes
(verb, API group, resource, subresource, namespace, name; the rules of ``k8s.io/apiserver``'s
``RequestInfoFactory``), checked against the ClusterRoles and Roles bound to the operator's ServiceAccount,
forwarded when allowed and answered ``403 Forbidden`` otherwise, and recorded. Two checks of the real API
server beyond the request line are recorded too: a server-side apply that creates an object needs
``create`` as well as ``patch``, and an object written with an owner reference that has
``blockOwnerDeletion`` needs ``update`` on the owner's ``finalizers`` (the OwnerReferencesPermissionEnforcement
admission plugin).

The proxy also answers the TokenReviews and SubjectAccessReviews the operator makes to check who scrapes
``/metrics`` (the embedded cluster serves neither): from a table of bearer tokens and from the
installation's RBAC, as an API server's authenticator and RBAC authorizer would, once the operator's own
RBAC lets it create them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final

import aiohttp
import yaml
from aiohttp import web

Obj = dict[str, Any]

# The plural of each kind the operator names as an owner (OwnerReferencesPermissionEnforcement checks the
# owner's resource); a new owner kind fails the test until it is added here.
OWNER_PLURALS = {
    "LeaderWorkerSet": "leaderworkersets",
    "Pod": "pods",
    "StatefulSet": "statefulsets",
    "DisaggregatedSet": "disaggregatedsets",
}
#: Reviews the proxy answers itself, as the API server's authenticator and authorizer would.
REVIEWS = ("tokenreviews", "subjectaccessreviews")

# Each kind of request the operator's work makes, which a least-privilege run must have seen allowed: the
# proof that every permission is needed is only as good as the run that exercised them.
OPERATOR_WORK: Final = (
    ("patch", "statefulsets"),
    ("create", "statefulsets"),
    ("create", "controllerrevisions"),
    ("delete", "controllerrevisions"),
    ("delete", "pods"),
    ("create", "services"),
    ("patch", "leaderworkersets/status"),
    ("create", "events"),
    ("list", "nodes"),
    ("watch", "nodes"),
    ("update", "leases"),
    ("update", "mutatingwebhookconfigurations"),
    ("get", "pods"),
    ("create", "tokenreviews"),
    ("create", "subjectaccessreviews"),
    ("create", "leaderworkersets"),
    ("patch", "leaderworkersets"),
    ("delete", "leaderworkersets"),
    ("delete", "services"),
    ("patch", "disaggregatedsets/status"),
    ("create", "disaggregatedsetrolescalers"),
    ("delete", "disaggregatedsetrolescalers"),
    ("patch", "disaggregatedsetrolescalers/status"),
)
_HOP_BY_HOP = {
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "upgrade",
}


@dataclass(frozen=True, order=True)
class Attributes:
    """What RBAC decides on: one resource request, as Kubernetes' authorizers see it."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def target(self) -> str:
        """``resource`` or ``resource/subresource``, as RBAC rules name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def __str__(self) -> str:
        where = "/".join(p for p in (self.namespace, self.name) if p)
        group = self.group or "core"
        return f"{self.verb} {self.target}.{group}" + (f" {where}" if where else "")


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes | None:
    """The attributes of a request, or ``None`` for a non-resource path (discovery, /version, /openapi),
    which every authenticated client may read (the ``system:discovery`` ClusterRole)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    verb = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch"}.get(
        method.upper(), "delete"
    )
    if rest[0] == "watch":
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        else:
            namespace = rest[1]
    if not rest:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name:
        if verb == "get":
            verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
        elif verb == "delete":
            verb = "deletecollection"
    if verb in ("list", "watch") and not name:
        # A list or watch of one object by name is authorized as that name (resourceNames rules apply).
        for term in query.get("fieldSelector", "").split(","):
            key, _, value = term.partition("=")
            if key.strip() == "metadata.name" and value and not value.startswith("="):
                name = value.strip()
    return Attributes(verb, group, resource, subresource, namespace, name)


@dataclass(frozen=True)
class Rule:
    """One PolicyRule of a Role or ClusterRole; ``namespace`` is set for a Role's rules."""

    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str] = frozenset()
    namespace: str | None = None
    source: str = ""
    non_resource_urls: frozenset[str] = frozenset()

    @classmethod
    def from_policy(cls, rule: Mapping[str, Any], *, namespace: str | None, source: str) -> Rule:
        return cls(
            verbs=frozenset(rule.get("verbs") or ()),
            groups=frozenset(rule.get("apiGroups") or ()),
            resources=frozenset(rule.get("resources") or ()),
            names=frozenset(rule.get("resourceNames") or ()),
            namespace=namespace,
            source=source,
            non_resource_urls=frozenset(rule.get("nonResourceURLs") or ()),
        )

    def allows_path(self, verb: str, path: str) -> bool:
        """Kubernetes' non-resource rule matching: verb, and the path exactly or under a ``prefix*``; only
        a ClusterRole's rules (bound cluster-wide) grant non-resource URLs."""
        if self.namespace is not None or not {"*", verb} & self.verbs:
            return False
        return any(u == path or (u.endswith("*") and path.startswith(u[:-1])) for u in self.non_resource_urls)

    def allows(self, request: Attributes) -> bool:
        """Kubernetes' rule matching (``rbac/v1`` helpers): verb, group, resource, name, and for a Role the
        namespace."""
        if self.namespace is not None and request.namespace != self.namespace:
            return False
        if not ({"*", request.verb} & self.verbs and {"*", request.group} & self.groups):
            return False
        wanted = {"*", request.target}
        if request.subresource:
            wanted.add(f"*/{request.subresource}")
        if not wanted & self.resources:
            return False
        return not self.names or request.name in self.names

    def grants(self) -> Iterator[tuple[str, str, str]]:
        """Each (verb, group, resource) this rule names: the unit of "is this permission ever used"."""
        for verb in sorted(self.verbs):
            for group in sorted(self.groups):
                for resource in sorted(self.resources):
                    yield verb, group, resource


class Authorizer:
    """The rules bound to one ServiceAccount by the RoleBindings and ClusterRoleBindings of a manifest set."""

    def __init__(self, rules: Sequence[Rule], user: str) -> None:
        self.rules = list(rules)
        self.user = user

    @classmethod
    def for_service_account(cls, objects: Iterable[Obj], namespace: str, name: str) -> Authorizer:
        return cls.for_user(objects, f"system:serviceaccount:{namespace}:{name}")

    @classmethod
    def for_user(cls, objects: Iterable[Obj], user: str) -> Authorizer:
        """The rules bound to ``user`` (a ServiceAccount's ``system:serviceaccount:<ns>:<name>`` or a User)."""
        objs = list(objects)
        prefix, _, rest = user.partition("system:serviceaccount:")
        namespace, _, name = rest.partition(":") if not prefix and rest else ("", "", "")

        def names_user(subject: Mapping[str, Any]) -> bool:
            if subject.get("kind") == "User":
                return bool(subject.get("name") == user)
            return bool(
                name
                and subject.get("kind") == "ServiceAccount"
                and subject.get("name") == name
                and subject.get("namespace") == namespace
            )

        roles = {
            (o["kind"], (o["metadata"].get("namespace") or ""), o["metadata"]["name"]): o
            for o in objs
            if o.get("kind") in ("Role", "ClusterRole")
        }
        rules: list[Rule] = []
        for binding in objs:
            kind = binding.get("kind")
            if kind not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            subjects = binding.get("subjects") or []
            if not any(names_user(s) for s in subjects):
                continue
            ref = binding["roleRef"]
            binding_ns = binding["metadata"].get("namespace") if kind == "RoleBinding" else None
            role_ns = (binding_ns or "") if ref["kind"] == "Role" else ""
            role = roles.get((ref["kind"], role_ns, ref["name"]))
            if role is None:
                raise AssertionError(
                    f"{kind} {binding['metadata']['name']} refers to a missing {ref['kind']}"
                )
            source = f"{ref['kind']} {ref['name']}"
            rules += [Rule.from_policy(r, namespace=binding_ns, source=source) for r in role["rules"]]
        return cls(rules, user)

    def allows(self, request: Attributes) -> bool:
        return any(rule.allows(request) for rule in self.rules)

    def allows_path(self, verb: str, path: str) -> bool:
        return any(rule.allows_path(verb, path) for rule in self.rules)


@dataclass
class Record:
    """A request the proxy saw (or a permission one implied), and whether RBAC allowed it."""

    attributes: Attributes
    allowed: bool
    status: int | None = None
    implied_by: str = ""


def owner_finalizer_checks(request: Attributes, body: bytes) -> list[Attributes]:
    """What OwnerReferencesPermissionEnforcement checks for a write: ``update`` on ``<owner>/finalizers`` for
    every owner reference with ``blockOwnerDeletion: true``."""
    if request.verb not in ("create", "update", "patch") or not body:
        return []
    try:
        obj = yaml.safe_load(body)  # JSON is YAML; apply patches may be either
    except yaml.YAMLError:
        return []
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or [] if isinstance(obj, dict) else []
    checks: list[Attributes] = []
    for ref in refs:
        if not ref.get("blockOwnerDeletion"):
            continue
        kind = str(ref.get("kind"))
        if kind not in OWNER_PLURALS:
            raise AssertionError(f"owner kind {kind} has no plural in OWNER_PLURALS: add it")
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        checks.append(
            Attributes(
                "update", group, OWNER_PLURALS[kind], "finalizers", request.namespace, str(ref["name"])
            )
        )
    return checks


@dataclass
class RbacProxy:
    """An HTTP server in front of ``upstream`` that enforces ``authorizer`` and records every request.

    Runs on a thread and event loop of its own; use as a context manager. Streams (watches) pass through
    as they come.
    """

    upstream: str
    authorizer: Authorizer
    records: list[Record] = field(default_factory=list)
    #: What the API server's authenticator and authorizer know, for the TokenReviews and
    #: SubjectAccessReviews the proxy answers itself (the embedded cluster serves neither): bearer token ->
    #: user name, and the objects whose (Cluster)RoleBindings authorize users.
    tokens: dict[str, str] = field(default_factory=dict)
    rbac_objects: list[Obj] = field(default_factory=list)
    port: int = 0
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def snapshot(self) -> list[Record]:
        with self._lock:
            return list(self.records)

    def __enter__(self) -> RbacProxy:
        self._thread = threading.Thread(target=self._main, name="rbac-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the RBAC proxy did not start within 10s")
        if self._error is not None:
            raise AssertionError(f"the RBAC proxy failed to start: {self._error}")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
            app = web.Application(client_max_size=64 * 1024 * 1024)

            async def handle(request: web.Request) -> web.StreamResponse:
                return await self._handle(session, request)

            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await runner.cleanup()

    def _record(self, record: Record) -> None:
        with self._lock:
            self.records.append(record)

    async def _handle(self, session: aiohttp.ClientSession, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        attributes = request_attributes(request.method, request.path, request.query)
        if attributes is not None:
            checks = [attributes, *owner_finalizer_checks(attributes, body)]
            for check in checks:
                allowed = self.authorizer.allows(check)
                self._record(
                    Record(check, allowed, implied_by="" if check is attributes else str(attributes))
                )
                if not allowed:
                    return self._forbidden(check)
        if request.method == "POST" and attributes is not None and attributes.resource in REVIEWS:
            return self._review(attributes.resource, body)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = self.upstream + request.path_qs
        async with session.request(request.method, url, headers=headers, data=body or None) as upstream:
            if attributes is not None and attributes.verb == "patch" and upstream.status == 201:
                # Server-side apply created the object: the API server also requires create.
                created = Attributes(
                    "create", attributes.group, attributes.resource, "", attributes.namespace
                )
                self._record(
                    Record(created, self.authorizer.allows(created), 201, implied_by=str(attributes))
                )
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    def _review(self, resource: str, body: bytes) -> web.Response:
        """A TokenReview or SubjectAccessReview, answered from :attr:`tokens` and :attr:`rbac_objects`."""
        review = json.loads(body)
        spec = review.get("spec") or {}
        if resource == "tokenreviews":
            user = self.tokens.get(str(spec.get("token")))
            status: dict[str, Any] = {"authenticated": user is not None}
            if user is not None:
                groups = ["system:authenticated"]
                if user.startswith("system:serviceaccount:"):
                    groups.insert(0, "system:serviceaccounts")
                status["user"] = {"username": user, "groups": groups}
        else:
            authorizer = Authorizer.for_user(self.rbac_objects, str(spec.get("user")))
            non_resource = spec.get("nonResourceAttributes")
            if non_resource is not None:
                allowed = authorizer.allows_path(str(non_resource.get("verb")), str(non_resource.get("path")))
            else:
                attrs = spec.get("resourceAttributes") or {}
                allowed = authorizer.allows(
                    Attributes(
                        str(attrs.get("verb", "")),
                        str(attrs.get("group", "")),
                        str(attrs.get("resource", "")),
                        str(attrs.get("subresource", "")),
                        str(attrs.get("namespace", "")),
                        str(attrs.get("name", "")),
                    )
                )
            status = {"allowed": allowed}
            if not allowed:
                status["reason"] = "no RBAC rule allows it"
        return web.json_response({**review, "status": status}, status=201)

    def _forbidden(self, attributes: Attributes) -> web.Response:
        what = attributes.target + (f".{attributes.group}" if attributes.group else "")
        scope = (
            f' in the namespace "{attributes.namespace}"' if attributes.namespace else " at the cluster scope"
        )
        message = (
            f'{what} "{attributes.name}" is forbidden: User "{self.authorizer.user}" cannot {attributes.verb} '
            f'resource "{attributes.target}" in API group "{attributes.group}"{scope}'
        )
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "Forbidden",
            "details": {"name": attributes.name, "group": attributes.group, "kind": attributes.resource},
            "code": 403,
        }
        return web.Response(status=403, text=json.dumps(status), content_type="application/json")
