"""``lws simulate``: where each group's pods would land on a topology, with the enabled plugins."""

from __future__ import annotations

import json
import logging
import sys

import click

from lws.cli import input as manifest_input
from lws.cli.options import CliError, load, plugin_options
from lws.demo.placement import report_json, report_text
from lws.demo.settle import ApplyError
from lws.demo.simulation import simulate
from lws.demo.stage import StageError
from lws.sim.topology import TopologyError

EXIT_FAILED = 1


@click.command(
    "simulate",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="""\b
Examples:
  lws simulate -f lws/demo/vllm.yaml --topology gpu-multilevel
  lws simulate -f my-set.yaml --topology gpu-large -o json | jq '.leaderWorkerSets[].groups[].spans'
  lws simulate -f my-set.yaml --topology ./my-cluster.yaml --enable-plugin my_placement

\b
Settled: every LeaderWorkerSet reconciled (observedGeneration = generation) with a leader pod per group,
and every DisaggregatedSet reconciled with its child LeaderWorkerSets settled so;
every pod Running, or Pending with PodScheduled=False (unschedulable or gated), or waiting for a scheduler
the cluster does not run; nothing changed for --settle seconds; the operator idle with its caches current.

\b
JSON (-o json), a stable schema:
  {"topology": {"name": str, "nodes": int, "levels": [label key, outermost first]},
   "plugins": [enabled plugin names], "settled": bool,
   "seconds": float (from applying to the cluster's last change),
   "leaderWorkerSets": [{"namespace", "name", "replicas", "size", "annotations": {..},
       "disaggregatedSet": null | {"name", "role", "slice"} (a DisaggregatedSet's child),
       "placed": int, "unschedulable": int, "missing": int (pods not created),
       "groups": [{"index", "placed", "unschedulable", "missing",
           "spans": {level key: distinct domains used},
           "pods": [{"name", "role": "leader"|"worker", "workerIndex", "node": str|null,
                     "topology": {level key: domain}, "phase",
                     "unschedulable": null | {"reason", "message"}}]}]}]}

\b
Exit status: 0 once settled, 1 for manifests or topology that cannot be used or a cluster that did not
settle in --timeout (the report is still printed), 2 for wrong usage.""",
)
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    required=True,
    metavar="FILE|DIR|-",
    help="Manifest file, directory of manifests, or - for standard input (repeatable).",
)
@click.option(
    "--topology",
    required=True,
    metavar="NAME|FILE",
    help="The cluster: a topology file or a shipped name (gpu-small, gpu-multilevel, gpu-large, ...).",
)
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Format."
)
@click.option(
    "-n", "--namespace", default="default", show_default=True, help="Namespace for objects that name none."
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    metavar="SECONDS",
    help="How long nothing may change before the cluster counts as settled.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up waiting for the cluster to settle after this long.",
)
@click.option("-v", "--verbose", count=True, help="Show the operator's logs: -v info, -vv debug.")
@plugin_options
def command(
    paths: tuple[str, ...],
    topology: str,
    output: str,
    namespace: str,
    settle: float,
    timeout: float,
    verbose: int,
    config_path: str | None,
    enable_plugins: tuple[str, ...],
    disable_plugins: tuple[str, ...],
) -> None:
    """Show where each group's pods would land on a topology.

    Starts the embedded cluster with the topology's nodes (kubelets without delays) and the operator with
    the enabled plugins, applies the manifests (LeaderWorkerSets and DisaggregatedSets through the
    operator's webhooks; missing namespaces are created), waits until the cluster has settled, and prints,
    for every group, each pod's node and its domain at every topology level, the pods left unschedulable
    with the scheduler's reason, and how many domains of each level every group spans. A DisaggregatedSet's
    groups are those of its child LeaderWorkerSets, one per slice and role, each named with its set, role
    and slice.
    """
    _configure_logging(verbose)
    _, hooks = load(config_path, enable_plugins, disable_plugins)
    manifests = manifest_input.read(paths)
    admitted = manifest_input.admit_all(manifests, hooks, namespace=namespace)
    if admitted.errors:
        for line in admitted.errors:
            click.echo(line, err=True)
        raise SystemExit(EXIT_FAILED)
    if not admitted.checked and not admitted.checked_disaggregated:
        raise CliError(f"no LeaderWorkerSet or DisaggregatedSet in {', '.join(paths)}: nothing to place")
    for line in admitted.warnings:
        click.echo(line, err=True)
    documents = [*manifests.others, *manifests.leaderworkersets, *manifests.disaggregatedsets]
    try:
        run = simulate(topology, hooks, documents, namespace=namespace, quiet=settle, timeout=timeout)
    except TopologyError as exc:
        raise click.BadParameter(str(exc), param_hint="--topology") from None
    except (StageError, ApplyError) as exc:
        raise CliError(str(exc)) from None
    report, result = run.report, run.settled
    if output == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        for line in report_text(report):
            click.echo(line)
    if not result.settled:
        raise CliError(
            f"the cluster did not settle within {timeout:g}s: " + "; ".join(result.outstanding[:5])
        )


def _configure_logging(verbose: int) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    # kopf warns that an operator off the main thread cannot take OS signals; this process handles them.
    logging.getLogger("kopf").setLevel(logging.DEBUG if verbose > 1 else logging.ERROR)
