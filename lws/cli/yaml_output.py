"""How the CLI prints YAML: block style, keys in the objects' own order, no anchors, and multi-line strings
(a configuration file in a ConfigMap, a script) as literal blocks a reader can follow."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

__all__ = ["to_yaml", "to_yaml_documents"]


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        # A sub-object shared by two objects must print in full both times, not as an anchor and an alias.
        return True


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(obj: Any) -> str:
    """One YAML document, non-ASCII text printed as it is."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


def to_yaml_documents(objects: Iterable[Any]) -> str:
    """A YAML stream, one ``---``-started document per object, as ``kubectl apply -f -`` reads it."""
    return yaml.dump_all(
        list(objects), Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True
    )
