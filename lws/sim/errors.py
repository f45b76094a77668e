"""Kubernetes-shaped API errors: every failure the embedded cluster reports is a ``Status`` object.

Clients branch on ``reason`` and ``code`` (the official client raises ``ApiException`` with them, kopf
retries on 409/429/5xx, kubectl prints ``message``), so each constructor below produces exactly the
reason, code and message shape the real API server uses for the same situation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from lws.sim.causes import Cause


class APIError(Exception):
    """A request failed; ``status`` is the ``Status`` object to send back (its ``code`` is the HTTP code)."""

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(status.get("message", ""))
        self.status = status

    @property
    def code(self) -> int:
        """The HTTP status code."""
        return int(self.status["code"])

    @property
    def reason(self) -> str:
        """The machine-readable reason, such as ``NotFound`` or ``Conflict``."""
        return str(self.status.get("reason", ""))

    def __repr__(self) -> str:
        return f"APIError({self.code} {self.reason}: {self.status.get('message', '')})"


def qualified(resource: str, group: str) -> str:
    """``pods`` for the core group, ``statefulsets.apps`` otherwise, as Kubernetes names resources."""
    return f"{resource}.{group}" if group else resource


def status(
    code: int,
    reason: str,
    message: str,
    *,
    name: str | None = None,
    group: str | None = None,
    kind: str | None = None,
    causes: Iterable[Cause] = (),
    retry_after_seconds: int | None = None,
    uid: str | None = None,
) -> dict[str, Any]:
    """A failure ``Status`` object; ``details`` is present only when it carries something."""
    details: dict[str, Any] = {}
    if name is not None:
        details["name"] = name
    if group:
        details["group"] = group
    if kind is not None:
        details["kind"] = kind
    if uid is not None:
        details["uid"] = uid
    cause_list = [cause.to_status_cause() for cause in causes]
    if cause_list:
        details["causes"] = cause_list
    if retry_after_seconds is not None:
        details["retryAfterSeconds"] = retry_after_seconds
    result: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        result["details"] = details
    return result


def success(*, name: str, group: str, kind: str, uid: str | None = None) -> dict[str, Any]:
    """The ``Status`` a DELETE answers with when the object is gone at once and is not returned itself."""
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    if uid is not None:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def not_found(resource: str, group: str, name: str) -> APIError:
    """404: the named object does not exist."""
    return APIError(
        status(
            404,
            "NotFound",
            f'{qualified(resource, group)} "{name}" not found',
            name=name,
            group=group,
            kind=resource,
        )
    )


def resource_not_found(path: str) -> APIError:
    """404 for a path that names no resource at all (Kubernetes answers with a bare ``NotFound``)."""
    return APIError(status(404, "NotFound", f"the server could not find the requested resource ({path})"))


def already_exists(resource: str, group: str, name: str) -> APIError:
    """409: create of a name that is taken."""
    return APIError(
        status(
            409,
            "AlreadyExists",
            f'{qualified(resource, group)} "{name}" already exists',
            name=name,
            group=group,
            kind=resource,
        )
    )


def conflict(resource: str, group: str, name: str, detail: str) -> APIError:
    """409: the write lost an optimistic-concurrency race or failed a precondition."""
    return APIError(
        status(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {detail}',
            name=name,
            group=group,
            kind=resource,
        )
    )


STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, group: str, name: str, causes: Iterable[Cause]) -> APIError:
    """422: the object fails validation; ``details.kind`` is the Kind and each cause names a field."""
    cause_list = list(causes)
    summary = ", ".join(
        f"{cause.field}: {cause.message}" if cause.field else cause.message for cause in cause_list
    )
    shown = name or "<unnamed>"
    qualified_kind = f"{kind}.{group}" if group else kind
    message = (
        f'{qualified_kind} "{shown}" is invalid: {summary}'
        if cause_list
        else f'{qualified_kind} "{shown}" is invalid'
    )
    return APIError(status(422, "Invalid", message, name=name, group=group, kind=kind, causes=cause_list))


def bad_request(message: str) -> APIError:
    """400: the request itself is malformed (bad JSON, bad selector, bad query parameter)."""
    return APIError(status(400, "BadRequest", message))


def forbidden(resource: str, group: str, name: str, message: str, causes: Iterable[Cause] = ()) -> APIError:
    """403: the request is refused (for example new content in a terminating namespace)."""
    return APIError(
        status(
            403,
            "Forbidden",
            f'{qualified(resource, group)} "{name}" is forbidden: {message}',
            name=name,
            group=group,
            kind=resource,
            causes=causes,
        )
    )


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> APIError:
    """405: the verb is not served on this resource or subresource."""
    return APIError(status(405, "MethodNotAllowed", message))


def not_acceptable(accept: str) -> APIError:
    """406: none of the media types in ``Accept`` can be served."""
    return APIError(
        status(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml "
            f"(asked for {accept!r})",
        )
    )


def unsupported_media_type(content_type: str, accepted: Iterable[str]) -> APIError:
    """415: the request body (usually a patch) has a media type this resource does not take."""
    return APIError(
        status(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format ({content_type!r}) - "
            "accepted media types include: " + ", ".join(accepted),
        )
    )


def gone(message: str) -> APIError:
    """410 ``Expired``: a resourceVersion or continue token is older than the retained history."""
    return APIError(status(410, "Expired", message))


def too_many_requests(
    message: str = "too many requests, please try again later", retry_after: int = 1
) -> APIError:
    """429: the client must back off and retry."""
    return APIError(status(429, "TooManyRequests", message, retry_after_seconds=retry_after))


def internal(message: str) -> APIError:
    """500: the server failed; the message says what failed."""
    return APIError(
        status(500, "InternalError", f"Internal error occurred: {message}", causes=[Cause("", "", message)])
    )


def timeout(message: str, retry_after: int = 1) -> APIError:
    """504 ``Timeout``: the server could not finish in time (also: resourceVersion too large)."""
    return APIError(status(504, "Timeout", message, retry_after_seconds=retry_after))


def service_unavailable(message: str) -> APIError:
    """503: the server is shutting down or a dependency is not ready."""
    return APIError(status(503, "ServiceUnavailable", message))


def from_code(code: int, message: str | None = None) -> APIError:
    """An error with the reason Kubernetes uses for ``code``; for fault injection of arbitrary codes."""
    reasons = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        406: "NotAcceptable",
        409: "Conflict",
        410: "Expired",
        413: "RequestEntityTooLarge",
        415: "UnsupportedMediaType",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }
    reason = reasons.get(code, "Unknown")
    text = message or f"injected fault: {reason} ({code})"
    retry = 1 if code in (429, 503, 504) else None
    return APIError(status(code, reason, text, retry_after_seconds=retry))


@contextlib.contextmanager
def ignoring_not_found() -> Iterator[None]:
    """Treat a 404 from the writes inside as done (client-go's ``IgnoreNotFound``): for a controller deleting
    or reporting on an object that someone else has removed meanwhile, there is nothing left to do."""
    try:
        yield
    except APIError as exc:
        if exc.code != 404:
            raise
