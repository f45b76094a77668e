"""Upstream's sample manifests, the real-world inputs many tests run: found in one place, and never silently
fewer.

They live outside the repository (``/work/shared/samples/upstream``, or ``$LWS_UPSTREAM_SAMPLES``; see that
folder's README). A missing folder, or one with another number of samples than counted here, is an error
raised while the tests are collected (``SamplesMissing``), never an empty parametrisation that passes. When
upstream's samples change on purpose, update the counts below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

DIRECTORY = Path(os.environ.get("LWS_UPSTREAM_SAMPLES", "/work/shared/samples/upstream"))
#: Sample files (``*.yaml``) in the folder, as counted at kubernetes-sigs/lws commit 060ab4da.
FILES = 18
#: Files holding a LeaderWorkerSet (the other two are HorizontalPodAutoscaler samples).
LEADERWORKERSET_FILES = 16
#: LeaderWorkerSets in those files (one each; six files also hold a Service).
LEADERWORKERSETS = 16


class SamplesMissing(RuntimeError):
    """The upstream samples are not where the tests need them, or not all of them are."""


def directory() -> Path:
    """The samples folder; :class:`SamplesMissing` when it does not exist."""
    if not DIRECTORY.is_dir():
        raise SamplesMissing(
            f"upstream's sample manifests are not at {DIRECTORY}: copy them there (kubernetes-sigs/lws "
            "config/samples and docs/examples) or point LWS_UPSTREAM_SAMPLES at them"
        )
    return DIRECTORY


def files() -> list[Path]:
    """Every sample file, sorted; :class:`SamplesMissing` unless there are exactly :data:`FILES`."""
    found = sorted(directory().glob("*.yaml"))
    if len(found) != FILES:
        raise SamplesMissing(f"expected {FILES} sample files in {DIRECTORY}, found {len(found)}")
    return found


def path(name: str) -> Path:
    """One sample file by name; :class:`SamplesMissing` when it is not there."""
    found = directory() / name
    if not found.is_file():
        raise SamplesMissing(f"upstream sample {name} is missing from {DIRECTORY}")
    return found


def leaderworkersets_of(sample: Path) -> list[dict[str, Any]]:
    """The LeaderWorkerSets of one sample file, in document order."""
    return [d for d in yaml.safe_load_all(sample.read_text()) if d and d.get("kind") == "LeaderWorkerSet"]


def service_accounts_of(sample: Path) -> list[str]:
    """The ServiceAccounts (other than ``default``) the pods of a sample's LeaderWorkerSets name, sorted.

    Kubernetes admits a pod only if its ServiceAccount exists, so whoever applies such a sample must
    create them first (upstream's tensorrt-llm sample names ``tensorrt-sa`` and does not ship it)."""
    names: set[str] = set()
    for manifest in leaderworkersets_of(sample):
        template = manifest["spec"]["leaderWorkerTemplate"]
        for pod in (template.get("leaderTemplate") or {}, template["workerTemplate"]):
            name = (pod.get("spec") or {}).get("serviceAccountName")
            if name and name != "default":
                names.add(name)
    return sorted(names)


def leaderworkerset_files() -> list[Path]:
    """The sample files that hold a LeaderWorkerSet (exactly :data:`LEADERWORKERSET_FILES`)."""
    found = [p for p in files() if leaderworkersets_of(p)]
    if len(found) != LEADERWORKERSET_FILES:
        raise SamplesMissing(
            f"expected {LEADERWORKERSET_FILES} files with a LeaderWorkerSet, found {len(found)}"
        )
    return found


def leaderworkersets() -> list[tuple[str, dict[str, Any]]]:
    """Every sample LeaderWorkerSet as (``file:name``, object) (exactly :data:`LEADERWORKERSETS`)."""
    found = [(f"{p.name}:{d['metadata']['name']}", d) for p in files() for d in leaderworkersets_of(p)]
    if len(found) != LEADERWORKERSETS:
        raise SamplesMissing(f"expected {LEADERWORKERSETS} sample LeaderWorkerSets, found {len(found)}")
    return found
