"""API errors as exceptions the rest of the operator can act on, built from Kubernetes ``Status`` bodies.

One conversion point: the reconcilers catch :class:`NotFound`, :class:`AlreadyExists` or
:class:`Conflict` by type and never look at HTTP codes.
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """A request the API server refused (or could not be made); ``status`` is the HTTP code (0: no reply).

    :ivar reason: the ``Status.reason`` (``NotFound``, ``AlreadyExists``, ``Conflict``, ``Invalid``...).
    :ivar details: the ``Status`` object as the server sent it, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
        verb: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.details = details or {}
        #: Seconds the server asked us to wait before trying again (``Retry-After``), if it said.
        self.retry_after = retry_after
        #: The request's verb (``get``, ``create``, ``apply``...), when the client made it.
        self.verb = verb

    @property
    def retryable(self) -> bool:
        """Worth retrying unchanged: throttling, server errors, timeouts, no connection."""
        return self.status in (0, 429, 500, 502, 503, 504)


class NotFound(ApiError):
    """404: the object (or its namespace, or the resource type) does not exist."""


class AlreadyExists(ApiError):
    """409 AlreadyExists on create."""


class Conflict(ApiError):
    """409 Conflict: a stale resourceVersion, or server-side apply field conflicts."""


class Invalid(ApiError):
    """422: the object was rejected by validation or by an admission webhook."""


class Forbidden(ApiError):
    """403: RBAC or an admission webhook said no."""


class Gone(ApiError):
    """410: the requested resourceVersion is too old (watch and list resume)."""


def from_response(
    status: int, body: str | bytes | None, *, what: str, retry_after: str | None = None, verb: str = ""
) -> ApiError:
    """Turn an error reply into the matching exception; ``what`` names the request for the message.

    :param retry_after: the ``Retry-After`` header, if any; the ``Status`` body's
        ``details.retryAfterSeconds`` says the same and is read when the header is missing.
    """
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    details: dict[str, Any] = {}
    try:
        parsed = json.loads(text) if text else {}
        if isinstance(parsed, dict):
            details = parsed
    except ValueError:
        pass
    reason = str(details.get("reason") or "")
    message = str(details.get("message") or text.strip() or f"HTTP {status}")
    full = f"{what}: {message}"
    cls: type[ApiError] = ApiError
    if status == 404:
        cls = NotFound
    elif status == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif status == 422:
        cls = Invalid
    elif status == 403:
        cls = Forbidden
    elif status == 410:
        cls = Gone
    return cls(
        full,
        status=status,
        reason=reason,
        details=details,
        retry_after=_retry_after(retry_after, details),
        verb=verb,
    )


def _retry_after(header: str | None, details: dict[str, Any]) -> float | None:
    """Seconds to wait, from the header (delta-seconds; HTTP dates are not used by the API server) or the
    ``Status`` body; ``None`` when neither says, or says something unreadable."""
    inner = details.get("details")
    candidates: list[Any] = [header, inner.get("retryAfterSeconds") if isinstance(inner, dict) else None]
    for value in candidates:
        if value is None:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None
