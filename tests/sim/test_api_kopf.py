"""A tiny kopf operator against the embedded cluster: handlers fire, finalizers come and go, patches land,
events post. kopf talks to the cluster over HTTP exactly as to a real one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import kopf
import pytest

from lws.sim.runner import EmbeddedCluster
from lws.sim.testing import wait_until

pytestmark = pytest.mark.sim_only

GROUP, VERSION, PLURAL = "example.com", "v1", "things"
THINGS = (GROUP, VERSION, PLURAL)
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "thing", "kind": "Thing"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


class Operator:
    """Handlers recording what they saw, and the thread kopf runs in."""

    def __init__(self, cluster: EmbeddedCluster) -> None:
        self.cluster = cluster
        self.calls: list[tuple[str, str]] = []
        self.registry = kopf.OperatorRegistry()
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self._register()
        self.thread = threading.Thread(target=self._run, name="kopf", daemon=True)

    def _register(self) -> None:
        registry, url = self.registry, self.cluster.url

        @kopf.on.login(registry=registry)
        def login(**_: object) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url, insecure=True)

        @kopf.on.create(GROUP, VERSION, PLURAL, id="created", registry=registry)
        def created(name: str, patch: kopf.Patch, body: kopf.Body, **_: object) -> dict[str, str]:
            self.calls.append(("create", name))
            patch.metadata.setdefault("labels", {})["handled"] = "yes"
            kopf.info(body, reason="Created", message=f"saw {name}")
            return {"message": "hello"}

        @kopf.on.update(GROUP, VERSION, PLURAL, field="spec.size", registry=registry)
        def resized(name: str, old: object, new: object, **_: object) -> None:
            self.calls.append(("update", f"{name}:{old}->{new}"))

        @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
        def deleted(name: str, **_: object) -> None:
            self.calls.append(("delete", name))

    def _run(self) -> None:
        settings = kopf.OperatorSettings()
        settings.posting.level = 20  # INFO: kopf.info() events are posted
        settings.watching.server_timeout = 10
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="example.com")
        asyncio.run(
            kopf.operator(
                registry=self.registry,
                settings=settings,
                standalone=True,
                namespaces=["default"],
                stop_flag=self.stop_flag,
                ready_flag=self.ready_flag,
            )
        )

    def __enter__(self) -> Operator:
        self.thread.start()
        assert self.ready_flag.wait(30), "kopf did not become ready"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "kopf did not stop"


@pytest.fixture
def operator(embedded_cluster: EmbeddedCluster) -> Iterator[Operator]:
    embedded_cluster.sync.create(("apiextensions.k8s.io", "v1", "customresourcedefinitions"), None, CRD)
    with Operator(embedded_cluster) as running:
        yield running


def _thing(cluster: EmbeddedCluster) -> dict | None:
    try:
        return cluster.sync.get(THINGS, "default", "one")
    except Exception:
        return None


def test_kopf_operator_handles_create_update_delete(embedded_cluster, operator):
    sync = embedded_cluster.sync
    sync.create(
        THINGS,
        "default",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Thing",
            "metadata": {"name": "one"},
            "spec": {"size": 1},
        },
    )

    handled = wait_until(
        lambda: (
            (t := _thing(embedded_cluster)) and t["metadata"].get("labels", {}).get("handled") == "yes" and t
        ),
        what="the create handler's patch",
    )
    assert ("create", "one") in operator.calls
    assert any("kopf" in f for f in handled["metadata"].get("finalizers", [])), handled["metadata"]
    wait_until(
        lambda: (
            (_thing(embedded_cluster) or {}).get("status", {}).get("created", {}).get("message") == "hello"
        ),
        what="the handler's result in status",
    )

    def posted() -> bool:
        events = sync.list(("", "v1", "events"), "default")["items"]
        return any(e.get("reason") == "Created" and e.get("message") == "saw one" for e in events)

    wait_until(posted, what="kopf's event")

    sync.patch(THINGS, "default", "one", {"spec": {"size": 2}}, "application/merge-patch+json")
    wait_until(lambda: ("update", "one:1->2") in operator.calls, what="the update handler")

    sync.delete(THINGS, "default", "one")
    wait_until(lambda: ("delete", "one") in operator.calls, what="the delete handler")
    wait_until(lambda: _thing(embedded_cluster) is None, what="kopf to remove its finalizer")
