"""The operator's configuration file: upstream's ``Configuration`` plus our ``plugins`` section.

Upstream (``config.lws.x-k8s.io/v1alpha1``, kind ``Configuration``) files are accepted as they are;
fields this operator does not use are kept and ignored. Our additions::

    plugins:
      enable: [volcano]          # opt-in plugins to turn on
      disable: [tpu]             # installed plugins to turn off

``gangSchedulingManagement.schedulerProvider: volcano`` (upstream's switch) enables the ``volcano``
plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_API_VERSIONS = ("config.lws.x-k8s.io/v1alpha1", "lws.x-k8s.io/v1alpha1")
GANG_PROVIDERS = {"volcano": "volcano", "coscheduling": "coscheduling"}


class ConfigError(ValueError):
    """The configuration file is unreadable or has a bad value; the message names the key."""


@dataclass(frozen=True)
class OperatorConfig:
    enable_plugins: tuple[str, ...] = ()
    disable_plugins: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    def section(self, key: str) -> Mapping[str, Any]:
        value = self.raw.get(key)
        return value if isinstance(value, Mapping) else {}


def load_config(path: str | Path | None) -> OperatorConfig:
    """Read a configuration file; ``None`` gives the defaults."""
    if path is None:
        return OperatorConfig()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    return parse_config(data, source=str(path))


def parse_config(data: Any, *, source: str = "config") -> OperatorConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: must be a mapping, got {type(data).__name__}")
    api_version = data.get("apiVersion")
    if api_version is not None and api_version not in CONFIG_API_VERSIONS:
        raise ConfigError(
            f"{source}: apiVersion: must be one of {', '.join(CONFIG_API_VERSIONS)}, got {api_version!r}"
        )
    plugins = data.get("plugins") or {}
    if not isinstance(plugins, Mapping):
        raise ConfigError(f"{source}: plugins: must be a mapping with 'enable' and/or 'disable' lists")
    enable = list(_names(plugins.get("enable"), f"{source}: plugins.enable"))
    disable = _names(plugins.get("disable"), f"{source}: plugins.disable")
    gang = data.get("gangSchedulingManagement")
    if gang is not None:
        provider = gang.get("schedulerProvider") if isinstance(gang, Mapping) else None
        if provider not in GANG_PROVIDERS:
            raise ConfigError(
                f"{source}: gangSchedulingManagement.schedulerProvider: Unsupported value: {provider!r}: "
                f"supported values: {', '.join(repr(p) for p in GANG_PROVIDERS)}"
            )
        enable.append(GANG_PROVIDERS[provider])
    return OperatorConfig(enable_plugins=tuple(enable), disable_plugins=disable, raw=dict(data))


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: must be a list of plugin names (see `lws plugins`)")
    return tuple(value)
