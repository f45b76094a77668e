"""``lws plugins``: which plugins are installed, which are on and why, and what each one does."""

from __future__ import annotations

import importlib.metadata
import inspect
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from lws.api.config import GANG_PROVIDERS, OperatorConfig
from lws.cli.options import CliError, load, plugin_options
from lws.hooks.manager import DEFAULT_ENABLED_ATTR, ENTRY_POINT_GROUP, Hooks, PluginInfo

ENABLE_ENV = "LWS_ENABLE_PLUGINS"
DISABLE_ENV = "LWS_DISABLE_PLUGINS"


@dataclass(frozen=True)
class Sources:
    """Where the plugin selection came from, so the output can say why a plugin is on or off."""

    config_path: str | None
    config: OperatorConfig
    enable_flags: tuple[str, ...]
    disable_flags: tuple[str, ...]

    def why_disabled(self, name: str) -> str:
        if name in self.disable_flags:
            return "disabled by --disable-plugin"
        if name in _env_names(DISABLE_ENV):
            return f"disabled by {DISABLE_ENV}"
        return f"disabled in {self.config_path}: plugins.disable"

    def why_enabled(self, name: str, opt_in: bool) -> str:
        if not opt_in:
            return "enabled (default)"
        if name in self.enable_flags:
            return "enabled by --enable-plugin"
        if name in _env_names(ENABLE_ENV):
            return f"enabled by {ENABLE_ENV}"
        gang = self.config.section("gangSchedulingManagement").get("schedulerProvider")
        if gang in GANG_PROVIDERS and GANG_PROVIDERS[gang] == name:
            return f"enabled in {self.config_path}: gangSchedulingManagement.schedulerProvider"
        return f"enabled in {self.config_path}: plugins.enable"


def _env_names(variable: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in os.environ.get(variable, "").split(",") if p.strip())


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _plugin_object(hooks: Hooks, info: PluginInfo, ep: importlib.metadata.EntryPoint | None) -> object | None:
    """The plugin's module or object: registered ones from the manager; opt-in ones were imported (but not
    registered) while loading, so importing again is free. Disabled ones are never imported: a plugin is
    often disabled precisely because importing it fails."""
    if info.enabled:
        return hooks.plugin(info.name)
    if info.reason == "opt-in" and ep is not None:
        loaded: object = ep.load()
        return loaded
    return None


def describe(hooks: Hooks, sources: Sources) -> list[dict[str, Any]]:
    """One record per installed plugin, in name order (the data behind every output format)."""
    entry_points = _entry_points()
    records: list[dict[str, Any]] = []
    for info in sorted(hooks.infos, key=lambda i: i.name):
        ep = entry_points.get(info.name)
        plugin = _plugin_object(hooks, info, ep)
        opt_in = plugin is not None and not getattr(plugin, DEFAULT_ENABLED_ATTR, True)
        if info.enabled:
            status = sources.why_enabled(info.name, opt_in)
        elif info.reason == "opt-in":
            status = f"opt-in: turn on with --enable-plugin {info.name}"
        else:
            status = sources.why_disabled(info.name)
        doc = inspect.getdoc(plugin) if plugin is not None else None
        records.append(
            {
                "name": info.name,
                "enabled": info.enabled,
                "status": status,
                "distribution": info.distribution,
                "version": info.version,
                "module": ep.value if ep is not None else "",
                "hooks": list(info.hooks),
                "policies": {
                    "startupPolicy": sorted(
                        v for v, (p, _) in hooks.policies.startup.items() if p == info.name
                    ),
                    "restartPolicy": sorted(
                        v for v, (p, _) in hooks.policies.restart.items() if p == info.name
                    ),
                },
                "description": (doc or "").split("\n", 1)[0],
                "documentation": doc or "",
            }
        )
    return records


def _policies_text(record: Mapping[str, Any]) -> str:
    policies = record["policies"]
    parts = [f"{field}: {', '.join(values)}" for field, values in policies.items() if values]
    return "; ".join(parts) or "-"


def _hooks_text(record: Mapping[str, Any]) -> str:
    return ", ".join(h.removeprefix("lws_") for h in record["hooks"]) or "-"


def render_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Aligned columns, kubectl-style: no borders, no colours, no wrapping."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="", padding=(0, 3, 0, 0))
    for column in ("NAME", "STATUS", "VERSION", "HOOKS", "POLICIES"):
        table.add_column(column, no_wrap=True)
    for r in records:
        version = f"{r['distribution']} {r['version']}".strip()
        table.add_row(r["name"], r["status"], version, _hooks_text(r), _policies_text(r))
    buffer = io.StringIO()
    Console(file=buffer, width=10_000, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def render_details(record: Mapping[str, Any]) -> str:
    """Everything about one plugin, its documentation last."""
    version = f"{record['distribution']} {record['version']}".strip()
    rows = [
        ("Name", record["name"]),
        ("Status", record["status"]),
        ("Distribution", version),
        ("Module", record["module"] or "-"),
        ("Hooks", ", ".join(record["hooks"]) or "-"),
        ("Policies", _policies_text(record)),
    ]
    text = "".join(f"{label + ':':<14}{value}\n" for label, value in rows)
    documentation = record["documentation"] or "(not imported: the plugin is disabled)"
    return f"{text}\n{documentation}\n"


@click.command("plugins")
@click.argument("name", required=False)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@plugin_options
def command(
    name: str | None,
    output: str,
    config_path: str | None,
    enable_plugins: tuple[str, ...],
    disable_plugins: tuple[str, ...],
) -> None:
    """List installed plugins: on or off and why, version, hooks and the policy values they add.

    With NAME, show one plugin in full, including its documentation (its settings and examples). The
    plugin selection is the one every command uses: --config, --enable-plugin, --disable-plugin and the
    LWS_ENABLE_PLUGINS / LWS_DISABLE_PLUGINS variables.
    """
    config, hooks = load(config_path, enable_plugins, disable_plugins)
    records = describe(hooks, Sources(config_path, config, enable_plugins, disable_plugins))
    if name is not None:
        matching = [r for r in records if r["name"] == name]
        if not matching:
            known = ", ".join(r["name"] for r in records) or "(none)"
            raise CliError(f"no plugin named {name!r} is installed; installed plugins: {known}")
        record = matching[0]
        if output == "table":
            click.echo(render_details(record), nl=False)
        else:
            _dump(record, output)
        return
    if output == "table":
        click.echo(render_table(records), nl=False)
    else:
        _dump({"plugins": [{k: v for k, v in r.items() if k != "documentation"} for r in records]}, output)


def _dump(data: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
