"""Kubeconfig files pointing at an embedded cluster (plain HTTP on 127.0.0.1, no credentials)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "lws-sim"


def kubeconfig(server: str, *, name: str = CONTEXT, namespace: str | None = None) -> dict[str, Any]:
    """A kubeconfig whose current context talks to ``server`` (``http://127.0.0.1:<port>``)."""
    context: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": {}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }


def write_kubeconfig(path: str | Path, server: str, *, name: str = CONTEXT) -> Path:
    """Write a kubeconfig for ``server`` to ``path`` atomically (readers never see half a file)."""
    target = Path(path).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(kubeconfig(server, name=name), sort_keys=False)
    handle, temporary = tempfile.mkstemp(prefix=".kubeconfig-", dir=target.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
