"""Tracing and metrics for the operator: built once by the entry point, injected, never set up at import.

``tracing`` (the SDK from ``OTEL_*``), ``metrics`` (``LwsMetrics`` and ``/metrics``), ``attributes`` (span
attribute names), ``records`` (spans recorded as data), ``telemetry`` (the operator's telemetry seam, wiring
the jobs below), ``reconciles`` (a reconcile and the decisions it reported), ``api_calls``,
``plugin_calls``, ``admission`` (their spans and metrics), ``lifecycle`` (when a group's story begins and
ends, pure) and ``group_lifecycles`` (those stories as spans and histograms), ``failures`` (restart
decisions and detection time), ``timeline`` and ``otlp_json`` (reading and writing finished spans). See
``docs/observability.md``.
"""
