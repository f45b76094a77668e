"""The OpenTelemetry SDK, set up once by the entry point from the standard ``OTEL_*`` variables.

Nothing here runs at import. ``lws run`` calls :func:`configure_tracing` and hands the provider to the
operator's telemetry; nothing sets the global tracer provider, so embedding the operator (tests, ``lws
demo``) never fights over it. The rules, in order:

* ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``: no tracing;
* ``OTEL_TRACES_EXPORTER`` names the exporters (``otlp``, ``console``, comma-separated);
* unset, an OTLP endpoint (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``)
  means ``otlp``; no endpoint means no tracing: off by default, and then it costs nothing.

OTLP goes over HTTP/protobuf (the exporter this package depends on); its headers, timeout, compression and
certificate come from the exporter's own ``OTEL_EXPORTER_OTLP_*`` variables. The resource is
``service.name=lws-operator`` (unless ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` say otherwise)
and ``service.version``; sampling follows ``OTEL_TRACES_SAMPLER``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SERVICE: str = "lws-operator"
_EXPORTERS = ("otlp", "console", "none")
_HTTP_PROTOCOLS = ("", "http/protobuf")


class TracingConfigError(ValueError):
    """The ``OTEL_*`` variables ask for something this operator cannot do; the message says what to set."""


def configure_tracing(
    env: Mapping[str, str], *, service_version: str, console: TextIO | None = None
) -> TracerProvider | None:
    """A tracer provider exporting as the environment asks, or ``None`` when tracing is off.

    :param env: the process environment (``os.environ``), or a stand-in in tests.
    :param service_version: the operator's version, for the ``service.version`` resource attribute.
    :param console: where the console exporter writes (default: standard output).
    :raises TracingConfigError: for an unknown exporter or an OTLP protocol other than HTTP/protobuf.
    """
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporters = _exporters(env)
    if not exporters or exporters == ["none"]:
        return None
    if "none" in exporters:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={env.get('OTEL_TRACES_EXPORTER')!r} combines 'none' with other exporters: "
            "give either none or a list of otlp and console"
        )
    provider = TracerProvider(resource=_resource(env, service_version))
    for name in exporters:
        exporter: SpanExporter
        if name == "otlp":
            exporter = _otlp_exporter(env)
        else:
            exporter = ConsoleSpanExporter(out=console) if console is not None else ConsoleSpanExporter()
        # Batching keeps export (network, formatting) off the operator's event loop.
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def in_memory_tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A provider that keeps every finished span in memory, synchronously (tests, ``lws demo``)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: SERVICE}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _exporters(env: Mapping[str, str]) -> list[str]:
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip()
    if not raw:
        has_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if has_endpoint else []
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = [name for name in names if name not in _EXPORTERS]
    if unknown:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={raw!r}: unknown exporter {', '.join(unknown)}; this operator ships "
            f"{', '.join(_EXPORTERS)} (OTLP over HTTP/protobuf)"
        )
    return list(dict.fromkeys(names))


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip()
    if protocol not in _HTTP_PROTOCOLS:
        raise TracingConfigError(
            f"OTLP protocol {protocol!r} is not supported: this operator exports OTLP over HTTP/protobuf; "
            "set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and point OTEL_EXPORTER_OTLP_ENDPOINT at the "
            "collector's HTTP port (4318)"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not endpoint and env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        # The signal-neutral endpoint is a base URL; the traces path is appended (OTLP exporter spec).
        endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()


def _resource(env: Mapping[str, str], version: str) -> Resource:
    attributes: dict[str, str] = {SERVICE_VERSION: version}
    if env.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = env["OTEL_SERVICE_NAME"]
    elif "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes[SERVICE_NAME] = SERVICE
    # Other OTEL_RESOURCE_ATTRIBUTES (the pod's name and namespace, through the downward API) are merged
    # in by the SDK's environment detector.
    return Resource.create(attributes)
