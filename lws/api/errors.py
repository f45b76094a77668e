"""Field-path errors in the shape Kubernetes admission returns them.

A message reads like apimachinery's ``field.Error``: ``<path>: <type>: <value>: <detail>``, so users who
know upstream LWS or kubectl recognise it and can find the field at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

ErrorType = Literal["Invalid", "Required", "Forbidden", "NotSupported", "TooLong", "Duplicate"]

_TYPE_TEXT: dict[str, str] = {
    "Invalid": "Invalid value",
    "Required": "Required value",
    "Forbidden": "Forbidden",
    "NotSupported": "Unsupported value",
    "TooLong": "Too long",
    "Duplicate": "Duplicate value",
}

_NO_VALUE = object()


@dataclass(frozen=True)
class FieldError:
    """One problem with one field.

    :param path: dotted field path, e.g. ``spec.leaderWorkerTemplate.size``.
    :param detail: the rule that was broken, said so the user knows what to change.
    :param type: the apimachinery error type.
    :param value: the offending value; omitted from the message for Required/Forbidden.
    :param origin: who raised it: ``"lws"`` for core rules, else the plugin's name.
    """

    path: str
    detail: str
    type: ErrorType = "Invalid"
    value: Any = field(default=_NO_VALUE, compare=False)
    origin: str = "lws"

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE

    def described(self) -> str:
        """The message, naming the plugin when a plugin's rule raised it: ``... (plugin vllm)``."""
        return str(self) if self.origin == "lws" else f"{self} (plugin {self.origin})"

    def __str__(self) -> str:
        kind = _TYPE_TEXT[self.type]
        if self.has_value and self.type not in ("Required", "Forbidden"):
            return f"{self.path}: {kind}: {_render_value(self.value)}: {self.detail}"
        return f"{self.path}: {kind}: {self.detail}"


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)[:200]


class InvalidObject(ValueError):
    """Raised when an object fails validation; carries every error found, not just the first."""

    def __init__(self, kind: str, name: str, errors: list[FieldError]) -> None:
        self.kind = kind
        self.name = name
        self.errors = errors
        lines = "; ".join(str(e) for e in errors)
        super().__init__(f'{kind} "{name}" is invalid: {lines}')
