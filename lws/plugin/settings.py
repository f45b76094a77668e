"""Plugin settings kept in LeaderWorkerSet annotations: one declaration parses, validates, documents each.

Every plugin keeps its settings under its own prefix, ``<plugin>.lws.x-k8s.io/<setting>``. A
plugin declares them once on a :class:`Settings` table; the same declaration then

* reads a typed value (:meth:`Setting.find`, :meth:`Setting.require`), raising :class:`SettingError` with
  the field path, the value and the rule when the text is wrong;
* validates them in ``lws_validate`` (:meth:`Settings.validate`): every bad value, and every key under the
  prefix that is not a declared setting (a typo must not be ignored silently), each as a ``FieldError``
  whose path is ``metadata.annotations.<key>`` and whose detail says the rule or lists the allowed values;
* lists them for ``lws plugins`` and the tests (:attr:`Settings.settings`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from lws.api.errors import ErrorType, FieldError
from lws.api.names import is_qualified_name
from lws.api.quantity import QuantityError, parse_quantity

__all__ = ["ANNOTATIONS_PATH", "SETTINGS_DOMAIN", "Setting", "SettingError", "Settings", "annotation_path"]

T = TypeVar("T")

ANNOTATIONS_PATH = "metadata.annotations"
SETTINGS_DOMAIN = "lws.x-k8s.io"


def annotation_path(key: str) -> str:
    """The field path of an annotation, as admission errors name it."""
    return f"{ANNOTATIONS_PATH}.{key}"


class SettingError(ValueError):
    """A setting's text breaks its rule; ``error`` is the field error to report."""

    def __init__(self, error: FieldError) -> None:
        self.error = error
        super().__init__(str(error))


class _Rule(ValueError):
    """Raised by a parser: the text breaks the rule in the message (and, for choices, its type)."""

    def __init__(self, detail: str, type_: ErrorType = "Invalid") -> None:
        self.type = type_
        super().__init__(detail)


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One annotation a plugin reads.

    :ivar key: the full annotation key.
    :ivar help: what it does, for ``lws plugins`` and the docs.
    :ivar default: the value when the annotation is absent (``None``: no default).
    :ivar choices: the allowed values, for settings that take one of a list.
    """

    key: str
    help: str
    parser: Callable[[str], T] = field(repr=False)
    default: T | None = None
    choices: tuple[str, ...] = ()

    def find(self, annotations: Mapping[str, str]) -> T | None:
        """The parsed value, or the default when the annotation is absent."""
        raw = annotations.get(self.key)
        if raw is None:
            return self.default
        return self.parse(raw)

    def require(self, annotations: Mapping[str, str]) -> T:
        """The parsed value; :class:`SettingError` when it is absent and there is no default."""
        value = self.find(annotations)
        if value is None:
            raise SettingError(FieldError(annotation_path(self.key), f"must be set: {self.help}", "Required"))
        return value

    def parse(self, raw: str) -> T:
        """Parse an annotation value; :class:`SettingError` says what is wrong."""
        try:
            return self.parser(raw)
        except _Rule as exc:
            raise SettingError(FieldError(annotation_path(self.key), str(exc), exc.type, value=raw)) from None

    def check(self, annotations: Mapping[str, str]) -> FieldError | None:
        """The problem with this setting's annotation, if it is present and wrong."""
        raw = annotations.get(self.key)
        if raw is None:
            return None
        try:
            self.parse(raw)
        except SettingError as exc:
            return exc.error
        return None


