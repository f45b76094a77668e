"""API fault injection: make chosen requests fail or slow down, drop watch streams, force compaction.

Faults apply to HTTP requests only (the operator under test), never to the built-in controllers' in-process
calls. A rule matches on verb (``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``, ``delete``,
``deletecollection``), resource (``pods``, ``statefulsets.apps``, ``pods/status``...) and namespace; it fires
for a share of matching requests (``probability``, drawn from a seeded generator, so runs repeat) and a
number of times (``times=1`` is one-shot, ``None`` forever).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from lws.sim import errors
from lws.sim.resources import ResourceType
from lws.sim.store import Store

VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"})


@dataclass
class FaultRule:
    """One injected fault. Empty ``verbs``/``resources`` match everything."""

    id: str
    verbs: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    namespace: str | None = None
    code: int | None = None
    message: str | None = None
    latency: float = 0.0
    probability: float = 1.0
    remaining: int | None = 1
    fired: int = field(default=0)

    def matches(
        self, verb: str, resource: ResourceType, subresource: str | None, namespace: str | None
    ) -> bool:
        """Whether a request is in scope for this rule (before the probability draw)."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.verbs and verb not in self.verbs:
            return False
        if self.namespace is not None and namespace != self.namespace:
            return False
        if not self.resources:
            return True
        name = resource.describe()
        names = (
            {f"{name}/{subresource}", f"{resource.plural}/{subresource}"}
            if subresource
            else {name, resource.plural}
        )
        return bool(self.resources & names) or "*" in self.resources

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the control endpoint."""
        data = asdict(self)
        data["verbs"] = sorted(self.verbs)
        data["resources"] = sorted(self.resources)
        return data


class APIFaults:
    """The fault rules of one cluster.

    :param api: anything with ``store`` and ``drop_watches()`` (the :class:`~lws.sim.apiserver.APIServer`).
    :param seed: seed for the probability draws.
    """

    def __init__(self, api: Any, *, seed: int | None = 0) -> None:
        self._api = api
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    # -- Python API --------------------------------------------------------------------------------

    def inject_error(
        self,
        code: int,
        *,
        verbs: Iterable[str] = (),
        resources: Iterable[str] = (),
        namespace: str | None = None,
        times: int | None = 1,
        probability: float = 1.0,
        message: str | None = None,
    ) -> FaultRule:
        """Answer matching requests with ``code`` (a Kubernetes ``Status`` with the usual reason)."""
        if not 400 <= code <= 599:
            raise ValueError(f"fault code must be an HTTP error status (400-599), got {code}")
        return self._add(
            code=code,
            verbs=verbs,
            resources=resources,
            namespace=namespace,
            times=times,
            probability=probability,
            message=message,
        )

    def inject_latency(
        self,
        seconds: float,
        *,
        verbs: Iterable[str] = (),
        resources: Iterable[str] = (),
        namespace: str | None = None,
        times: int | None = None,
        probability: float = 1.0,
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` before serving them."""
        if seconds < 0:
            raise ValueError(f"latency must be non-negative, got {seconds}")
        return self._add(
            latency=seconds,
            verbs=verbs,
            resources=resources,
            namespace=namespace,
            times=times,
            probability=probability,
        )

    def clear(self, rule_id: str | None = None) -> None:
        """Remove one rule (by id) or all of them."""
        self._rules = [rule for rule in self._rules if rule_id is not None and rule.id != rule_id]

    def rules(self) -> list[FaultRule]:
        """The current rules, oldest first."""
        return list(self._rules)

    def seed(self, seed: int | None) -> None:
        """Restart the probability draws from ``seed``."""
        self._random = random.Random(seed)

    def drop_watches(self) -> None:
        """End every open watch stream now; clients must resume from their last resourceVersion."""
        self._api.drop_watches()

    def compact(self, resource: str | None = None) -> None:
        """Forget watch history (of one resource, e.g. ``pods`` or ``statefulsets.apps``, or all), so the next
        resume from an older resourceVersion gets ``410 Gone``."""
        store: Store = self._api.store
        if resource is None:
            store.compact()
            return
        plural, _, group = resource.partition(".")
        store.compact((group, plural))

    # -- the request hook ----------------------------------------------------------------------------

    async def before_request(
        self,
        verb: str,
        resource: ResourceType,
        subresource: str | None,
        namespace: str | None,
        name: str | None,
    ) -> None:
        """Apply matching rules to a request: sleep for latency rules, raise for error rules."""
        delay = 0.0
        failure: errors.APIError | None = None
        for rule in self._rules:
            if not rule.matches(verb, resource, subresource, namespace):
                continue
            if rule.probability < 1.0 and self._random.random() >= rule.probability:
                continue
            if rule.code is not None and failure is not None:
                continue  # one error per request; later error rules keep their budget
            rule.fired += 1
            if rule.remaining is not None:
                rule.remaining -= 1
            delay += rule.latency
            if rule.code is not None:
                failure = errors.from_code(rule.code, rule.message)
        self._rules = [rule for rule in self._rules if rule.remaining is None or rule.remaining > 0]
        if delay:
            await asyncio.sleep(delay)
        if failure is not None:
            raise failure

    # -- control endpoints ---------------------------------------------------------------------------

    def control_routes(self) -> dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
        """``/sim/v1`` routes exposing this API over HTTP (used by ``lws cluster`` subcommands)."""
        return {
            ("GET", "/sim/v1/faults/api"): self._get_rules,
            ("DELETE", "/sim/v1/faults/api"): self._delete_rules,
            ("POST", "/sim/v1/faults/api/errors"): self._post_error,
            ("POST", "/sim/v1/faults/api/latency"): self._post_latency,
            ("POST", "/sim/v1/watches/drop"): self._post_drop,
            ("POST", "/sim/v1/compact"): self._post_compact,
        }

    async def _get_rules(self, request: web.Request) -> web.Response:
        return web.json_response({"rules": [rule.to_dict() for rule in self._rules]})

    async def _delete_rules(self, request: web.Request) -> web.Response:
        self.clear(request.query.get("id"))
        return web.json_response({"rules": []})

    async def _post_error(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        try:
            rule = self.inject_error(
                int(body["code"]),
                verbs=_strings(body.get("verbs")),
                resources=_strings(body.get("resources")),
                namespace=body.get("namespace"),
                times=body.get("times", 1),
                probability=float(body.get("probability", 1.0)),
                message=body.get("message"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.bad_request(
                f"bad error fault {body!r}: {exc}; send {{code, verbs?, resources?, times?}}"
            ) from exc
        return web.json_response(rule.to_dict(), status=201)

    async def _post_latency(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        try:
            rule = self.inject_latency(
                float(body["seconds"]),
                verbs=_strings(body.get("verbs")),
                resources=_strings(body.get("resources")),
                namespace=body.get("namespace"),
                times=body.get("times"),
                probability=float(body.get("probability", 1.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.bad_request(
                f"bad latency fault {body!r}: {exc}; send {{seconds, verbs?, resources?}}"
            ) from exc
        return web.json_response(rule.to_dict(), status=201)

    async def _post_drop(self, request: web.Request) -> web.Response:
        self.drop_watches()
        return web.json_response({"dropped": True})

    async def _post_compact(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        self.compact(body.get("resource"))
        return web.json_response({"compacted": body.get("resource") or "all"})

    def _add(
        self,
        *,
        verbs: Iterable[str],
        resources: Iterable[str],
        namespace: str | None,
        times: int | None,
        probability: float,
        code: int | None = None,
        latency: float = 0.0,
        message: str | None = None,
    ) -> FaultRule:
        verb_set = frozenset(verbs)
        unknown = verb_set - VERBS
        if unknown:
            raise ValueError(f"unknown verbs {sorted(unknown)}: use some of {sorted(VERBS)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {probability}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 (or None for always), got {times}")
        rule = FaultRule(
            id=f"fault-{next(self._ids)}",
            verbs=verb_set,
            resources=frozenset(resources),
            namespace=namespace,
            code=code,
            message=message,
            latency=latency,
            probability=probability,
            remaining=times,
        )
        self._rules.append(rule)
        return rule


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise errors.bad_request(f"the control request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.bad_request("the control request body must be a JSON object")
    return body


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part]
    return [str(item) for item in value]
