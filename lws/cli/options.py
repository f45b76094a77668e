"""Options every command shares, so that one plugin set is chosen the same way everywhere.

``--config FILE`` (the operator configuration), ``--enable-plugin NAME`` and ``--disable-plugin NAME``
(repeatable), and the environment variables ``LWS_ENABLE_PLUGINS`` / ``LWS_DISABLE_PLUGINS``
(comma-separated). Flags add to the config file's lists; a plugin both enabled and disabled is disabled.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from lws.api.config import ConfigError, OperatorConfig, load_config
from lws.hooks.manager import Hooks, PluginError, PluginSelection, make_hooks

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A user-facing failure printed as ``error: <message>`` (exit 1), never a traceback."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def plugin_options(fn: F) -> F:
    """Add ``--config``, ``--enable-plugin`` and ``--disable-plugin`` to a click command."""
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            envvar="LWS_CONFIG",
            help="Operator configuration file (upstream Configuration format plus a `plugins` section).",
        ),
        click.option(
            "--enable-plugin",
            "enable_plugins",
            multiple=True,
            metavar="NAME",
            help="Turn on an installed plugin (repeatable), e.g. an opt-in one such as volcano.",
        ),
        click.option(
            "--disable-plugin",
            "disable_plugins",
            multiple=True,
            metavar="NAME",
            help="Turn off an installed plugin (repeatable). `lws plugins` lists them.",
        ),
    ]
    return functools.reduce(lambda f, d: d(f), reversed(decorators), fn)


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())


def selection(
    config: OperatorConfig, enable: tuple[str, ...] = (), disable: tuple[str, ...] = ()
) -> PluginSelection:
    """Merge config file, environment and flags into one plugin selection."""
    enabled = (*config.enable_plugins, *_env_list("LWS_ENABLE_PLUGINS"), *enable)
    disabled = (*config.disable_plugins, *_env_list("LWS_DISABLE_PLUGINS"), *disable)
    return PluginSelection(
        enable=tuple(dict.fromkeys(n for n in enabled if n not in disabled)),
        disable=tuple(dict.fromkeys(disabled)),
    )


def load(
    config_path: str | None, enable: tuple[str, ...], disable: tuple[str, ...]
) -> tuple[OperatorConfig, Hooks]:
    """Read the config and build the plugins; turn failures into a clean CLI error."""
    try:
        config = load_config(config_path)
        return config, make_hooks(selection(config, enable, disable))
    except (ConfigError, PluginError) as exc:
        raise CliError(str(exc)) from None