class Settings:
    """The settings of one plugin, all under ``<plugin>.lws.x-k8s.io/``."""

    def __init__(self, plugin: str, prefix: str | None = None) -> None:
        """:param plugin: the plugin's entry-point name; :param prefix: the first label of the annotation
        prefix (default: the plugin name with ``-`` for ``_``)."""
        self.plugin = plugin
        self.prefix = f"{prefix or plugin.replace('_', '-')}.{SETTINGS_DOMAIN}/"
        self.settings: list[Setting[Any]] = []

    def _add(self, setting: Setting[T]) -> Setting[T]:
        self.settings.append(setting)
        return setting

    def key(self, name: str) -> str:
        """The full annotation key of setting ``name``: ``<prefix>.lws.x-k8s.io/<name>``."""
        return self.prefix + name

    # --- declarations ------------------------------------------------------------------------------------
    def integer(
        self,
        name: str,
        *,
        help: str,
        default: int | None = None,
        minimum: int = 0,
        maximum: int | None = None,
    ) -> Setting[int]:
        """A decimal integer within ``[minimum, maximum]``."""
        rule = _range_text(minimum, maximum)

        def parse(raw: str) -> int:
            if not re.fullmatch(r"[+-]?[0-9]+", raw.strip()):
                raise _Rule(f"must be {rule}")
            value = int(raw)
            if value < minimum or (maximum is not None and value > maximum):
                raise _Rule(f"must be {rule}")
            return value

        return self._add(Setting(self.key(name), help, parse, default))

    def choice(
        self, name: str, choices: tuple[str, ...], *, help: str, default: str | None = None
    ) -> Setting[str]:
        """One of ``choices``, exactly as written."""
        allowed = ", ".join(f'"{c}"' for c in choices)

        def parse(raw: str) -> str:
            if raw not in choices:
                raise _Rule(f"supported values: {allowed}", "NotSupported")
            return raw

        return self._add(Setting(self.key(name), help, parse, default, choices))

    def boolean(self, name: str, *, help: str, default: bool = False) -> Setting[bool]:
        """``"true"`` or ``"false"``."""
        choices = ("true", "false")

        def parse(raw: str) -> bool:
            if raw not in choices:
                raise _Rule('supported values: "true", "false"', "NotSupported")
            return raw == "true"

        return self._add(Setting(self.key(name), help, parse, default, choices))

    def text(
        self,
        name: str,
        *,
        help: str,
        default: str | None = None,
        pattern: str = r"\S+",
        rule: str = "must be a non-empty value without spaces",
    ) -> Setting[str]:
        """Free text matching ``pattern`` (whole value)."""
        compiled = re.compile(pattern)

        def parse(raw: str) -> str:
            if not compiled.fullmatch(raw):
                raise _Rule(rule)
            return raw

        return self._add(Setting(self.key(name), help, parse, default))

    def quantity(self, name: str, *, help: str, default: str | None = None) -> Setting[str]:
        """A positive Kubernetes quantity such as ``16Gi``, kept as written."""

        def parse(raw: str) -> str:
            try:
                amount = parse_quantity(raw)
            except QuantityError:
                raise _Rule("must be a Kubernetes quantity such as 16Gi or 512Mi") from None
            if amount <= 0:
                raise _Rule("must be greater than zero")
            return raw

        return self._add(Setting(self.key(name), help, parse, default))

    def label_keys(self, name: str, *, help: str) -> Setting[tuple[str, ...]]:
        """A comma-separated list of distinct node label keys (``[prefix/]name``)."""

        def parse(raw: str) -> tuple[str, ...]:
            keys = tuple(k.strip() for k in raw.split(","))
            for k in keys:
                problems = is_qualified_name(k) if k else ["must not be empty"]
                if problems:
                    raise _Rule(
                        f"must list node label keys separated by commas, outermost level first (e.g. "
                        f"topology.kubernetes.io/zone,example.com/rack); {k!r}: {'; '.join(problems)}"
                    )
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            if duplicates:
                raise _Rule(f"must not list a key twice: {', '.join(duplicates)}")
            return keys

        return self._add(Setting(self.key(name), help, parse))

    # --- use ---------------------------------------------------------------------------------------------
    def present(self, annotations: Mapping[str, str]) -> dict[str, str]:
        """The annotations under this plugin's prefix, declared or not."""
        return {k: v for k, v in annotations.items() if k.startswith(self.prefix)}

    def validate(self, annotations: Mapping[str, str]) -> list[FieldError]:
        """Every malformed setting, and every key under the prefix that is not a setting."""
        errors: list[FieldError] = []
        known = {s.key for s in self.settings}
        names = ", ".join(s.key for s in self.settings)
        for key in sorted(self.present(annotations)):
            if key not in known:
                errors.append(
                    FieldError(
                        annotation_path(key),
                        f"not a setting of the {self.plugin} plugin; its settings are: {names}",
                    )
                )
        for setting in self.settings:
            problem = setting.check(annotations)
            if problem is not None:
                errors.append(problem)
        return errors


def _range_text(minimum: int, maximum: int | None) -> str:
    if maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum == 0:
        return "a non-negative integer"
    if minimum == 1:
        return "a positive integer"
    return f"an integer of at least {minimum}"
