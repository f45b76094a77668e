"""The HTTP face of the embedded API server: Kubernetes REST paths and query parameters mapped onto
:class:`~lws.sim.apiserver.APIServer`, discovery, health, and the ``/sim/v1`` control endpoints.

Only JSON (and YAML request bodies) is spoken; ``kubectl``, kopf and the official client all accept that.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from lws.k8s import wire
from lws.sim import discovery, errors, protobuf, tables
from lws.sim.apifaults import APIFaults
from lws.sim.apiserver import APPLY_PATCH, PATCH_TYPES, APIServer
from lws.sim.clientwarnings import collecting_warnings, header_value, warn
from lws.sim.errors import APIError
from lws.sim.fieldvalidation import decode_fields
from lws.sim.resources import CONTAINER_STREAMS, ResourceType

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_JSON_HEADERS = {"Content-Type": "application/json"}
_WATCH_TRUE = ("true", "1")


@dataclass(frozen=True)
class Target:
    """What a REST path names."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    watch_prefix: bool = False

    @property
    def gvr(self) -> tuple[str, str, str]:
        """``(group, version, plural)``."""
        return (self.group, self.version, self.plural)


def parse_path(path: str) -> Target | None:
    """Map a resource path (``/api/v1/namespaces/x/pods/y/status``...) to a :class:`Target`, or None."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch_prefix = bool(rest) and rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
    if not rest:
        return None
    namespace: str | None = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
    ):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    return Target(
        group=group,
        version=version,
        plural=rest[0],
        namespace=namespace,
        name=rest[1] if len(rest) > 1 else None,
        subresource=rest[2] if len(rest) > 2 else None,
        watch_prefix=watch_prefix,
    )


#: A watch batch is written in pieces of about this size, so that a large initial list does not sit in memory
#: twice over.
_WRITE_BYTES = 1 << 20


def _json_response(body: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(
        body=wire.dumps(body),
        status=status,
        headers={"Content-Type": content_type},
    )


def error_response(error: APIError) -> web.Response:
    """The ``Status`` body and code for ``error`` (with ``Retry-After`` when the error carries one)."""
    response = _json_response(error.status, status=error.code)
    retry = (error.status.get("details") or {}).get("retryAfterSeconds")
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


def _flag(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    return value.lower() in _WATCH_TRUE


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f"{name} must be an integer, got {value!r}") from None


def _dry_run(request: web.Request, options: Mapping[str, Any] | None = None) -> bool:
    values = list(request.query.getall("dryRun", []))
    values += list((options or {}).get("dryRun") or [])
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'unsupported dry run value "{value}": the only supported value is "All"'
            )
    return bool(values)


class HTTPFrontend:
    """Builds the aiohttp application serving one :class:`APIServer`."""

    def __init__(self, api: APIServer, *, faults: APIFaults | None = None, server_address: str = "") -> None:
        self.api = api
        self.faults = faults if faults is not None else APIFaults(api)
        self.server_address = server_address
        self._control: dict[tuple[str, str], ControlHandler] = {}
        self._openapi: Callable[[str, str], tuple[bytes, str] | None] | None = None
        for (method, path), handler in self.faults.control_routes().items():
            self.add_control_route(method, path, handler)

    def add_control_route(self, method: str, path: str, handler: ControlHandler) -> None:
        """Serve ``method path`` (under ``/sim/v1/``) with ``handler`` (used by fault modules)."""
        self._control[(method.upper(), path.rstrip("/"))] = handler

    def set_openapi(self, documents: Callable[[str, str], tuple[bytes, str] | None]) -> None:
        """Serve ``/openapi/...`` from ``documents(path, accept)``: body and content type, or None for 404
        (:meth:`lws.sim.openapi.OpenAPIDocuments.respond`)."""
        self._openapi = documents

    def application(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    # -- dispatch --------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        with collecting_warnings() as warnings:
            response = await self._answer(request)
        if not response.prepared:  # a watch has sent its headers already
            for text in warnings:
                response.headers.add("Warning", header_value(text))
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except APIError as error:
            return error_response(error)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except RecursionError:
            # Kubernetes takes objects nested up to MAX_JSON_DEPTH levels; this server walks objects
            # recursively and the interpreter's recursion limit (process-wide, so not raised here: other
            # threads would lose their guard against overflowing the C stack) ends it sooner.
            too_deep = errors.status(413, "RequestEntityTooLarge", f"Request entity too large: {_TOO_DEEP}")
            return error_response(APIError(too_deep))
        except Exception as exc:  # a bug in the server must still answer like Kubernetes does
            return error_response(errors.internal(f"{type(exc).__name__}: {exc}"))

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/readyz", "/livez") or path.startswith(("/healthz/", "/readyz/", "/livez/")):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return _json_response(discovery.KUBERNETES_VERSION)
        if path.startswith("/sim/v1/"):
            handler = self._control.get((request.method, path))
            if handler is None:
                raise errors.resource_not_found(path)
            return await handler(request)
        if path.startswith("/openapi/"):
            accept = request.headers.get("Accept", "")
            found = self._openapi(path, accept) if self._openapi is not None else None
            if found is None:
                raise errors.resource_not_found(path)
            body, content_type = found
            return web.Response(body=body, headers={"Content-Type": content_type})
        discovered = self._discovery(request, path)
        if discovered is not None:
            return discovered
        target = parse_path(path)
        if target is None:
            raise errors.resource_not_found(path)
        return await self._resource(request, target)

    def _discovery(self, request: web.Request, path: str) -> web.Response | None:
        if request.method != "GET":
            return None
        accept = request.headers.get("Accept", "")
        registry = self.api.registry
        if path in ("/api", "/apis"):
            if discovery.wants_aggregated(accept):
                body = discovery.aggregated(registry, legacy=path == "/api")
                return _json_response(body, content_type=discovery.AGGREGATED_MEDIA_TYPE)
            if path == "/api":
                return _json_response(discovery.api_versions(self.server_address))
            return _json_response(discovery.api_group_list(registry))
        parts = [part for part in path.split("/") if part]
        if parts[0] == "api" and len(parts) == 2:
            found = discovery.api_resource_list(registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            found = discovery.api_group(registry, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            found = discovery.api_resource_list(registry, parts[1], parts[2])
        else:
            return None
        if found is None:
            raise errors.resource_not_found(path)
        return _json_response(found)

    # -- resources -------------------------------------------------------------------------------

    async def _resource(self, request: web.Request, target: Target) -> web.StreamResponse:
        resource = self.api.resource(target.gvr)
        if not resource.namespaced and target.namespace is not None:
            raise errors.resource_not_found(request.path)
        verb = self._verb(request, target)
        await self.faults.before_request(verb, resource, target.subresource, target.namespace, target.name)
        if target.subresource in CONTAINER_STREAMS and resource.gvr == ("", "v1", "pods"):
            raise await self._no_containers(target)
        if verb == "watch":
            return await self._watch(request, target, resource)
        if verb == "list":
            return self._list(request, target, resource)
        if verb == "get":
            obj = await self.api.get(
                target.gvr, target.namespace, target.name or "", subresource=target.subresource
            )
            return self._object_response(request, resource, obj)
        if verb == "create":
            body = self._check_fields(request, resource, target, await self._body(request))
            created = await self.api.create(
                target.gvr,
                target.namespace,
                body,
                dry_run=_dry_run(request),
                field_manager=_manager(request),
                subresource=target.subresource,
                name=target.name,
            )
            return _json_response(created, status=201)
        if verb == "update":
            body = self._check_fields(request, resource, target, await self._body(request))
            updated = await self.api.update(
                target.gvr,
                target.namespace,
                target.name or "",
                body,
                subresource=target.subresource,
                dry_run=_dry_run(request),
                field_manager=_manager(request),
            )
            return _json_response(updated)
        if verb == "patch":
            return await self._patch(request, target)
        if verb == "delete":
            return await self._delete(request, target)
        if verb == "deletecollection":
            options = await self._options(request)
            deleted = await self.api.delete_collection(
                target.gvr,
                target.namespace,
                label_selector=request.query.get("labelSelector"),
                field_selector=request.query.get("fieldSelector"),
                propagation_policy=_propagation(request, options),
                grace_period_seconds=_grace(request, options),
                dry_run=_dry_run(request, options),
            )
            return _json_response(deleted)
        raise errors.method_not_allowed(f"{request.method} is not supported on {request.path}")

    @staticmethod
    def _verb(request: web.Request, target: Target) -> str:
        method = request.method
        collection = target.name is None
        if method == "GET":
            if collection:
                return "watch" if target.watch_prefix or _flag(request, "watch") else "list"
            return "watch" if target.watch_prefix else "get"
        if method == "POST":
            return "create"
        if method == "PUT" and not collection:
            return "update"
        if method == "PATCH" and not collection:
            return "patch"
        if method == "DELETE":
            return "deletecollection" if collection else "delete"
        raise errors.method_not_allowed(f"{method} is not supported on {request.path}")

    def _list(self, request: web.Request, target: Target, resource: ResourceType) -> web.Response:
        listed = self.api.list_raw(
            target.gvr,
            target.namespace,
            label_selector=request.query.get("labelSelector"),
            field_selector=request.query.get("fieldSelector"),
            limit=_int_param(request, "limit"),
            continue_=request.query.get("continue"),
            resource_version=request.query.get("resourceVersion"),
            resource_version_match=request.query.get("resourceVersionMatch"),
        )
        if tables.wants_table(request.headers.get("Accept", "")):
            return _json_response(
                tables.table(
                    resource,
                    listed["items"],
                    list_meta=listed["metadata"],
                    include_object=request.query.get("includeObject", "Metadata"),
                )
            )
        return _json_response(listed)

    def _object_response(
        self, request: web.Request, resource: ResourceType, obj: dict[str, Any]
    ) -> web.Response:
        if obj.get("kind") == resource.kind and tables.wants_table(request.headers.get("Accept", "")):
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            include = request.query.get("includeObject", "Metadata")
            return _json_response(tables.table(resource, [obj], list_meta=meta, include_object=include))
        return _json_response(obj)

    async def _watch(
        self, request: web.Request, target: Target, resource: ResourceType
    ) -> web.StreamResponse:
        field_selector = request.query.get("fieldSelector")
        if target.name is not None:
            by_name = f"metadata.name={target.name}"
            field_selector = f"{field_selector},{by_name}" if field_selector else by_name
        timeout = _int_param(request, "timeoutSeconds")
        stream = self.api.watch_batches(
            target.gvr,
            target.namespace,
            label_selector=request.query.get("labelSelector"),
            field_selector=field_selector,
            resource_version=request.query.get("resourceVersion"),
            allow_bookmarks=bool(_flag(request, "allowWatchBookmarks")),
            timeout_seconds=timeout,
            send_initial_events=_flag(request, "sendInitialEvents"),
        )
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        response = web.StreamResponse(status=200, headers=_JSON_HEADERS)
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            async for line in _encoded(
                stream, resource, as_table, request.query.get("includeObject", "Metadata")
            ):
                await response.write(line)
        except (ConnectionResetError, ConnectionError):
            return response
        await response.write_eof()
        return response

    async def _patch(self, request: web.Request, target: Target) -> web.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type not in PATCH_TYPES:
            raise errors.unsupported_media_type(content_type, PATCH_TYPES)
        body = await self._body(request, yaml_ok=content_type == APPLY_PATCH)
        force = bool(_flag(request, "force"))
        manager = request.query.get("fieldManager")
        if content_type == APPLY_PATCH and not manager:
            raise errors.bad_request("PATCH with server-side apply requires the fieldManager query parameter")
        manager = manager or _manager(request)
        body = self._check_fields(request, self.api.resource(target.gvr), target, body, content_type)
        # Server-side apply creates missing objects, and answers 201 when it does.
        created = content_type == APPLY_PATCH and not self._exists(target)
        patched = await self.api.patch(
            target.gvr,
            target.namespace,
            target.name or "",
            body,
            content_type,
            subresource=target.subresource,
            dry_run=_dry_run(request),
            field_manager=manager,
            force=force,
        )
        return _json_response(patched, status=201 if created else 200)

    @staticmethod
    def _check_fields(
        request: web.Request, resource: ResourceType, target: Target, body: Any, patch_type: str | None = None
    ) -> Any:
        """``fieldValidation``: refuse (Strict) or warn about (Warn) fields the schema does not know; returns
        the body without a built-in kind's unknown fields, which its typed decoder would drop."""
        if target.subresource not in (None, "status"):
            return body
        kept, warnings = decode_fields(
            request.query.get("fieldValidation"), resource, body, patch_type=patch_type
        )
        for text in warnings:
            warn(text)
        return kept

    def _exists(self, target: Target) -> bool:
        resource = self.api.resource(target.gvr)
        namespace = (target.namespace or "") if resource.namespaced else ""
        return self.api.store.get(resource.storage, namespace, target.name or "") is not None

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        options = await self._options(request)
        preconditions = (
            options.get("preconditions") if isinstance(options.get("preconditions"), dict) else None
        )
        result = await self.api.delete(
            target.gvr,
            target.namespace,
            target.name or "",
            propagation_policy=_propagation(request, options),
            grace_period_seconds=_grace(request, options),
            preconditions=preconditions,
            dry_run=_dry_run(request, options),
        )
        return _json_response(result)

    # -- bodies ----------------------------------------------------------------------------------

    async def _body(self, request: web.Request, *, yaml_ok: bool = False) -> Any:
        raw = await request.read()
        content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
        _check_depth(raw, lambda: self._kind_of(request.path))
        if content_type == protobuf.MEDIA_TYPE:
            # kubectl's generators (create namespace, configmap...) send built-ins as protobuf.
            try:
                return protobuf.decode_object(raw)
            except protobuf.ProtobufError as exc:
                if exc.unsupported:
                    raise APIError(errors.status(415, "UnsupportedMediaType", str(exc))) from exc
                raise errors.bad_request(f"the request body is not valid Kubernetes protobuf: {exc}") from exc
        if "protobuf" in content_type:
            raise errors.unsupported_media_type(content_type, ("application/json", "application/yaml"))
        try:
            if yaml_ok or content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
                return _load_yaml(raw)
            return json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"the request body is not valid JSON or YAML: {exc}") from exc

    async def _no_containers(self, target: Target) -> APIError:
        """The answer to ``kubectl logs/exec/attach/port-forward``: the pod may exist, no container does."""
        await self.api.get(target.gvr, target.namespace, target.name or "")  # 404 for a missing pod, as usual
        command = {"log": "logs", "portforward": "port-forward"}.get(
            target.subresource or "", target.subresource or ""
        )
        return errors.bad_request(
            f'pod "{target.name}" has no running container to {_STREAM_VERBS[command]}: the embedded cluster '
            f"(lws.sim) simulates pods without running any container, so kubectl {command} has nothing to "
            f"connect to. Read the pod's status and events instead (kubectl describe pod {target.name}), or "
            "run it against a real cluster"
        )

    def _kind_of(self, path: str) -> str:
        """The kind a write to ``path`` sends (for messages)."""
        target = parse_path(path)
        resource = self.api.registry.get(target.gvr) if target is not None else None
        return resource.kind if resource is not None else "the requested kind"

    async def _options(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        body = await self._body(request)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise errors.bad_request("DeleteOptions must be a JSON object")
        return body


_STREAM_VERBS = {
    "logs": "read logs from",
    "exec": "run a command in",
    "attach": "attach to",
    "port-forward": "forward ports to",
}

_TOO_DEEP = (
    "the request body nests too deeply for the embedded cluster, which handles objects a few hundred levels "
    "deep (Kubernetes takes up to 10,000): flatten the object, or use a real cluster for it"
)

MAX_JSON_DEPTH = 10_000
"""How deeply a request body may nest objects and arrays: the limit of Kubernetes' JSON decoders (Go's
``encoding/json`` and ``sigs.k8s.io/json``)."""
_EXCEEDED_DEPTH = "invalid character '{' exceeded max depth"
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def _check_depth(raw: bytes, kind: Callable[[], str]) -> None:
    """Refuse (400, as Kubernetes' decoder does) a body nesting deeper than :data:`MAX_JSON_DEPTH`."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_JSON_DEPTH:
        return  # cannot be deeper than it has brackets: the common case costs two C-speed counts
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b"", raw)):
        if bracket in (b"{", b"["):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    if deepest > MAX_JSON_DEPTH:
        summary = raw[:30].decode(errors="replace") + (" ..." if len(raw) > 30 else "")
        raise errors.bad_request(
            f"the object provided is unrecognized (must be of type {kind()}): couldn't get "
            f"version/kind; json parse error: {_EXCEEDED_DEPTH} ({summary})"
        )


def _manager(request: web.Request) -> str:
    """``fieldManager``, or (as Kubernetes does) the User-Agent up to its first ``/``."""
    explicit = request.query.get("fieldManager")
    if explicit:
        return explicit
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0].strip() or "unknown"


def _propagation(request: web.Request, options: Mapping[str, Any]) -> str | None:
    policy = request.query.get("propagationPolicy") or options.get("propagationPolicy")
    if policy is None:
        orphan = options.get("orphanDependents")
        if orphan is None:
            orphan = _flag(request, "orphanDependents")
        if orphan is True:
            return "Orphan"
    return policy if isinstance(policy, str) else None


def _grace(request: web.Request, options: Mapping[str, Any]) -> int | None:
    from_query = _int_param(request, "gracePeriodSeconds")
    if from_query is not None:
        return from_query
    value = options.get("gracePeriodSeconds")
    return int(value) if isinstance(value, int) else None


async def _encoded(
    batches: AsyncIterator[list[dict[str, Any]]], resource: ResourceType, as_table: bool, include_object: str
) -> AsyncIterator[bytes]:
    """Each batch of events as lines of JSON, in one write (or a few, for a batch over ``_WRITE_BYTES``):
    a write per event cost the cluster's loop, and the client's, a transport call and a read each."""
    columns = tables.columns_for(resource) if as_table else None
    first = True
    async for batch in batches:
        lines: list[bytes] = []
        size = 0
        for raw in batch:
            event = raw
            if as_table and raw["type"] in ("ADDED", "MODIFIED", "DELETED"):
                event = {
                    "type": raw["type"],
                    "object": tables.table(
                        resource,
                        [raw["object"]],
                        include_object=include_object,
                        columns=columns,
                        with_definitions=first,
                    ),
                }
                first = False
            line = wire.dumps(event) + b"\n"
            lines.append(line)
            size += len(line)
            if size >= _WRITE_BYTES:
                yield b"".join(lines)
                lines, size = [], 0
        if lines:
            yield b"".join(lines)


def _load_yaml(raw: bytes) -> Any:
    """A YAML body. kubectl sends server-side apply bodies as JSON (which is YAML): parsed as such first,
    since a large one (a CRD embedding the pod schema) takes seconds through PyYAML's pure-Python parser."""
    text = raw.decode() or "null"
    try:
        return json.loads(text)
    except ValueError:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
