"""Tracing and metrics for the operator: built once by the entry point, injected, never set up at import.

``tracing`` (the SDK from ``OTEL_*``), ``metrics`` (``LwsMetrics`` and ``/metrics``), ``attributes`` (span
attribute names), ``lifecycle`` (when a group's story begins and ends), ``records`` (spans recorded as
data), ``telemetry`` (the operator's telemetry seam), ``hooks`` (plugin decisions reported), ``timeline``
and ``otlp_json`` (reading and writing finished spans). See ``docs/observability.md``.
"""
