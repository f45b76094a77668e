"""``lws cluster``: run the embedded Kubernetes-compatible cluster and poke faults into a running one."""

from __future__ import annotations

import json
import signal
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click
import yaml

DEFAULT_KUBECONFIG = Path(".lws") / "kubeconfig"


@click.group("cluster")
def command() -> None:
    """Run the embedded Kubernetes-compatible cluster (plain HTTP on 127.0.0.1), and inject faults into it."""


@command.command("up")
@click.option(
    "--topology",
    "topology",
    metavar="FILE",
    default="standard",
    show_default=True,
    help=(
        "Nodes to create, as a topology file or a built-in topology name (tiny, standard, gpu-small, "
        "gpu-multilevel, gpu-large, tpu). The default runs every upstream LeaderWorkerSet sample: 16 nodes "
        "in 4 node pools, 8 GPUs and 4 TPU chips each, schedulers default-scheduler and volcano."
    ),
)
@click.option(
    "--port", type=int, default=0, show_default=True, help="TCP port to listen on; 0 picks a free one."
)
@click.option(
    "--kubeconfig",
    "kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_KUBECONFIG,
    show_default=True,
    help="Where to write a kubeconfig whose current context points at the cluster.",
)
def up(topology: str | None, port: int, kubeconfig: Path) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly (exit code 0).

    Once the server answers, the kubeconfig's absolute path is printed as the first line of stdout.
    """
    from lws.sim.runner import ClusterError, EmbeddedCluster
    from lws.sim.topology import TopologyError

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    try:
        cluster = EmbeddedCluster(port=port, topology=topology)
    except TopologyError as exc:
        raise click.BadParameter(str(exc), param_hint="--topology") from exc
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            cluster.start()
        except ClusterError as exc:
            raise click.ClickException(f"{exc} (is port {port} free?)" if port else str(exc)) from exc
        path = cluster.write_kubeconfig(kubeconfig)
        click.echo(str(path))
        click.echo(f"lws embedded cluster serving {cluster.url} (Ctrl-C to stop)", err=True)
        while not stop.wait(0.5):
            pass
    finally:
        cluster.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- fault subcommands -------------------------------------------------------------------------------

_KUBECONFIG_OPTION = click.option(
    "--kubeconfig",
    "kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_KUBECONFIG,
    show_default=True,
    help="Kubeconfig of the running embedded cluster (as written by `lws cluster up`).",
)


def _server(kubeconfig: Path) -> str:
    config = yaml.safe_load(kubeconfig.read_text()) or {}
    current = config.get("current-context")
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    try:
        return str(clusters[contexts[current]["cluster"]]["server"]).rstrip("/")
    except KeyError as exc:
        raise click.ClickException(
            f"{kubeconfig}: no server for current context {current!r} ({exc})"
        ) from exc


def _control(kubeconfig: Path, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = _server(kubeconfig) + path
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise click.ClickException(
            f"{method} {url}: {exc.code} {exc.read().decode(errors='replace')}"
        ) from exc
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach the embedded cluster at {url}: {exc.reason}") from exc


@command.group("fault")
def fault() -> None:
    """Inject API faults into a running embedded cluster."""


def _scope_options(function: Any) -> Any:
    function = click.option(
        "--verb", "verbs", multiple=True, help="Only these verbs (get, list, create...)."
    )(function)
    function = click.option(
        "--resource",
        "resources",
        multiple=True,
        help="Only these resources (pods, statefulsets.apps, pods/status).",
    )(function)
    function = click.option("--namespace", default=None, help="Only requests in this namespace.")(function)
    function = click.option(
        "--probability", type=float, default=1.0, show_default=True, help="Share of matching requests."
    )(function)
    return function


def _scope(
    times: int, verbs: tuple[str, ...], resources: tuple[str, ...], namespace: str | None, probability: float
) -> dict[str, Any]:
    """Which requests a fault rule applies to, and how many (0: all), as the control endpoint reads it."""
    return {
        "times": times or None,
        "verbs": list(verbs),
        "resources": list(resources),
        "namespace": namespace,
        "probability": probability,
    }


@fault.command("error")
@click.option(
    "--code", type=int, required=True, help="HTTP status to answer with (409, 422, 429, 500, 504...)."
)
@click.option(
    "--times", type=int, default=1, show_default=True, help="How many requests fail; 0 means always."
)
@click.option("--message", default=None, help="Status message.")
@_scope_options
@_KUBECONFIG_OPTION
def fault_error(
    code: int,
    times: int,
    message: str | None,
    verbs: tuple[str, ...],
    resources: tuple[str, ...],
    namespace: str | None,
    probability: float,
    kubeconfig: Path,
) -> None:
    """Make matching API requests fail with CODE."""
    body = {"code": code, "message": message, **_scope(times, verbs, resources, namespace, probability)}
    click.echo(json.dumps(_control(kubeconfig, "POST", "/sim/v1/faults/api/errors", body)))


@fault.command("latency")
@click.option("--seconds", type=float, required=True, help="Delay added to each matching request.")
@click.option("--times", type=int, default=0, show_default=True, help="How many requests; 0 means always.")
@_scope_options
@_KUBECONFIG_OPTION
def fault_latency(
    seconds: float,
    times: int,
    verbs: tuple[str, ...],
    resources: tuple[str, ...],
    namespace: str | None,
    probability: float,
    kubeconfig: Path,
) -> None:
    """Slow matching API requests down."""
    body = {"seconds": seconds, **_scope(times, verbs, resources, namespace, probability)}
    click.echo(json.dumps(_control(kubeconfig, "POST", "/sim/v1/faults/api/latency", body)))


@fault.command("list")
@_KUBECONFIG_OPTION
def fault_list(kubeconfig: Path) -> None:
    """Show the active API fault rules."""
    click.echo(json.dumps(_control(kubeconfig, "GET", "/sim/v1/faults/api"), indent=2))


@fault.command("clear")
@_KUBECONFIG_OPTION
def fault_clear(kubeconfig: Path) -> None:
    """Remove every API fault rule."""
    _control(kubeconfig, "DELETE", "/sim/v1/faults/api")


@command.command("drop-watches")
@_KUBECONFIG_OPTION
def drop_watches(kubeconfig: Path) -> None:
    """End every open watch stream (clients must resume)."""
    _control(kubeconfig, "POST", "/sim/v1/watches/drop")


@command.command("compact")
@click.option("--resource", default=None, help="Only this resource (pods, statefulsets.apps); default all.")
@_KUBECONFIG_OPTION
def compact(resource: str | None, kubeconfig: Path) -> None:
    """Forget watch history so resuming from an older resourceVersion answers 410 Gone."""
    _control(kubeconfig, "POST", "/sim/v1/compact", {"resource": resource})


# -- pod and node faults (lws.sim.faults, served by the running cluster) ------------------------------

_POD_NAMESPACE_OPTION = click.option(
    "--namespace", "-n", default="default", show_default=True, help="The pod's namespace."
)


@fault.command("restart-container")
@click.argument("pod")
@click.option("--container", "-c", default=None, help="Container to kill; default the pod's first.")
@click.option("--exit-code", type=int, default=137, show_default=True, help="Exit code it dies with.")
@_POD_NAMESPACE_OPTION
@_KUBECONFIG_OPTION
def restart_container(
    pod: str, container: str | None, exit_code: int, namespace: str, kubeconfig: Path
) -> None:
    """Kill a container of POD; its kubelet restarts it as the pod's restart policy says."""
    body = {"namespace": namespace, "pod": pod, "container": container, "exit_code": exit_code}
    click.echo(json.dumps(_control(kubeconfig, "POST", "/sim/v1/faults/pods/restart-container", body)))


