"""What the four admission webhooks decide, without the web server around them.

The handlers in :mod:`lws.controller.handlers` only translate between kopf and these functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lws.api import constants as c
from lws.api.errors import FieldError
from lws.core import admission
from lws.core.pod_mutation import PodAdmissionError, mutate_pod
from lws.hooks.manager import Hooks, PluginError


class Denied(Exception):
    """The request must be refused; ``code`` is the HTTP status the API server reports."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Mutation:
    """The object as it should be stored."""

    obj: dict[str, Any]


def invalid_message(obj: Mapping[str, Any], errors: Sequence[FieldError]) -> str:
    """apimachinery's ``NewInvalid`` text: ``<Kind>.<group> "<name>" is invalid: [<error>, ...]``.

    An error raised by a plugin's rule says which plugin (``(plugin vllm)``), as ``lws validate`` does.
    """
    name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName") or ""
    lines = [e.described() for e in errors]
    listed = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    return f'{c.KIND}.{c.GROUP} "{name}" is invalid: {listed}'


def default_set(obj: Mapping[str, Any], hooks: Hooks, *, namespace: str | None) -> Mutation:
    """The mutating LeaderWorkerSet webhook: upstream's defaults, then the plugins'."""
    try:
        return Mutation(admission.default(obj, hooks, namespace=namespace))
    except PluginError as exc:
        raise Denied(str(exc), 500) from exc


def validate_set(obj: Mapping[str, Any], old: Mapping[str, Any] | None, hooks: Hooks) -> None:
    """The validating LeaderWorkerSet webhook: every broken rule in one 422 denial."""
    try:
        errors = admission.validate(obj, old, hooks)
    except PluginError as exc:
        raise Denied(str(exc), 500) from exc
    if errors:
        raise Denied(invalid_message(obj, errors), 422)


def mutate_group_pod(pod: Mapping[str, Any], hooks: Hooks, *, namespace: str) -> Mutation:
    """The pod mutating webhook (CREATE of pods labelled with a set name)."""
    try:
        return Mutation(mutate_pod(pod, namespace=namespace, hooks=hooks))
    except PodAdmissionError as exc:
        raise Denied(str(exc), 400) from exc
    except PluginError as exc:
        raise Denied(str(exc), 500) from exc
