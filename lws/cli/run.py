"""``lws run``: the operator, against the cluster of a kubeconfig or the one it runs in.

Settings come from flags, then ``LWS_*`` environment variables (each flag names its own), then the
configuration file (upstream's ``Configuration``: ``namespace``, ``leaderElection``, ``webhook``,
``health``, ``internalCertManagement``), then upstream's defaults. Upstream's ``ENABLE_WEBHOOKS=false``
is honoured too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from lws import __version__
from lws.api.config import OperatorConfig
from lws.cli.options import CliError, load, plugin_options
from lws.cluster.kube import ConfigError, connect
from lws.cluster.tls import METRICS_CERT_DIR, CertificateFilesError
from lws.controller.context import Telemetry
from lws.controller.instrumentation import OperatorTelemetry, build_telemetry
from lws.controller.metrics_endpoint import MetricsEndpoint, MetricsOptions, MetricsStartError
from lws.controller.operator import Operator, OperatorStartError
from lws.controller.settings import OperatorSettings, default_identity
from lws.observability.metrics import LwsMetrics
from lws.observability.tracing import TracingConfigError, configure_tracing

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | float, *, where: str) -> float:
    """Seconds from a Go duration (``15s``, ``1m30s``, ``500ms``) or a plain number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    value = str(text).strip()
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise CliError(f"{where}: {text!r} is not a duration such as 15s, 1m30s or 500ms")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_bind_address(text: str, *, where: str) -> tuple[str | None, int | None]:
    """``":8081"`` -> (None, 8081); ``"127.0.0.1:0"`` -> any free port; ``"0"`` or ``""``: disabled.

    No host (``:8081``, upstream's default) means every interface in a pod and loopback outside one, so
    that ``lws run`` on a laptop does not serve its probes and metrics to the network; write
    ``0.0.0.0:8081`` to listen everywhere anyway.
    """
    if text in ("", "0"):
        return None, None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise CliError(f"{where}: {text!r} is not an address such as :8081 or 127.0.0.1:8081")
    return host or None, int(port)


@dataclass(frozen=True)
class Flags:
    """What the command line and its environment variables said (``None``: not given)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    operator_namespace: str | None = None
    leader_elect: bool | None = None
    lease_name: str | None = None
    lease_duration: str | None = None
    renew_deadline: str | None = None
    retry_period: str | None = None
    webhooks: bool | None = None
    disaggregatedset_webhook: bool | None = None
    webhook_port: int | None = None
    webhook_host: str | None = None
    webhook_url: str | None = None
    webhook_service: str | None = None
    internal_certs: bool | None = None
    webhook_cert_dir: str | None = None
    health_address: str | None = None
    workers: int | None = None
    identity: str | None = None


def resolve_settings(flags: Flags, config: OperatorConfig, env: Mapping[str, str]) -> OperatorSettings:
    """Flags (and their environment variables) over the configuration file over upstream's defaults."""
    if flags.namespaces and flags.all_namespaces:
        raise CliError("--namespace and --all-namespaces exclude each other: give one of them")
    election = config.section("leaderElection")
    webhook = config.section("webhook")
    health = config.section("health")
    certs = config.section("internalCertManagement")
    defaults = OperatorSettings(identity="-")

    def pick(flag: Any, section: Mapping[str, Any], key: str, default: Any) -> Any:
        if flag is not None:
            return flag
        return section.get(key, default) if section.get(key) is not None else default

    webhooks = flags.webhooks
    if webhooks is None and env.get("ENABLE_WEBHOOKS", "").lower() == "false":
        webhooks = False
    health_host, health_port = parse_bind_address(
        pick(flags.health_address, health, "healthProbeBindAddress", ":8081"),
        where="--health-probe-bind-address",
    )
    operator_namespace = (
        flags.operator_namespace or election.get("resourceNamespace") or config.raw.get("namespace")
    )
    return OperatorSettings(
        kubeconfig=flags.kubeconfig,
        context=flags.context,
        namespaces=tuple(flags.namespaces) if flags.namespaces else None,
        operator_namespace=str(operator_namespace) if operator_namespace else None,
        identity=flags.identity or default_identity(),
        workers=int(pick(flags.workers, {}, "", defaults.workers)),
        leader_elect=bool(pick(flags.leader_elect, election, "leaderElect", True)),
        lease_name=str(pick(flags.lease_name, election, "resourceName", defaults.lease_name)),
        lease_duration=parse_duration(
            pick(flags.lease_duration, election, "leaseDuration", defaults.lease_duration),
            where="lease duration",
        ),
        renew_deadline=parse_duration(
            pick(flags.renew_deadline, election, "renewDeadline", defaults.renew_deadline),
            where="renew deadline",
        ),
        retry_period=parse_duration(
            pick(flags.retry_period, election, "retryPeriod", defaults.retry_period), where="retry period"
        ),
        webhooks=bool(webhooks if webhooks is not None else True),
        disaggregatedset_webhook=bool(
            pick(flags.disaggregatedset_webhook, {}, "", defaults.disaggregatedset_webhook)
        ),
        webhook_port=pick(flags.webhook_port, webhook, "port", None),
        webhook_host=pick(flags.webhook_host, webhook, "host", None),
        webhook_url=flags.webhook_url,
        webhook_service=str(
            pick(flags.webhook_service, certs, "webhookServiceName", defaults.webhook_service)
        ),
        internal_certs=bool(pick(flags.internal_certs, certs, "enable", defaults.internal_certs)),
        webhook_cert_dir=str(pick(flags.webhook_cert_dir, webhook, "certDir", defaults.webhook_cert_dir)),
        health_host=health_host,
        health_port=health_port,
    )


