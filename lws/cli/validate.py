"""``lws validate``: check LeaderWorkerSet and DisaggregatedSet manifests with the admission rules."""

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
        "`warning:` line per admission warning, a `note:` line per document that is neither a "
        "LeaderWorkerSet nor a DisaggregatedSet (not an error), and `ok: ...` when all is well. Exit "
        "status: 0 when every object is valid, 1 when any problem was found (including files that cannot be "
        "read or parsed), 2 for wrong usage."
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
    """Check LeaderWorkerSet and DisaggregatedSet manifests as the cluster would admit them.

    Each LeaderWorkerSet is defaulted and checked exactly as the operator's webhooks do: the CRD schema
    (types, enums, required and unknown fields), upstream's admission rules, the name budget (derived
    names must fit Kubernetes' 63-character limits), then the enabled plugins' rules. Each
    DisaggregatedSet gets its CRD defaults, the CRD schema and CEL rule, upstream's webhook rules, and then
    each role's child LeaderWorkerSet is checked as above. Other objects in the input (Services,
    HorizontalPodAutoscalers...) are noted and skipped.
    """
    _, hooks = load(config_path, enable_plugins, disable_plugins)
    admitted = manifest_input.admit_all(manifest_input.read(filenames), hooks, namespace=namespace)
    for line in (*admitted.errors, *admitted.warnings, *admitted.notes):
        click.echo(line, err=True)
    if admitted.errors:
        raise SystemExit(EXIT_INVALID)
    counts = [
        f"{n} {kind if n == 1 else kind + 's'}"
        for n, kind in (
            (admitted.checked, "LeaderWorkerSet"),
            (admitted.checked_disaggregated, "DisaggregatedSet"),
        )
        if n
    ]
    if not counts:
        click.echo("ok: no LeaderWorkerSet found in the input", err=True)
    else:
        click.echo(f"ok: {' and '.join(counts)} valid", err=True)