@fault.command("crash-loop")
@click.argument("pod")
@click.option("--container", "-c", default=None, help="Container to crash; default the pod's first.")
@click.option("--off", is_flag=True, help="Stop crashing it.")
@_POD_NAMESPACE_OPTION
@_KUBECONFIG_OPTION
def crash_loop(pod: str, container: str | None, off: bool, namespace: str, kubeconfig: Path) -> None:
    """Make a container of POD exit shortly after every start (CrashLoopBackOff), or stop that."""
    body = {"namespace": namespace, "pod": pod, "container": container, "enabled": not off}
    click.echo(json.dumps(_control(kubeconfig, "POST", "/sim/v1/faults/pods/crash-loop", body)))


@fault.command("crash-pod")
@click.argument("pod")
@click.option("--reason", default="Error", show_default=True, help="Termination reason (OOMKilled...).")
@_POD_NAMESPACE_OPTION
@_KUBECONFIG_OPTION
def crash_pod(pod: str, reason: str, namespace: str, kubeconfig: Path) -> None:
    """Fail POD as a whole: every container terminated, phase Failed."""
    body = {"namespace": namespace, "pod": pod, "reason": reason}
    click.echo(json.dumps(_control(kubeconfig, "POST", "/sim/v1/faults/pods/crash", body)))


@fault.command("fail-node")
@click.argument("node")
@_KUBECONFIG_OPTION
def fail_node(node: str, kubeconfig: Path) -> None:
    """Stop NODE's kubelet: the node goes NotReady/unreachable and its pods fail."""
    click.echo(json.dumps(_control(kubeconfig, "POST", "/sim/v1/faults/nodes/fail", {"node": node})))


@fault.command("recover-node")
@click.argument("node")
@_KUBECONFIG_OPTION
def recover_node(node: str, kubeconfig: Path) -> None:
    """Bring a failed NODE back."""
    click.echo(json.dumps(_control(kubeconfig, "POST", "/sim/v1/faults/nodes/recover", {"node": node})))
