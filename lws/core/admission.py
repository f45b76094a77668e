"""Admission of a LeaderWorkerSet: upstream's defaulting and validation, then the plugins' share.

The mutating and validating webhooks, ``lws validate`` and ``lws render`` all come through here, so a
manifest is judged the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lws.api.defaulting import default_lws
from lws.api.errors import FieldError
from lws.api.model import LeaderWorkerSet
from lws.api.validation import nesting_error, validate_lws
from lws.hooks.manager import Hooks


def default(obj: Mapping[str, Any], hooks: Hooks, *, namespace: str | None = None) -> dict[str, Any]:
    """Upstream defaults (CRD schema + mutating webhook), then each plugin's ``lws_default``.

    :param namespace: used when the object names none (a command's ``-n``); else ``default``.
    """
    defaulted = default_lws(obj, namespace=namespace)
    hooks.default(defaulted)
    return defaulted


def validate(obj: Mapping[str, Any], old: Mapping[str, Any] | None, hooks: Hooks) -> list[FieldError]:
    """Upstream's rules, then each plugin's; plugin rules run only on an object the core accepts."""
    errors: list[FieldError] = validate_lws(
        obj,
        old,
        startup_policies=hooks.startup_values,
        restart_policies=hooks.restart_values,
    )
    if errors:
        return errors
    return hooks.validate(LeaderWorkerSet(obj), LeaderWorkerSet(old) if old is not None else None)


def admit(
    obj: Mapping[str, Any], old: Mapping[str, Any] | None, hooks: Hooks, *, namespace: str | None = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """Default, then validate: what the two webhooks do in sequence on CREATE and UPDATE.

    An object nested deeper than any LeaderWorkerSet is refused first, naming where (see
    :func:`lws.api.validation.nesting_error`): the steps after it recurse into the object."""
    too_deep = nesting_error(obj)
    if too_deep is not None:
        return dict(obj), [too_deep]
    defaulted = default(obj, hooks, namespace=namespace)
    return defaulted, validate(defaulted, old, hooks)
