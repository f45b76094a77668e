"""``lws validate``: check LeaderWorkerSet manifests with the admission rules, without a cluster."""

from __future__ import annotations

import click

from lws.cli import input as manifest_input
from lws.cli.options import load, plugin_options

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
    admitted = manifest_input.admit_all(manifest_input.read(filenames), hooks, namespace=namespace)
    for line in (*admitted.errors, *admitted.notes):
        click.echo(line, err=True)
    if admitted.errors:
        raise SystemExit(EXIT_INVALID)
    if not admitted.checked:
        click.echo("ok: no LeaderWorkerSet found in the input", err=True)
    else:
        noun = "LeaderWorkerSet" if admitted.checked == 1 else "LeaderWorkerSets"
        click.echo(f"ok: {admitted.checked} {noun} valid", err=True)
