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
        self, message: str, *, status: int = 0, reason: str = "", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.details = details or {}

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


def from_response(status: int, body: str | bytes | None, *, what: str) -> ApiError:
    """Turn an error reply into the matching exception; ``what`` names the request for the message."""
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
    return cls(full, status=status, reason=reason, details=details)
