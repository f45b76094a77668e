"""``configure_tracing``: off unless the ``OTEL_*`` variables ask; OTLP over HTTP to a collector, or the
console; clear errors for what it cannot do."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from obs_kit import Collector

from lws.observability.tracing import TracingConfigError, configure_tracing


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as receiver:
        yield receiver


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
    ],
    ids=["nothing set", "exporter none", "sdk disabled"],
)
def test_tracing_is_off_unless_asked_for(env: dict[str, str]) -> None:
    assert configure_tracing(env, service_version="1.2.3") is None


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_an_otlp_endpoint_sends_spans_to_the_collector_over_http(collector: Collector, variable: str) -> None:
    endpoint = collector.url if variable == "OTEL_EXPORTER_OTLP_ENDPOINT" else f"{collector.url}/v1/traces"
    provider = configure_tracing({variable: endpoint}, service_version="1.2.3")
    assert provider is not None
    with provider.get_tracer("test").start_as_current_span("reconcile LeaderWorkerSet"):
        pass
    provider.shutdown()  # flushes the batch
    assert collector.received.wait(10)
    assert [path for path, _ in collector.requests] == ["/v1/traces"]
    assert collector.span_names() == ["reconcile LeaderWorkerSet"]
    resource = collector.resource()
    assert resource["service.name"] == "lws-operator" and resource["service.version"] == "1.2.3"


def test_the_service_name_can_be_set(collector: Collector) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "lws-staging"}
    provider = configure_tracing(env, service_version="1.2.3")
    assert provider is not None
    provider.get_tracer("test").start_span("reconcile group").end()
    provider.shutdown()
    assert collector.received.wait(10)
    assert collector.resource()["service.name"] == "lws-staging"


def test_the_console_exporter_prints_spans() -> None:
    out = io.StringIO()
    provider = configure_tracing({"OTEL_TRACES_EXPORTER": "console"}, service_version="1.2.3", console=out)
    assert provider is not None
    provider.get_tracer("test").start_span("recreate group").end()
    provider.shutdown()
    assert '"name": "recreate group"' in out.getvalue()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "unknown exporter zipkin"),
        ({"OTEL_TRACES_EXPORTER": "none,console"}, "combines 'none' with other exporters"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
    ],
)
def test_what_cannot_be_done_is_refused_with_the_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(TracingConfigError, match=message):
        configure_tracing(env, service_version="1.2.3")
