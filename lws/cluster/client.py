"""A typed async client for the few calls the operator makes: the operator's port to the API server.

Objects travel as plain JSON dicts, exactly as the API server sends them (no model round trip, no lost
fields). The bytes move through a :class:`Transport`; the real one (:mod:`lws.cluster.kube`) is the
official ``kubernetes.aio`` client, with its authentication, TLS and kubeconfig handling, and only the
composition root (``lws run``, test harnesses) imports it, so nothing above this layer depends on the
``kubernetes`` package. Every request is:

* counted in a :class:`RequestLog` (tests assert API cost with it: "a converged set makes no writes");
* passed to the client's observers and to the caller's :class:`CallContext`, the telemetry seam: a tracer
  opens a span around each call there, a metrics sink counts by verb and code. Both are no-ops unless
  someone plugs them in;
* sent again when it failed in a way that passes (:class:`RetryPolicy`): throttling, server errors and
  timeouts, a lost connection. One policy for every caller, start-up included, so that no caller needs a
  try/except of its own for a single 429 or 504. Each attempt is a request of its own in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import Counter, deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from lws.cluster import resources
from lws.cluster.errors import ApiError, NotFound, from_response
from lws.cluster.resources import Resource
from lws.k8s import wire

PatchType = Literal["merge", "json", "strategic", "apply"]
_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
WRITE_VERBS = frozenset({"create", "update", "patch", "apply", "delete"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Which failed requests are sent again, and when.

    Retried: 429 (throttled), 500, 502, 503, 504 and a request that could not be made or whose connection
    broke (``ApiError.retryable``), with exponential backoff and jitter, as client-go's ``wait.Backoff``;
    a ``Retry-After`` from the server is honoured when it asks for longer. Writes are retried too: every
    object the operator creates has a fixed name, so a create that did land the first time answers
    ``AlreadyExists``, and updates carry a resourceVersion (``Conflict``), which the callers handle anyway.

    Never retried: what would fail again (400, 403, 404, 409, 422...), and watch streams (the informers
    resume them with their own backoff).

    :ivar attempts: requests in all, the first included.
    :ivar deadline: no new attempt once this many seconds have passed since the first (a ``Retry-After``
        that would end later than that is not waited for).
    """

    attempts: int = 5
    initial: float = 0.1
    factor: float = 2.0
    cap: float = 5.0
    jitter: float = 0.2
    deadline: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False, repr=False)

    def delay(self, error: ApiError, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` after ``error``; ``None``: give up, raise it."""
        if not error.retryable or attempt >= self.attempts:
            return None
        backoff = min(self.cap, self.initial * self.factor ** (attempt - 1))
        wait = backoff * (1 + self.jitter * random.random())
        if error.retry_after is not None:
            wait = max(wait, error.retry_after)
        if elapsed + wait > self.deadline:
            return None
        return wait


#: One attempt only: for callers that run their own retry loop on a clock of their own.
NO_RETRY = RetryPolicy(attempts=1)


@dataclass
class ApiCall:
    """One request, as observers see it; ``status`` and ``seconds`` are filled in when it ends."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    status: int | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS

    @property
    def target(self) -> str:
        """``statefulsets`` or ``leaderworkersets/status``: the resource and subresource called."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


class CallContext(Protocol):
    """Whoever makes a call on behalf of a reconcile: gets to wrap each API call (a span, a log line)."""

    def api_call(self, call: ApiCall) -> AbstractContextManager[None]:
        """Entered before the request is sent and exited when it has ended (``call`` is then complete)."""
        ...


ApiObserver = Callable[[ApiCall], AbstractContextManager[None]]
"""A process-wide observer of every call (metrics); same contract as :meth:`CallContext.api_call`."""


class RequestLog:
    """Every request this client made (bounded), with counters by verb and target.

    Tests take a :meth:`mark` and then ask what happened since, e.g. ``log.writes(since=mark)``.
    """

    def __init__(self, maxlen: int = 200_000) -> None:
        self._calls: deque[ApiCall] = deque(maxlen=maxlen)
        self._total = 0
        self.counts: Counter[tuple[str, str]] = Counter()

    def record(self, call: ApiCall) -> None:
        self._calls.append(call)
        self._total += 1
        self.counts[(call.verb, call.target)] += 1

    def mark(self) -> int:
        """A position to pass to ``since=``."""
        return self._total

    def calls(self, *, since: int = 0) -> list[ApiCall]:
        """Calls recorded after ``since`` (as far back as the log reaches)."""
        skip = max(0, since - (self._total - len(self._calls)))
        return list(self._calls)[skip:]

    def writes(self, *, since: int = 0) -> list[ApiCall]:
        return [call for call in self.calls(since=since) if call.is_write]


@dataclass(frozen=True)
class ConnectionDetails:
    """How to reach the API server, for components that open their own connections (kopf)."""

    server: str
    ca_path: str | None = None
    insecure: bool = False
    token: str | None = None
    certificate_path: str | None = None
    private_key_path: str | None = None
    default_namespace: str | None = None


@dataclass
class ClusterConfig:
    """Where the kubeconfig came from, for log lines and errors."""

    source: str
    in_cluster: bool = False
    namespace: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Response(Protocol):
    """An HTTP reply from a :class:`Transport`; release it when done (streams stay open until then)."""

    status: int

    async def read(self) -> bytes:
        """The whole body."""
        ...

    async def readline(self) -> bytes:
        """The next line of a streamed body; ``b""`` at its end."""
        ...

    def header(self, name: str) -> str | None:
        """A response header (case-insensitive), or ``None``."""
        ...

    def release(self) -> None: ...


class Transport(Protocol):
    """Sends requests to one API server, authenticated. Raises :class:`ApiError` (status 0) when the
    server cannot be reached or the connection breaks."""

    server: str

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]],
        body: Any,
        content_type: str,
        stream_timeout: float | None = None,
    ) -> Response:
        """``stream_timeout``: the request is a watch; fail if no data arrives for that long."""
        ...

    async def connection_details(self) -> ConnectionDetails: ...

    async def close(self) -> None: ...


class Cluster:
    """The operator's only door to the API server. Create with :meth:`connect`; close with :meth:`close`.

    :param observers: process-wide call observers (metrics), in addition to each call's ``ctx``.
    :param retry: how transient failures are retried (every call but watches).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        info: ClusterConfig | None = None,
        log: RequestLog | None = None,
        observers: Sequence[ApiObserver] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self.transport = transport
        self.info = info or ClusterConfig(source="(given)")
        self.log = log if log is not None else RequestLog()
        self.observers: list[ApiObserver] = list(observers)
        self.retry = retry if retry is not None else RetryPolicy()
        self._discovered: dict[tuple[str, str], Resource] = {}

    def with_retry(self, retry: RetryPolicy) -> Cluster:
        """The same client (connection, log, observers) with another retry policy, e.g. :data:`NO_RETRY`
        for a caller that retries on a clock of its own."""
        view = Cluster(self.transport, info=self.info, log=self.log, observers=(), retry=retry)
        view.observers = self.observers  # shared: observers added later apply to both
        view._discovered = self._discovered
        return view

    async def close(self) -> None:
        await self.transport.close()

    @property
    def server(self) -> str:
        return self.transport.server

    async def connection_details(self) -> ConnectionDetails:
        """Credentials as currently configured (tokens refreshed), for kopf's login."""
        details = await self.transport.connection_details()
        if details.default_namespace is None and self.info.namespace:
            details = dataclasses.replace(details, default_namespace=self.info.namespace)
        return details

    # --- reads ---------------------------------------------------------------------------------------

    async def get(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        subresource: str | None = None,
        ctx: CallContext | None = None,
    ) -> dict[str, Any]:
        call = ApiCall("get", res.plural, namespace, name, subresource)
        return await self._json("GET", res.path(namespace, name, subresource), call=call, ctx=ctx)

    async def list_page(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
        ctx: CallContext | None = None,
    ) -> dict[str, Any]:
        """One page of a list (``limit``/``continue_`` for chunking); returns the List object."""
        query = _query(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=limit,
            resourceVersion=resource_version,
            **{"continue": continue_},
        )
        call = ApiCall(
            "list", res.plural, namespace, label_selector=label_selector, field_selector=field_selector
        )
        return await self._json("GET", res.path(namespace), query=query, call=call, ctx=ctx)

    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
        ctx: CallContext | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Watch events (``{"type": ..., "object": ...}``) until the server ends the stream.

        Use as ``async with contextlib.aclosing(cluster.watch(...)) as events``. An ``ERROR`` event is
        yielded as is (410 Gone among them): the caller decides to resume or relist.
        """
        query = _query(
            watch="true",
            labelSelector=label_selector,
            fieldSelector=field_selector,
            resourceVersion=resource_version,
            timeoutSeconds=timeout_seconds,
            allowWatchBookmarks="true" if allow_bookmarks else None,
        )
        call = ApiCall(
            "watch", res.plural, namespace, label_selector=label_selector, field_selector=field_selector
        )
        with self._observed(call, ctx):
            response = await self._send(
                "GET", res.path(namespace), query=query, call=call, stream_timeout=timeout_seconds + 60.0
            )
            try:
                if response.status >= 400:
                    body = await response.read()
                    raise from_response(
                        response.status, body, what=f"watch {res}", retry_after=response.header("Retry-After")
                    )
                while True:
                    line = await response.readline()
                    if not line:
                        return
                    line = line.strip()
                    if line:
                        yield wire.loads(line)
            finally:
                response.release()

    # --- writes --------------------------------------------------------------------------------------

    async def create(
        self, res: Resource, namespace: str | None, body: Mapping[str, Any], *, ctx: CallContext | None = None
    ) -> dict[str, Any]:
        name = (body.get("metadata") or {}).get("name")
        call = ApiCall("create", res.plural, namespace, name)
        return await self._json("POST", res.path(namespace), body=body, call=call, ctx=ctx)

    async def replace(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        body: Mapping[str, Any],
        *,
        subresource: str | None = None,
        ctx: CallContext | None = None,
    ) -> dict[str, Any]:
        call = ApiCall("update", res.plural, namespace, name, subresource)
        return await self._json("PUT", res.path(namespace, name, subresource), body=body, call=call, ctx=ctx)

    async def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        ctx: CallContext | None = None,
    ) -> dict[str, Any]:
        call = ApiCall("patch", res.plural, namespace, name, subresource)
        return await self._json(
            "PATCH",
            res.path(namespace, name, subresource),
            body=body,
            content_type=_CONTENT_TYPES[patch_type],
            call=call,
            ctx=ctx,
        )

    async def apply(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        body: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = True,
        ctx: CallContext | None = None,
    ) -> dict[str, Any]:
        """Server-side apply ``body`` (a full desired object) as ``field_manager``."""
        call = ApiCall("apply", res.plural, namespace, name)
        query = _query(fieldManager=field_manager, force="true" if force else None)
        return await self._json(
            "PATCH",
            res.path(namespace, name),
            query=query,
            body=body,
            content_type=_CONTENT_TYPES["apply"],
            call=call,
            ctx=ctx,
        )

    async def delete(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        *,
        propagation_policy: str | None = None,
        preconditions: Mapping[str, str] | None = None,
        ctx: CallContext | None = None,
    ) -> dict[str, Any]:
        """Delete, with ``propagation_policy`` (Foreground, Background, Orphan) and ``preconditions``.

        Returns the API's answer: the object, now carrying its ``deletionTimestamp``, while finalizers (a
        foreground deletion's among them) hold it; else a ``Status``."""
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if preconditions:
            options["preconditions"] = dict(preconditions)
        call = ApiCall("delete", res.plural, namespace, name)
        return await self._json("DELETE", res.path(namespace, name), body=options, call=call, ctx=ctx)

    # --- discovery -----------------------------------------------------------------------------------

    async def resource_for(
        self, api_version: str, kind: str, *, discover: bool = False, ctx: CallContext | None = None
    ) -> Resource:
        """The resource serving ``kind``: the built-in table first, then API discovery (cached).

        :param discover: ask the server even for a kind in the built-in table (is it installed?).
        :raises NotFound: the server does not serve that kind.
        """
        found = self._discovered.get((api_version, kind)) or (
            None if discover else resources.known(api_version, kind)
        )
        if found is not None:
            return found
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        call = ApiCall("get", "discovery", name=api_version)
        try:
            listing = await self._json("GET", path, call=call, ctx=ctx)
        except NotFound:
            listing = {}
        for entry in listing.get("resources") or []:
            if entry.get("kind") == kind and "/" not in str(entry.get("name")):
                res = Resource(group, version, str(entry["name"]), kind, bool(entry.get("namespaced", True)))
                self._discovered[(api_version, kind)] = res
                return res
        raise NotFound(
            f"the API server serves no kind {kind} in {api_version}: install its CRD or disable the plugin "
            f"that creates it",
            status=404,
            reason="NotFound",
        )

    # --- plumbing ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _observed(self, call: ApiCall, ctx: CallContext | None) -> Iterator[None]:
        start = time.perf_counter()
        with contextlib.ExitStack() as stack:
            for observer in self.observers:
                stack.enter_context(observer(call))
            if ctx is not None:
                stack.enter_context(ctx.api_call(call))
            try:
                yield
            except ApiError as exc:
                call.status = call.status or exc.status
                call.error = call.error or str(exc)
                raise
            finally:
                call.seconds = time.perf_counter() - start
                self.log.record(call)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        call: ApiCall,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
        stream_timeout: float | None = None,
    ) -> Response:
        try:
            response = await self.transport.send(
                method, path, query=query, body=body, content_type=content_type, stream_timeout=stream_timeout
            )
        except ApiError as exc:
            call.error = str(exc)
            raise
        call.status = response.status
        return response

    async def _json(
        self,
        method: str,
        path: str,
        *,
        call: ApiCall,
        ctx: CallContext | None,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One request, sent again on transient failures (:attr:`retry`); each attempt is its own call."""
        started = time.monotonic()
        attempt = 1
        while True:
            this = call if attempt == 1 else dataclasses.replace(call, status=None, seconds=0.0, error=None)
            try:
                return await self._json_once(
                    method, path, call=this, ctx=ctx, query=query, body=body, content_type=content_type
                )
            except ApiError as exc:
                delay = self.retry.delay(exc, attempt, time.monotonic() - started)
                if delay is None:
                    raise
                log.debug("%s failed (%s); attempt %d in %.2fs", _describe(this), exc, attempt + 1, delay)
                await self.retry.sleep(delay)
                attempt += 1

    async def _json_once(
        self,
        method: str,
        path: str,
        *,
        call: ApiCall,
        ctx: CallContext | None,
        query: Sequence[tuple[str, str]],
        body: Any,
        content_type: str,
    ) -> dict[str, Any]:
        with self._observed(call, ctx):
            response = await self._send(
                method, path, call=call, query=query, body=body, content_type=content_type
            )
            try:
                data = await response.read()
            finally:
                response.release()
            if response.status >= 400:
                raise from_response(
                    response.status,
                    data,
                    what=_describe(call),
                    retry_after=response.header("Retry-After"),
                    verb=call.verb,
                )
            if not data:
                return {}
            parsed = wire.loads(data)
            return parsed if isinstance(parsed, dict) else {"items": parsed}


def _describe(call: ApiCall) -> str:
    where = (
        f"{call.namespace}/{call.name}"
        if call.namespace and call.name
        else (call.name or call.namespace or "")
    )
    return f"{call.verb} {call.target} {where}".strip()


def _query(**params: Any) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in params.items() if v is not None and v != ""]
