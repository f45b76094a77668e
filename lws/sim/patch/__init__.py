"""Patch semantics of the embedded cluster: JSON patch, merge patch, strategic merge patch, server-side apply.

Every module here is pure (dicts in, dicts out, no I/O) and raises :class:`PatchError` for a patch that cannot
be applied, carrying the HTTP status Kubernetes answers with, so the server can turn it into a ``Status``.
"""

from __future__ import annotations

__all__ = ["PatchError"]


class PatchError(ValueError):
    """A patch that is malformed (``code`` 400) or does not apply to the object (``code`` 422).

    The message says which operation or field failed and why; it is meant for ``Status.message``.
    """

    def __init__(self, message: str, *, code: int = 422) -> None:
        super().__init__(message)
        self.code = code
