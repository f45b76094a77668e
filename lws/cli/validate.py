"""``lws validate``: check LeaderWorkerSet manifests with the admission rules, without a cluster."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from lws.api.defaulting import default_lws
from lws.api.errors import FieldError
from lws.api.loading import STDIN, Document, LoadError, Manifests, load_path, load_text
from lws.cli.options import load, plugin_options
from lws.core import admission
from lws.hooks.manager import Hooks, PluginError

EXIT_INVALID = 1


@click.command(
    "validate",
    epilog=(
        "Output: nothing on stdout, so scripts can rely on the exit status. On stderr, one "
        "`error: <file>: LeaderWorkerSet <namespace>/<name>: <field>: <problem>` line per problem, a "
        "`note:` line per document that is not a LeaderWorkerSet (not an error), and `ok: ...` when all is "
        "well. Exit status: 0 when every LeaderWorkerSet is valid, 1 when any problem was found (including "
        "files that cannot be read or parsed), 2 for wrong usage."
    ),
)
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    required=True,
    metavar="FILE|DIR|-",
    help="Manifest file, directory of .yaml/.yml/.json files, or - for stdin (repeatable).",
)
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="Namespace for objects that do not name one (default: default).",
)
@plugin_options
def command(
    filenames: tuple[str, ...],
    namespace: str | None,
    config_path: str | None,
    enable_plugins: tuple[str, ...],
    disable_plugins: tuple[str, ...],
) -> None:
    """Check LeaderWorkerSet manifests as the cluster would admit them.

    Each LeaderWorkerSet is defaulted and checked exactly as the operator's webhooks do: the CRD schema
    (types, enums, required and unknown fields), upstream's admission rules, the name budget (derived
    names must fit Kubernetes' 63-character limits), then the enabled plugins' rules. Other objects in the
    input (Services, HorizontalPodAutoscalers...) are noted and skipped.
    """
    _, hooks = load(config_path, enable_plugins, disable_plugins)
    manifests = Manifests()
    for filename in filenames:
        manifests.extend(_read(filename))
    problems = _report_load(manifests.errors, manifests.others)
    valid = 0
    for doc in manifests.leaderworkersets:
        lines = check_document(doc, hooks, namespace)
        for line in lines:
            click.echo(f"error: {_one_line(line)}", err=True)
        problems += len(lines)
        valid += not lines
    if problems:
        raise SystemExit(EXIT_INVALID)
    if not manifests.leaderworkersets:
        click.echo("ok: no LeaderWorkerSet found in the input", err=True)
    else:
        noun = "LeaderWorkerSet" if valid == 1 else "LeaderWorkerSets"
        click.echo(f"ok: {valid} {noun} valid", err=True)


def _read(filename: str) -> Manifests:
    if filename != "-":
        return load_path(filename)
    try:
        # Bytes, so that input that is not UTF-8 is a clean error rather than a decoding traceback.
        binary = getattr(sys.stdin, "buffer", None)
        text = binary.read().decode("utf-8") if binary is not None else sys.stdin.read()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return Manifests(errors=[LoadError.unreadable("standard input", exc)])
    return load_text(text, STDIN)


def _report_load(errors: Sequence[LoadError], others: Sequence[Document]) -> int:
    for error in errors:
        click.echo(f"error: {_one_line(str(error))}", err=True)
    for doc in others:
        click.echo(
            f"note: {doc.source}: {doc.where}: {doc.kind} is not a LeaderWorkerSet; not checked", err=True
        )
    return len(errors)


def check_document(doc: Document, hooks: Hooks, namespace: str | None) -> list[str]:
    """The problems with one LeaderWorkerSet, each as ``<file>: <Kind> <ns>/<name>: <error>``."""
    subject = f"{doc.source}: {doc.describe(namespace or 'default')}"
    try:
        defaulted = admission.default(default_lws(doc.body, namespace=namespace), hooks)
        errors = admission.validate(defaulted, None, hooks)
    except PluginError as exc:
        return [f"{subject}: {exc}"]
    except RecursionError:
        return [f"{subject}: nested too deeply to check"]
    except Exception as exc:  # a bug must still not end in a traceback
        return [f"{subject}: internal error while checking ({type(exc).__name__}: {exc}); please report it"]
    return [f"{subject}: {_render(error)}" for error in errors]


def _render(error: FieldError) -> str:
    if error.origin == "lws":
        return str(error)
    return f"{error} (plugin {error.origin})"


def _one_line(text: str) -> str:
    """Keep one problem on one line, whatever a plugin or parser message holds."""
    return " ".join(text.splitlines())
