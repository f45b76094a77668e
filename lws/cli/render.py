"""``lws render``: print every object a LeaderWorkerSet or DisaggregatedSet leads to, as the operator does."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from lws.cli import input as manifest_input
from lws.cli.options import load, plugin_options
from lws.cli.yaml_output import to_yaml
from lws.core.disaggregated.render import render_disaggregated_set
from lws.core.render import render_set
from lws.hooks.manager import PluginError


def dump(obj: Any, output: str) -> str:
    """The List as YAML or JSON; key order is the objects' own, so the output is deterministic."""
    if output == "json":
        return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    return to_yaml(obj)


@click.command(
    "render",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  lws render -f vllm.yaml
  kubectl get lws my-lws -o yaml | lws render -f - -o json
  lws render -f sample.yaml --enable-plugin volcano""",
)
@click.option(
    "-f",
    "--filename",
    "paths",
    required=True,
    multiple=True,
    metavar="FILE|-",
    help="Manifest file, directory of manifests, or - for standard input (repeatable).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-n",
    "--namespace",
    default=None,
    metavar="NAMESPACE",
    help="Namespace for LeaderWorkerSets that name none (default: `default`).",
)
@plugin_options
def command(
    paths: tuple[str, ...],
    output: str,
    namespace: str | None,
    config_path: str | None,
    enable_plugins: tuple[str, ...],
    disable_plugins: tuple[str, ...],
) -> None:
    """Print every object the LeaderWorkerSets and DisaggregatedSets in FILE lead to, without a cluster.

    Applies the admission defaults and rules, then prints one `kind: List` whose items are, for each
    LeaderWorkerSet in order: the defaulted LeaderWorkerSet; its headless Service(s); the leader
    StatefulSet; then for each group i: the leader Pod, the worker StatefulSet and the worker Pods (as
    the StatefulSet controller creates them and the pod webhook admits them); then objects enabled
    plugins add. Then, for each DisaggregatedSet: the defaulted set; a RoleScaler per External role; and
    per slice and role, all of the above for the child LeaderWorkerSet, then its `-prv` Service. The
    output is deterministic: the same input gives the same bytes.

    Pods carry one stand-in value: their controller-revision-hash label, which a real cluster computes
    from its own encoding of the template.

    Invalid input: exit code 1, one `error:` line per problem on stderr naming the field and the rule,
    nothing on stdout.
    """
    _, hooks = load(config_path, enable_plugins, disable_plugins)
    admitted = manifest_input.admit_all(manifest_input.read(paths), hooks, namespace=namespace)
    for line in (*admitted.errors, *admitted.warnings, *admitted.notes):
        click.echo(line, err=True)
    if admitted.errors:
        sys.exit(1)
    items: list[dict[str, Any]] = []
    try:
        for obj in admitted.objects:
            items += render_set(obj, hooks)
        for ds in admitted.disaggregated:
            items += render_disaggregated_set(ds, hooks)
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(dump({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}, output), nl=False)