@click.command(
    "run",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="""\b
Examples:
  KUBECONFIG=~/.kube/config lws run --all-namespaces
  lws run -n team-a -n team-b --no-leader-elect
  lws run --config /etc/lws/controller_manager_config.yaml      (in a pod)

\b
Exit status: 0 after a clean stop (SIGINT or SIGTERM), 1 when it cannot start or fails.""",
)
@click.option(
    "--kubeconfig", metavar="FILE", help="Kubeconfig to use (default: $KUBECONFIG, then in-cluster)."
)
@click.option("--context", metavar="NAME", help="Kubeconfig context to use (default: the current one).")
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    metavar="NS",
    help="Serve LeaderWorkerSets in this namespace only (repeatable). Default: all namespaces.",
)
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="Serve LeaderWorkerSets in every namespace (default)."
)
@click.option(
    "--operator-namespace",
    envvar="LWS_OPERATOR_NAMESPACE",
    metavar="NS",
    help="Namespace of the leader-election Lease and the webhook Service [env LWS_OPERATOR_NAMESPACE; "
    "default: the pod's namespace, else lws-system, else default].",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=None,
    envvar="LWS_LEADER_ELECT",
    help="Reconcile only while holding the Lease, so several replicas can run [env LWS_LEADER_ELECT; "
    "default: on].",
)
@click.option(
    "--leader-elect-resource-name",
    "lease_name",
    envvar="LWS_LEADER_ELECT_RESOURCE_NAME",
    metavar="NAME",
    help="Name of the Lease [default: b8b2488c.x-k8s.io, upstream's, so Go and Python never both lead].",
)
@click.option(
    "--leader-elect-lease-duration",
    "lease_duration",
    envvar="LWS_LEADER_ELECT_LEASE_DURATION",
    metavar="DURATION",
    help="How long a standby waits after the leader's last renewal before taking over [default: 15s].",
)
@click.option(
    "--leader-elect-renew-deadline",
    "renew_deadline",
    envvar="LWS_LEADER_ELECT_RENEW_DEADLINE",
    metavar="DURATION",
    help="How long the leader keeps trying to renew before it stops reconciling [default: 10s].",
)
@click.option(
    "--leader-elect-retry-period",
    "retry_period",
    envvar="LWS_LEADER_ELECT_RETRY_PERIOD",
    metavar="DURATION",
    help="Time between attempts to acquire or renew the Lease [default: 2s].",
)
@click.option(
    "--webhooks/--no-webhooks",
    default=None,
    envvar="LWS_WEBHOOKS",
    help="Serve and register the admission webhooks [env LWS_WEBHOOKS, or upstream's ENABLE_WEBHOOKS=false; "
    "default: on]. Without them, LeaderWorkerSets are not defaulted or validated and group pods get no "
    "LWS_* variables: use only where another installation serves them.",
)
@click.option(
    "--disaggregatedset-webhook/--no-disaggregatedset-webhook",
    default=None,
    envvar="LWS_DISAGGREGATEDSET_WEBHOOK",
    help="Register the DisaggregatedSet validating webhook (vdisaggregatedset.kb.io) with the others [env "
    "LWS_DISAGGREGATEDSET_WEBHOOK; default: on]. Off, as upstream's Helm chart with "
    "enableDisaggregatedSet=false: DisaggregatedSets are checked by their CRD's schema only (a partition or "
    "a bad rollout strategy is stored, not refused); they are still reconciled, and the path is still "
    "served. Without internal certificate management the installed configurations decide instead: lws "
    "manifests --no-disaggregatedset-webhook, or the Helm chart's enableDisaggregatedSet=false.",
)
@click.option(
    "--webhook-port",
    type=int,
    envvar="LWS_WEBHOOK_PORT",
    metavar="PORT",
    help="HTTPS port of the webhook server [env LWS_WEBHOOK_PORT; default: 9443 in a pod, any free port "
    "outside].",
)
@click.option(
    "--webhook-host",
    envvar="LWS_WEBHOOK_HOST",
    metavar="ADDR",
    help="Address the webhook server listens on [default: 0.0.0.0 in a pod, 127.0.0.1 outside].",
)
@click.option(
    "--webhook-url",
    envvar="LWS_WEBHOOK_URL",
    metavar="URL",
    help="Base URL the API server calls the webhooks at, e.g. https://10.0.0.5:9443 [default: the "
    "lws-webhook-service Service in a pod, https://127.0.0.1:<port> outside].",
)
@click.option(
    "--webhook-service",
    envvar="LWS_WEBHOOK_SERVICE",
    metavar="NAME",
    help="Service fronting the webhooks in a pod [default: lws-webhook-service].",
)
@click.option(
    "--internal-cert-management/--no-internal-cert-management",
    "internal_certs",
    default=None,
    envvar="LWS_INTERNAL_CERT_MANAGEMENT",
    help="Make the webhook certificate in memory and keep its CA in the webhook configurations [config "
    "internalCertManagement.enable; default: on]. Off: serve tls.crt/tls.key of --webhook-cert-dir (a "
    "cert-manager or OLM certificate, reloaded when it rotates) and leave the configurations' caBundle to "
    "whoever made it.",
)
@click.option(
    "--webhook-cert-dir",
    envvar="LWS_WEBHOOK_CERT_DIR",
    metavar="DIR",
    help="Where the mounted webhook certificate is, without internal certificate management [config "
    "webhook.certDir; default: /tmp/k8s-webhook-server/serving-certs].",
)
@click.option(
    "--health-probe-bind-address",
    "health_address",
    envvar="LWS_HEALTH_PROBE_BIND_ADDRESS",
    metavar="ADDR",
    help="Where /healthz and /readyz listen; 0 turns them off [default: :8081]. An address without a host "
    "listens on every interface in a pod and on 127.0.0.1 outside one. /readyz answers 200 once the caches "
    "are synced and the webhooks registered.",
)
@click.option(
    "--metrics-bind-address",
    "metrics_address",
    envvar="LWS_METRICS_BIND_ADDRESS",
    metavar="ADDR",
    help="Where /metrics (Prometheus text) listens; 0 turns it off [config metrics.bindAddress; "
    "default: :8443; without a host: every interface in a pod, 127.0.0.1 outside one]. Traces go where "
    "the OTEL_* variables say (OTEL_EXPORTER_OTLP_ENDPOINT); none by default.",
)
@click.option(
    "--metrics-secure/--no-metrics-secure",
    default=True,
    envvar="LWS_METRICS_SECURE",
    show_default=True,
    help="Serve /metrics over HTTPS to callers whose bearer token the API server authenticates "
    "(TokenReview) and authorizes for get /metrics (SubjectAccessReview), as upstream does. Off: plain "
    "HTTP, open to anyone who can connect (for clusters without TokenReviews, such as lws cluster up).",
)
@click.option(
    "--metrics-cert-dir",
    envvar="LWS_METRICS_CERT_DIR",
    metavar="DIR",
    default=METRICS_CERT_DIR,
    show_default=True,
    help="The metrics certificate (tls.crt, tls.key; reloaded when it rotates) when this directory holds "
    "one; otherwise a self-signed one is made at start.",
)
@click.option("--workers", type=int, envvar="LWS_WORKERS", help="Concurrent reconciles [default: 4].")
@click.option(
    "--identity",
    envvar="LWS_IDENTITY",
    help="This replica's name in the Lease and in events [default: <pod or host name>_<random>].",
)
@click.option("-v", "--verbose", count=True, help="More logging: -v debug for lws, -vv for kopf too.")
@plugin_options
def command(
    config_path: str | None,
    enable_plugins: tuple[str, ...],
    disable_plugins: tuple[str, ...],
    verbose: int,
    **options: Any,
) -> None:
    """Run the LeaderWorkerSet operator until SIGINT or SIGTERM.

    It reconciles LeaderWorkerSets into groups of pods (leader StatefulSet, worker StatefulSets, headless
    Services, revisions, status), serves the admission webhooks with certificates it makes itself, and
    registers them in lws-mutating-webhook-configuration and lws-validating-webhook-configuration.
    Outside a pod it serves them on 127.0.0.1 and removes those configurations again on a clean stop.
    Install the CRD first: kubectl apply -f crds/.
    """
    _configure_logging(verbose)
    metrics_address = options.pop("metrics_address")
    metrics_secure = bool(options.pop("metrics_secure"))
    metrics_cert_dir = str(options.pop("metrics_cert_dir"))
    config, hooks = load(config_path, enable_plugins, disable_plugins)
    settings = resolve_settings(Flags(**options), config, os.environ)
    metrics_host, metrics_port = parse_bind_address(
        metrics_address or config.section("metrics").get("bindAddress") or ":8443",
        where="--metrics-bind-address",
    )
    try:
        tracer_provider = configure_tracing(os.environ, service_version=__version__)
    except TracingConfigError as exc:
        raise CliError(str(exc)) from None
    registry = CollectorRegistry()
    telemetry = build_telemetry(
        metrics=LwsMetrics(registry) if metrics_port is not None else None,
        tracer_provider=tracer_provider,
        version=__version__,
    )
    operator = Operator(settings, hooks, connect=connect, telemetry=telemetry, handle_signals=True)
    metrics = (
        MetricsEndpoint(
            registry,
            MetricsOptions(
                host=metrics_host,
                port=metrics_port,
                secure=metrics_secure,
                cert_dir=metrics_cert_dir,
                cert_check_interval=settings.cert_check_interval,
            ),
        )
        if metrics_port is not None
        else None
    )
    try:
        asyncio.run(metrics.run(operator) if metrics is not None else operator.run())
    except (ConfigError, OperatorStartError, MetricsStartError, CertificateFilesError) as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        raise CliError(f"the operator failed: {type(exc).__name__}: {exc}") from exc
    finally:
        _flush(telemetry, tracer_provider)
    if operator.failure is not None:
        raise CliError(f"the operator stopped after a failure: {operator.failure}")


def _flush(telemetry: Telemetry, provider: TracerProvider | None) -> None:
    """End the lifecycles still open and send the spans still queued before the process exits."""
    if isinstance(telemetry, OperatorTelemetry):
        telemetry.shutdown()
    if provider is not None:
        provider.shutdown()


def _configure_logging(verbose: int) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kopf").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
