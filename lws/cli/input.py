"""Reading LeaderWorkerSet manifests for a command and admitting them as the webhooks would.

Shared by ``lws render``, ``lws validate`` and ``lws simulate`` so that one manifest gets the same verdict
and the same error lines from each of them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from lws.api.loading import Document, Manifests, load_path, load_text
from lws.core.admission import admit
from lws.hooks.manager import Hooks, PluginError


@dataclass
class Admitted:
    """The defaulted objects that passed, and one ``error:`` line per problem."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read(path: str) -> Manifests:
    """``-`` reads standard input; anything else a file or a directory of manifests."""
    if path == "-":
        return load_text(sys.stdin.read())
    return load_path(path)


def admit_all(manifests: Manifests, hooks: Hooks, *, namespace: str | None = None) -> Admitted:
    """Default and validate every LeaderWorkerSet; other kinds are noted and skipped."""
    result = Admitted()
    result.errors += [f"error: {e}" for e in manifests.errors]
    for doc in manifests.others:
        result.notes.append(
            f"note: {_where(doc)}: skipping {doc.describe(namespace or 'default')}: not a LeaderWorkerSet"
        )
    for doc in manifests.leaderworkersets:
        try:
            defaulted, problems = admit(doc.body, None, hooks, namespace=namespace)
        except PluginError as exc:
            result.errors.append(f"error: {_where(doc)}: {doc.describe(namespace or 'default')}: {exc}")
            continue
        if problems:
            prefix = f"error: {_where(doc)}: {doc.describe(namespace or 'default')}"
            result.errors += [f"{prefix}: {p}" for p in problems]
        else:
            result.objects.append(defaulted)
    return result


def _where(doc: Document) -> str:
    return f"{doc.source} {doc.where}" if doc.source else doc.where
