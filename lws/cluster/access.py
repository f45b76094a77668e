"""Who may read the operator's ``/metrics``: the API server decides, as for upstream's controller.

controller-runtime's ``filters.WithAuthenticationAndAuthorization`` (what upstream's metrics endpoint uses)
authenticates the caller's bearer token with a ``TokenReview`` and asks a ``SubjectAccessReview`` whether
that user may ``get`` the non-resource URL (``/metrics``). This is the same, over the operator's own
client: so the operator's RBAC needs ``create`` on ``tokenreviews`` and ``subjectaccessreviews``, and a
scraper needs ``get`` on ``/metrics`` (the shipped ``lws-metrics-reader`` ClusterRole).

Answers are cached as the Kubernetes delegating authenticator and authorizer cache them (tokens 1 minute,
allowed 5 minutes, denied 30 seconds), keyed by a hash of the token, so a Prometheus scraping every 30 s
costs two API calls every few minutes, not two per scrape.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lws.cluster.client import Cluster
from lws.cluster.errors import ApiError
from lws.cluster.resources import Resource

log = logging.getLogger(__name__)

TOKEN_REVIEWS = Resource("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", namespaced=False)
SUBJECT_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False
)

TOKEN_TTL = 60.0
ALLOWED_TTL = 300.0
DENIED_TTL = 30.0


@dataclass(frozen=True)
class User:
    """An authenticated caller, as a TokenReview describes it."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Decision:
    """What to answer a request: ``status`` 200 (go ahead), 401 (who are you?) or 403 (not you), or 500
    when the API server could not be asked; ``reason`` says why, for the response body and the logs."""

    status: int
    reason: str = ""
    user: User | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 200


@dataclass
class _Cache:
    ttl: Callable[[Any], float]
    clock: Callable[[], float]
    entries: dict[Any, tuple[float, Any]] = field(default_factory=dict)

    def get(self, key: Any) -> tuple[bool, Any]:
        hit = self.entries.get(key)
        if hit is None or hit[0] <= self.clock():
            self.entries.pop(key, None)
            return False, None
        return True, hit[1]

    def put(self, key: Any, value: Any) -> None:
        if len(self.entries) > 1024:  # bounded: drop what expired, else everything
            now = self.clock()
            self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            if len(self.entries) > 1024:
                self.entries.clear()
        self.entries[key] = (self.clock() + self.ttl(value), value)


class AccessReviewer:
    """Authenticates bearer tokens and authorizes non-resource requests through the API server.

    :param audiences: the token audiences to ask for (none: the API server's own).
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        audiences: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.audiences = audiences
        self._tokens = _Cache(ttl=lambda _user: TOKEN_TTL, clock=clock)
        self._decisions = _Cache(ttl=lambda allowed: ALLOWED_TTL if allowed else DENIED_TTL, clock=clock)

    async def check(self, authorization: str | None, *, verb: str, path: str) -> Decision:
        """Decide on one request from its ``Authorization`` header."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return Decision(401, "Unauthorized: send a bearer token (a ServiceAccount's, for Prometheus)")
        try:
            user = await self.authenticate(token)
        except ApiError as exc:
            log.warning("cannot authenticate a metrics request: TokenReview failed: %s", exc)
            return Decision(500, f"Internal Server Error: TokenReview failed: {exc}")
        if user is None:
            return Decision(401, "Unauthorized: the token is not valid")
        try:
            allowed, why = await self.authorize(user, verb=verb, path=path)
        except ApiError as exc:
            log.warning("cannot authorize a metrics request: SubjectAccessReview failed: %s", exc)
            return Decision(500, f"Internal Server Error: SubjectAccessReview failed: {exc}", user)
        if not allowed:
            return Decision(
                403,
                f'Forbidden: user "{user.name}" cannot {verb} path "{path}"'
                + (f": {why}" if why else "")
                + " (bind the lws-metrics-reader ClusterRole to it)",
                user,
            )
        return Decision(200, user=user)

    async def authenticate(self, token: str) -> User | None:
        """The user a token belongs to (``None``: not authenticated), by a TokenReview (cached)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        hit, cached = self._tokens.get(key)
        if hit:
            return cached  # type: ignore[no-any-return]
        spec: dict[str, Any] = {"token": token}
        if self.audiences:
            spec["audiences"] = list(self.audiences)
        review = await self.cluster.create(
            TOKEN_REVIEWS,
            None,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec},
        )
        status = review.get("status") or {}
        user: User | None = None
        if status.get("authenticated"):
            info = status.get("user") or {}
            extra = info.get("extra") or {}
            user = User(
                name=str(info.get("username") or ""),
                uid=str(info.get("uid") or ""),
                groups=tuple(info.get("groups") or ()),
                extra=tuple(sorted((k, tuple(v or ())) for k, v in extra.items())),
            )
        self._tokens.put(key, user)
        return user

    async def authorize(self, user: User, *, verb: str, path: str) -> tuple[bool, str]:
        """Whether ``user`` may ``verb`` the non-resource ``path``, by a SubjectAccessReview (cached)."""
        key = (user, verb, path)
        hit, cached = self._decisions.get(key)
        if hit:
            return bool(cached), ""
        spec: dict[str, Any] = {
            "user": user.name,
            "groups": list(user.groups),
            "nonResourceAttributes": {"path": path, "verb": verb},
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        review = await self.cluster.create(
            SUBJECT_ACCESS_REVIEWS,
            None,
            {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec},
        )
        status = review.get("status") or {}
        allowed = bool(status.get("allowed")) and not status.get("denied")
        self._decisions.put(key, allowed)
        return allowed, str(status.get("reason") or "")
