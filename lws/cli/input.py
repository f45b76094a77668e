"""Reading LeaderWorkerSet and DisaggregatedSet manifests for a command, and admitting them as webhooks do.

Shared by ``lws render``, ``lws validate`` and ``lws simulate``, so one manifest gets the same verdict and
the same ``error:`` lines from each of them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lws.api.loading import STDIN, Document, LoadError, Manifests, load_path, load_text
from lws.core import admission
from lws.core.disaggregated import admission as ds_admission
from lws.hooks.manager import Hooks, PluginError


@dataclass
class Admitted:
    """Defaulted objects that passed; one ``error:`` line per problem, one ``note:`` per skipped object,
    one ``warning:`` per admission warning (they do not fail a command, as they do not fail ``kubectl``)."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0
    disaggregated: list[dict[str, Any]] = field(default_factory=list)
    checked_disaggregated: int = 0
    warnings: list[str] = field(default_factory=list)


def read(paths: Iterable[str]) -> Manifests:
    """``-`` reads standard input; anything else is a file or a directory of manifests."""
    manifests = Manifests()
    for path in paths:
        manifests.extend(_read_stdin() if path == "-" else load_path(path))
    return manifests


def _read_stdin() -> Manifests:
    try:
        # Bytes, so that input that is not UTF-8 is a clean error rather than a decoding traceback.
        binary = getattr(sys.stdin, "buffer", None)
        text = binary.read().decode("utf-8") if binary is not None else sys.stdin.read()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return Manifests(errors=[LoadError.unreadable("standard input", exc)])
    return load_text(text, STDIN)


def admit_all(manifests: Manifests, hooks: Hooks, *, namespace: str | None = None) -> Admitted:
    """Default and validate every LeaderWorkerSet and DisaggregatedSet; other kinds are noted and skipped."""
    result = Admitted()
    result.errors += [f"error: {one_line(str(e))}" for e in manifests.errors]
    result.notes += [
        f"note: {doc.source}: {doc.where}: {doc.kind} is not a LeaderWorkerSet or DisaggregatedSet; "
        "not checked"
        for doc in manifests.others
    ]
    for doc in manifests.leaderworkersets:
        result.checked += 1
        obj, problems = admit_document(doc, hooks, namespace)
        result.errors += [f"error: {one_line(p)}" for p in problems]
        if obj is not None:
            result.objects.append(obj)
    for doc in manifests.disaggregatedsets:
        result.checked_disaggregated += 1
        obj, problems, warnings = admit_disaggregated_document(doc, hooks, namespace)
        result.errors += [f"error: {one_line(p)}" for p in problems]
        result.warnings += [f"warning: {one_line(w)}" for w in warnings]
        if obj is not None:
            result.disaggregated.append(obj)
    return result


def admit_disaggregated_document(
    doc: Document, hooks: Hooks, namespace: str | None
) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    """The defaulted DisaggregatedSet (``None`` if invalid), its problems and its warnings, each line
    ``<file>: DisaggregatedSet <ns>/<name>: ...``. Its children are admitted as LeaderWorkerSets too."""
    subject = f"{doc.source}: {doc.describe(namespace or 'default')}"
    try:
        defaulted, verdict = ds_admission.admit(doc.body, hooks, namespace=namespace)
    except PluginError as exc:
        return None, [f"{subject}: {exc}"], []
    except RecursionError:
        return None, [f"{subject}: nested too deeply to check"], []
    except Exception as exc:  # a bug must still not end in a traceback
        return (
            None,
            [f"{subject}: internal error while checking ({type(exc).__name__}: {exc}); please report it"],
            [],
        )
    warnings = [f"{subject}: {w}" for w in verdict.warnings]
    if verdict.errors:
        return None, [f"{subject}: {error.described()}" for error in verdict.errors], warnings
    return defaulted, [], warnings


def admit_document(
    doc: Document, hooks: Hooks, namespace: str | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The defaulted object (``None`` if invalid) and problems (``<file>: <Kind> <ns>/<name>: <error>``)."""
    subject = f"{doc.source}: {doc.describe(namespace or 'default')}"
    try:
        defaulted, errors = admission.admit(doc.body, None, hooks, namespace=namespace)
    except PluginError as exc:
        return None, [f"{subject}: {exc}"]
    except RecursionError:
        return None, [f"{subject}: nested too deeply to check"]
    except Exception as exc:  # a bug must still not end in a traceback
        return None, [
            f"{subject}: internal error while checking ({type(exc).__name__}: {exc}); please report it"
        ]
    if errors:
        return None, [f"{subject}: {error.described()}" for error in errors]
    return defaulted, []


def one_line(text: str) -> str:
    """Keep one problem on one line, whatever a plugin or parser message holds."""
    return " ".join(text.splitlines())
