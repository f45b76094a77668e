"""Shared helpers for core tests: build a LeaderWorkerSet manifest and render it with the built-in plugins."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from lws.core.admission import admit
from lws.core.render import render_set
from lws.hooks.manager import Hooks, make_hooks


@pytest.fixture(scope="session")
def hooks() -> Hooks:
    return make_hooks()


def manifest(
    name: str = "demo",
    *,
    replicas: int = 2,
    size: int = 3,
    annotations: dict[str, str] | None = None,
    worker_env: list[dict[str, str]] | None = None,
    **template: Any,
) -> dict[str, Any]:
    worker = {
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "env": worker_env or [{"name": "USER_VAR", "value": "1"}],
                }
            ]
        }
    }
    lwt: dict[str, Any] = {"size": size, "workerTemplate": worker}
    lwt.update(template)
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": meta,
        "spec": {"replicas": replicas, "leaderWorkerTemplate": lwt},
    }


@pytest.fixture
def render(hooks: Hooks) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    def _render(obj: dict[str, Any]) -> list[dict[str, Any]]:
        defaulted, errors = admit(copy.deepcopy(obj), None, hooks)
        assert not errors, [str(e) for e in errors]
        return render_set(defaulted, hooks)

    return _render


def by_name(items: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for item in items:
        if item["kind"] == kind and item["metadata"]["name"] == name:
            return item
    raise AssertionError(f"no {kind} {name} in {[(i['kind'], i['metadata']['name']) for i in items]}")


def env_of(pod: dict[str, Any], container: int = 0) -> list[tuple[str, str]]:
    return [(e["name"], e.get("value", "")) for e in pod["spec"]["containers"][container].get("env") or []]
