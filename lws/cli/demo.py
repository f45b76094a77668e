"""``lws demo``: the embedded cluster, the operator and a vLLM LeaderWorkerSet, narrated step by step."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler

from lws.cli.options import CliError, load, plugin_options
from lws.controller.instrumentation import OperatorTelemetry
from lws.demo.disaggregated import DisaggregatedDemo
from lws.demo.narration import LiveNarrator, Narrator, PlainNarrator
from lws.demo.sample import SampleError, load_sample, shape_for, sized
from lws.demo.scenario import Demo, DemoError, StepFailed
from lws.demo.stage import Stage, StageError
from lws.demo.summary import report
from lws.observability.otlp_json import write_otlp_json
from lws.observability.timeline import render_timeline
from lws.observability.tracing import in_memory_tracing
from lws.sim.topology import NodeTiming, TopologyError

DEFAULT_KUBECONFIG = Path(".lws") / "kubeconfig"
SCENARIOS = ("vllm", "disaggregated")
#: Kubelet delays at --speed 1: short, but long enough to watch pods go Pending, Running, Ready.
START_DELAY = 1.0
READY_DELAY = 1.5


@click.command(
    "demo",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="""\b
Examples:
  lws demo                              the whole story, on two racks of four 8-GPU nodes
  lws demo --keep                       then keep the cluster for kubectl (Ctrl-C to stop)
  lws demo --speed 5 --plain            faster, as lines of text
  lws demo --scenario disaggregated     a prefill/decode DisaggregatedSet rolled out keeping its ratio

