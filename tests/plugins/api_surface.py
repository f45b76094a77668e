"""The plugin API's surface: every name ``lws.plugin`` and its submodules export, every hook with its
arguments, every exported dataclass's fields. ``tests/plugins/data/plugin_api.json`` records it per
``API_VERSION``, so that the compatibility promise in ``lws.plugin``'s docstring is checked, not hoped for.

After adding to the API, bump ``API_VERSION``'s minor and record the new surface under it:

    .venv/bin/python tests/plugins/api_surface.py 1.2
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

RECORD = Path(__file__).resolve().parent / "data" / "plugin_api.json"
MODULES = (
    "lws.plugin",
    "lws.plugin.constants",
    "lws.plugin.gang",
    "lws.plugin.names",
    "lws.plugin.resources",
    "lws.plugin.settings",
)

Surface = dict[str, dict[str, list[str]]]


def _exported(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_") and not inspect.ismodule(v)]
    return sorted(names)


def current() -> Surface:
    """The surface as this checkout exports it."""
    import lws.hooks.specs

    surface: Surface = {"names": {}, "hooks": {}, "fields": {}}
    for name in MODULES:
        module = importlib.import_module(name)
        surface["names"][name] = _exported(module)
        for exported in surface["names"][name]:
            value = getattr(module, exported)
            if isinstance(value, type) and dataclasses.is_dataclass(value):
                fields = [f.name for f in dataclasses.fields(value) if not f.name.startswith("_")]
                surface["fields"][f"{name}.{exported}"] = sorted(fields)
    for hook, spec in vars(lws.hooks.specs).items():
        if hook.startswith("lws_") and inspect.isfunction(spec):
            surface["hooks"][hook] = list(inspect.signature(spec).parameters)
    return surface


def recorded() -> dict[str, Surface]:
    """Version (``"1.0"``) -> the surface recorded for it."""
    data: dict[str, Surface] = json.loads(RECORD.read_text(encoding="utf-8"))
    return data


def missing(old: Surface, new: Surface) -> list[str]:
    """What ``old`` has that ``new`` lacks: each one a broken promise within a major version."""
    gone = []
    for kind, entries in old.items():
        for key, items in entries.items():
            if key not in new.get(kind, {}):
                gone.append(f"{kind}: {key}")
                continue
            gone.extend(f"{kind}: {key}.{item}" for item in items if item not in new[kind][key])
    return gone


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    versions = recorded() if RECORD.exists() else {}
    versions[sys.argv[1]] = current()
    RECORD.write_text(json.dumps(versions, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded the plugin API surface as {sys.argv[1]} in {RECORD}")