\b
Exit status: 0 when every step converged, 1 when one did not (the message says what it waited for),
2 for wrong usage.""",
)
@click.option(
    "--topology",
    default="gpu-small",
    show_default=True,
    metavar="NAME|FILE",
    help="Cluster to run on: a shipped topology name or a topology file (`lws cluster up` takes the same).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    metavar="FACTOR",
    default=1.0,
    show_default=True,
    help=f"Divide the kubelet delays ({START_DELAY:g}s to start a container, {READY_DELAY:g}s to be Ready) "
    "by this.",
)
@click.option(
    "--step-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up on a step that has not converged after this long.",
)
@click.option(
    "--plain", is_flag=True, help="Narrate line by line even on a terminal (the default elsewhere)."
)
@click.option("--no-color", is_flag=True, help="No colours in the live table (NO_COLOR is honoured too).")
@click.option(
    "--keep",
    is_flag=True,
    help="Afterwards, keep the cluster and the operator running for kubectl until Ctrl-C.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_KUBECONFIG,
    show_default=True,
    help="Where --keep writes the cluster's kubeconfig.",
)
@click.option(
    "--trace-out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the operator's spans to FILE as OTLP JSON (for Jaeger, Tempo or an OpenTelemetry "
    "Collector's otlpjsonfile receiver).",
)
@click.option(
    "--scenario",
    type=click.Choice(SCENARIOS),
    default=SCENARIOS[0],
    show_default=True,
    help="vllm: a multi-node vLLM LeaderWorkerSet created, rolled out, recovered and scaled. disaggregated: "
    "a prefill/decode DisaggregatedSet rolled out in lockstep, keeping its 1:2 ratio, then scaled "
    "(always as lines of text).",
)
@click.option("-v", "--verbose", count=True, help="Show the operator's logs: -v info, -vv debug.")
@plugin_options
def command(
    topology: str,
    speed: float,
    step_timeout: float,
    plain: bool,
    no_color: bool,
    keep: bool,
    kubeconfig: Path,
    trace_out: Path | None,
    scenario: str,
    verbose: int,
    config_path: str | None,
    enable_plugins: tuple[str, ...],
    disable_plugins: tuple[str, ...],
) -> None:
    """Watch the operator run a multi-node vLLM LeaderWorkerSet on an embedded cluster.

    Starts the embedded Kubernetes-compatible cluster with GPU nodes, then the operator in this process
    (kopf, admission webhooks over HTTPS, informers, leader election: what `lws run` runs against any
    cluster), and applies a vLLM LeaderWorkerSet sized to the nodes (lws/demo/vllm.yaml). A table of groups
    and pods follows it through four steps: (1) creation until Available; (2) a new image rolled out group
    by group; (3) a worker container killed, and its whole group recreated; (4) a scale-up by one group.
    It ends with a summary of how long each took and how many API requests the operator made, and a
    timeline of each group built from the operator's traces.
    """
    _, hooks = load(config_path, enable_plugins, disable_plugins)
    timing = NodeTiming(start_delay=START_DELAY / speed, ready_delay=READY_DELAY / speed)
    tracer, spans = in_memory_tracing()
    telemetry = OperatorTelemetry(tracer_provider=tracer)
    try:
        stage = Stage(
            topology, hooks, timing=timing, kubeconfig=kubeconfig if keep else None, telemetry=telemetry
        )
    except TopologyError as exc:
        raise click.BadParameter(str(exc), param_hint="--topology") from None
    if scenario == "disaggregated":
        _disaggregated(stage, step_timeout=step_timeout, verbose=verbose, keep=keep)
        return
    sample = load_sample()
    try:
        shape = shape_for(stage.topology, sample)
    except SampleError as exc:
        raise CliError(str(exc)) from None

    live = sys.stdout.isatty() and not plain
    console = Console(no_color=no_color, highlight=False)
    narrator: Narrator = LiveNarrator(console) if live else PlainNarrator(click.echo)
    _configure_logging(verbose, console if live else None)
    nodes = len(stage.topology.node_specs())
    try:
        narrator.say(
            f"Starting the embedded cluster ({stage.topology.name}: {nodes} nodes, {shape.gpus_per_pod} GPUs "
            "each) and the operator, in this process..."
        )
        with _running(stage):
            narrator.say(_operator_line(stage))
            demo = Demo(stage, sized(sample, shape), shape, narrator, step_timeout=step_timeout)

            def timeline() -> None:
                narrator.say("")
                narrator.say("Timeline of each group (from the operator's traces)")
                narrator.say(render_timeline(spans.get_finished_spans()))

            failure = _play(demo, narrator, timeline)
            if keep:
                _keep(stage, failed=failure is not None)
        if trace_out is not None:
            telemetry.shutdown()  # the operator has stopped: end what is still open, so it is written too
            written = write_otlp_json(spans.get_finished_spans(), trace_out)
            click.echo(f"Spans written to {written} (OTLP JSON)", err=True)
    finally:
        narrator.close()
    if failure is not None:
        raise CliError(str(failure))


def _disaggregated(stage: Stage, *, step_timeout: float, verbose: int, keep: bool) -> None:
    """The prefill/decode scenario (:mod:`lws.demo.disaggregated`), told line by line."""
    _configure_logging(verbose, None)
    nodes = len(stage.topology.node_specs())
    click.echo(f"Starting the embedded cluster ({stage.topology.name}: {nodes} nodes) and the operator...")
    failure: DemoError | None = None
    with _running(stage):
        click.echo(_operator_line(stage))
        demo = DisaggregatedDemo(stage, click.echo, step_timeout=step_timeout)
        try:
            demo.run()
        except DemoError as exc:
            failure = exc
        else:
            log = stage.operator.request_log
            for line in demo.summary(log.mark(), len(log.writes())):
                click.echo(line)
        if keep:
            _keep(stage, failed=failure is not None)
    if failure is not None:
        raise CliError(str(failure))


@contextlib.contextmanager
def _running(stage: Stage) -> Iterator[Stage]:
    try:
        stage.start()
    except StageError as exc:
        raise CliError(str(exc)) from None
    try:
        yield stage
    finally:
        stage.stop()


def _play(demo: Demo, narrator: Narrator, timeline: Callable[[], None]) -> DemoError | None:
    """Run the steps, then the groups' timeline and the end-of-run report; a step that fails is shown as
    it was left, with the timeline of what happened until then."""
    try:
        record = demo.run()
    except DemoError as exc:
        if isinstance(exc, StepFailed) and exc.view is not None:
            narrator.end(f"FAILED: {exc}", exc.view)
        narrator.close()
        timeline()
        return exc
    narrator.close()  # the summary goes below the table, not above a live one
    timeline()
    report(record, narrator.say)
    return None


def _operator_line(stage: Stage) -> str:
    operator = stage.operator.running_operator
    plugins = ", ".join(i.name for i in stage.hooks.infos if i.enabled) or "none"
    return (
        f"Operator ready: admission webhooks at {operator.webhook_url}, probes on "
        f"http://127.0.0.1:{operator.health_port}/readyz; plugins: {plugins}"
    )


def _keep(stage: Stage, *, failed: bool) -> None:
    """Tell how to reach the cluster, then wait for Ctrl-C (or SIGTERM) with everything running."""
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        left = " (as the failed step left them)" if failed else ""
        click.echo("")
        click.echo(f"The cluster and the operator keep running{left}. In another shell:")
        click.echo(f"  export KUBECONFIG={stage.kubeconfig}")
        click.echo("  kubectl get disaggregatedsets,leaderworkersets,pods -o wide")
        click.echo("Ctrl-C to stop.")
        sys.stdout.flush()
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Stopping.")


def _configure_logging(verbose: int, console: Console | None) -> None:
    """Warnings only, unless -v; on a live display, log lines go above the table instead of through it."""
    handler: logging.Handler
    if console is not None:
        handler = RichHandler(console=console, show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    # kopf warns that an operator off the main thread cannot take OS signals; this process handles them.
    logging.getLogger("kopf").setLevel(logging.DEBUG if verbose > 1 else logging.ERROR)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
